//! `GET /api/stats`: what the server is doing, gathered once for both the JSON answer and
//! the Prometheus text of `/metrics`. Its cost does not grow with the history: the message
//! counts are counters kept in memory (see `Live`), then one read transaction of two
//! single index lookups (newest message, oldest pending), a `stat` of the database files
//! and two small reads of `/proc`. Neither route is rate limited, so this must stay cheap.

use std::collections::BTreeMap;

use hyper::StatusCode;
use serde::Serialize;

use crate::backup::BackupStatus;
use crate::db::queries::Counts;
use crate::http::{json, ApiError, Request, Response};
use crate::metrics::Snapshot;
use crate::process::{self, ProcessStats};
use crate::state::AppState;
use crate::sync::SyncStatus;
use crate::tls::Certs;

#[derive(Debug, Serialize)]
pub struct Figures {
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub requests: Requests,
    pub latency_ms: Latency,
    pub connections: Connections,
    pub messages: Counts,
    pub sync: SyncStatus,
    pub backups: BackupStatus,
    pub process: Option<ProcessStats>,
    pub database: DatabaseSize,
    /// `None` when the server speaks plain HTTP.
    pub tls: Option<TlsStatus>,
    /// Kept for `/metrics`, which renders the whole histogram.
    #[serde(skip)]
    pub snapshot: Snapshot,
}

#[derive(Debug, Serialize)]
pub struct Requests {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_route: BTreeMap<&'static str, u64>,
}

/// Since start, estimated from the fixed histogram (bucket interpolation).
#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Connections {
    pub open: u64,
    pub total: u64,
    pub shed: u64,
    /// Open `/api/events` streams (each also an open connection).
    pub event_streams: u64,
}

/// The served certificate: when it expires, so a renewal that keeps failing is seen
/// before browsers refuse the site.
#[derive(Debug, Serialize)]
pub struct TlsStatus {
    /// RFC 3339; `None` while there is no certificate yet (ACME's first order).
    pub certificate_expires_at: Option<String>,
    pub certificate_days_left: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct DatabaseSize {
    pub bytes: u64,
    pub wal_bytes: u64,
}

pub async fn show(state: &AppState, _req: Request) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &gather(state).await?))
}

pub async fn gather(state: &AppState) -> Result<Figures, ApiError> {
    let (newest_at, oldest_pending_at) = state.store.times().await?;
    // After the lookups: a message committed between the two is then counted, never a
    // newest time shown for a message the total does not yet include.
    let (total, pending) = state.store.live().counts();
    let counts = Counts {
        total,
        synced: total - pending,
        pending,
        newest_at,
        oldest_pending_at,
    };
    let snapshot = state.metrics.snapshot();
    let ms = |q: f64| snapshot.quantile(q).map(|s| round3(s * 1000.0));
    let count = snapshot.requests_total;
    let (bytes, wal_bytes) = state.store.size(&state.config.db_path()).await?;
    let mut sync = state.sync.status();
    if sync.enabled {
        sync.derive(counts.oldest_pending_at.as_deref(), chrono::Utc::now());
    }
    Ok(Figures {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        requests: Requests {
            total: count,
            by_status: snapshot.by_status.iter().cloned().collect(),
            by_route: snapshot.by_route.iter().copied().collect(),
        },
        latency_ms: Latency {
            p50: ms(0.50),
            p95: ms(0.95),
            p99: ms(0.99),
            mean: (count > 0).then(|| round3(snapshot.latency_sum_seconds * 1000.0 / count as f64)),
        },
        connections: Connections {
            open: snapshot.open_connections,
            total: snapshot.connections_total,
            shed: snapshot.connections_shed,
            event_streams: state.store.live().open_streams() as u64,
        },
        messages: counts,
        sync,
        backups: state.backups.status(),
        process: process::current(),
        database: DatabaseSize { bytes, wal_bytes },
        tls: state.certs.as_deref().map(tls_status),
        snapshot,
    })
}

fn tls_status(certs: &Certs) -> TlsStatus {
    let expires = certs.expires().map(chrono::DateTime::<chrono::Utc>::from);
    let days_left = expires.map(|at| {
        let seconds = (at - chrono::Utc::now()).num_seconds() as f64;
        (seconds / 864.0).round() / 100.0
    });
    TlsStatus {
        certificate_expires_at: expires
            .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        certificate_days_left: days_left,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
