//! `GET /api/stats`: what the server is doing, for people and monitoring.

use hyper::StatusCode;
use serde::Serialize;

use crate::http::{json, ApiError, Request, Response};
use crate::state::AppState;
use crate::sync::SyncStatus;

#[derive(Serialize)]
struct Stats {
    version: &'static str,
    uptime_seconds: u64,
    messages: MessageCounts,
    sync: SyncStatus,
}

#[derive(Serialize)]
struct MessageCounts {
    total: i64,
    synced: i64,
    pending: i64,
}

pub async fn show(state: &AppState, _req: Request) -> Result<Response, ApiError> {
    let (total, pending) = state
        .db
        .read(|conn| {
            // The partial index on unsynced rows keeps the pending count cheap.
            let pending: i64 =
                conn.query_row("SELECT count(*) FROM messages WHERE synced = 0", [], |r| {
                    r.get(0)
                })?;
            let total: i64 = conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
            Ok((total, pending))
        })
        .await?;
    let stats = Stats {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        messages: MessageCounts {
            total,
            synced: total - pending,
            pending,
        },
        sync: state.sync.status(),
    };
    Ok(json(StatusCode::OK, &stats))
}
