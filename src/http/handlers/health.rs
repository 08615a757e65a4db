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
            // One index lookup, whatever the size of the table: proves the file and the
            // table answer without the full scan a count(*) would make.
            conn.query_row("SELECT max(id) FROM messages", [], |row| {
                row.get::<_, Option<i64>>(0)
            })
        })
        .await?;
    Ok(json(StatusCode::OK, &json!({ "status": "ok" })))
}
