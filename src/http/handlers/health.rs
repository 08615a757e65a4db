//! `GET /api/health`: 200 while the database answers, 503 when it does not.

use hyper::StatusCode;
use serde_json::json;

use crate::db::DbError;
use crate::http::{json, ApiError, Request, Response};
use crate::state::AppState;

pub async fn check(state: &AppState, _req: Request) -> Result<Response, ApiError> {
    if !state.db.is_writable() {
        return Err(ApiError::Unavailable(DbError::Closed));
    }
    state
        .db
        .read(|conn| {
            conn.query_row("SELECT count(*) FROM messages", [], |row| {
                row.get::<_, i64>(0)
            })
        })
        .await?;
    Ok(json(StatusCode::OK, &json!({ "status": "ok" })))
}
