//! `GET /api/health`: 200 while the store answers, 503 when it does not (a closed
//! writer, an unreachable PostgreSQL); it recovers by itself when the store does.

use hyper::StatusCode;
use serde_json::json;

use crate::http::{json, ApiError, Request, Response};
use crate::state::AppState;

pub async fn check(state: &AppState, _req: Request) -> Result<Response, ApiError> {
    // One index lookup, whatever the size of the table: proves the store answers without
    // the full scan a count(*) would make.
    state.store.ping().await?;
    Ok(json(StatusCode::OK, &json!({ "status": "ok" })))
}
