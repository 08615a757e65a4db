//! `GET /metrics`: the figures of `/api/stats` in the Prometheus text exposition format
//! (version 0.0.4), so BookChat plugs into the monitoring people already run.

use std::fmt::Write;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;

use super::stats::{gather, Figures};
use crate::http::{full, ApiError, Request, Response};
use crate::metrics::LATENCY_BOUNDS;
use crate::state::AppState;

const PROMETHEUS_TEXT: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");

pub async fn show(state: &AppState, _req: Request) -> Result<Response, ApiError> {
    let text = render(&gather(state).await?);
    let mut response = Response::new(full(text));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(CONTENT_TYPE, PROMETHEUS_TEXT);
    Ok(response)
}

/// Writes one metric family: HELP, TYPE, then its samples.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn label(key: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{{{key}=\"{escaped}\"}}")
}

fn timestamp(rfc3339: Option<&str>) -> f64 {
    rfc3339
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0)
}

pub fn render(f: &Figures) -> String {
    let mut out = String::with_capacity(4096);
    let classes = f
        .requests
        .by_status
        .iter()
        .map(|(k, v)| (label("class", k), *v as f64));
    let routes = f
        .requests
        .by_route
        .iter()
        .map(|(k, v)| (label("route", k), *v as f64));
    family(
        &mut out,
        "bookchat_http_requests_total",
        "counter",
        "HTTP requests answered, by status class.",
        &classes.collect::<Vec<_>>(),
    );
    family(
        &mut out,
        "bookchat_http_route_requests_total",
        "counter",
        "HTTP requests answered, by route.",
        &routes.collect::<Vec<_>>(),
    );
    latency(&mut out, f);
    for (name, kind, help, value) in plain(f) {
        family(&mut out, name, kind, help, &[(String::new(), value)]);
    }
    out
}

/// The families with a single unlabelled sample: name, type, help, value. A table, so
/// kept one family a line.
#[rustfmt::skip]
fn plain(f: &Figures) -> Vec<(&'static str, &'static str, &'static str, f64)> {
    let s = &f.sync;
    let b = &f.backups;
    let flag = |on: bool| f64::from(u8::from(on));
    let healthy = s.enabled && matches!(s.state, "idle" | "syncing" | "pacing");
    let mut all = vec![
        ("bookchat_uptime_seconds", "gauge", "Seconds since the server started.", f.uptime_seconds as f64),
        ("bookchat_http_connections_open", "gauge", "Connections open now.", f.connections.open as f64),
        ("bookchat_http_connections_total", "counter", "Connections accepted.", f.connections.total as f64),
        ("bookchat_http_connections_shed_total", "counter", "Connections turned away at the cap.", f.connections.shed as f64),
        ("bookchat_event_streams_open", "gauge", "Open /api/events streams.", f.connections.event_streams as f64),
        ("bookchat_messages_total", "counter", "Messages stored.", f.messages.total as f64),
        ("bookchat_messages_pending_sync", "gauge", "Messages not yet committed to GitHub.", f.messages.pending as f64),
        ("bookchat_sync_enabled", "gauge", "1 when GitHub sync is configured.", flag(s.enabled)),
        ("bookchat_sync_healthy", "gauge", "1 when sync is on and its last attempt succeeded.", flag(healthy)),
        ("bookchat_sync_messages_total", "counter", "Messages committed to GitHub by this process.", s.messages_synced as f64),
        ("bookchat_sync_commits_total", "counter", "Commits made on GitHub by this process.", s.commits as f64),
        ("bookchat_sync_requests_total", "counter", "Requests sent to the GitHub API by this process.", s.requests as f64),
        ("bookchat_sync_not_modified_total", "counter", "Conditional GitHub requests answered 304 (free of quota).", s.not_modified as f64),
        ("bookchat_sync_writes_last_minute", "gauge", "Content-creating GitHub requests in the sliding minute.", s.budget.used_minute as f64),
        ("bookchat_sync_writes_left_minute", "gauge", "Content-creating requests the budget still allows this minute.", s.budget.left_minute as f64),
        ("bookchat_sync_writes_last_hour", "gauge", "Content-creating GitHub requests in the sliding hour.", s.budget.used_hour as f64),
        ("bookchat_sync_writes_left_hour", "gauge", "Content-creating requests the budget still allows this hour.", s.budget.left_hour as f64),
        ("bookchat_sync_last_batch_files", "gauge", "Files in the last commit (messages, removals, pages).", s.last_batch_files as f64),
        ("bookchat_sync_files_per_commit", "gauge", "Average files per commit since start.", s.files_per_commit),
        ("bookchat_sync_lag_seconds", "gauge", "Age of the oldest message waiting for GitHub (0: none).", s.lag_seconds.unwrap_or(0.0)),
        ("bookchat_sync_last_success_timestamp_seconds", "gauge", "When sync last succeeded (0: never).", timestamp(s.last_success_at.as_deref())),
        ("bookchat_backup_enabled", "gauge", "1 when automatic backups are on.", flag(b.enabled)),
        ("bookchat_backup_last_timestamp_seconds", "gauge", "Time of the newest verified automatic backup (0: none).", timestamp(b.last_at.as_deref())),
        ("bookchat_backup_last_verified", "gauge", "1 when the latest automatic backup attempt was verified.", flag(b.last_verified == Some(true))),
        ("bookchat_backups_made_total", "counter", "Verified automatic backups made by this process.", b.made as f64),
        ("bookchat_backups_failed_total", "counter", "Automatic backups that failed or did not verify.", b.failed as f64),
        ("bookchat_database_bytes", "gauge", "Size of the database: the SQLite file, or the PostgreSQL database.", f.database.bytes as f64),
        ("bookchat_database_wal_bytes", "gauge", "Size of the write-ahead log.", f.database.wal_bytes as f64),
    ];
    if let Some(tls) = &f.tls {
        all.push(("bookchat_tls_certificate_expiry_timestamp_seconds", "gauge", "When the served TLS certificate expires (0: none yet).", timestamp(tls.certificate_expires_at.as_deref())));
    }
    if let Some(p) = &f.process {
        all.extend([
            ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_bytes as f64),
            ("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.", p.cpu_seconds),
            ("process_threads", "gauge", "Operating system threads.", p.threads as f64),
        ]);
    }
    all
}

fn latency(out: &mut String, f: &Figures) {
    let name = "bookchat_http_request_duration_seconds";
    let _ = writeln!(out, "# HELP {name} Time from request to response head.");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let buckets = &f.snapshot.latency_buckets;
    for (bound, count) in LATENCY_BOUNDS.iter().zip(buckets) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let total = buckets.last().copied().unwrap_or(0);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum {}", f.snapshot.latency_sum_seconds);
    let _ = writeln!(out, "{name}_count {total}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("route", "/a\"b\\c"), "{route=\"/a\\\"b\\\\c\"}");
    }

    #[test]
    #[allow(clippy::float_cmp, reason = "the values are exact binary fractions")]
    fn timestamps_parse_or_are_zero() {
        assert_eq!(timestamp(Some("1970-01-01T00:00:01.500Z")), 1.5);
        assert_eq!(timestamp(None), 0.0);
        assert_eq!(timestamp(Some("nonsense")), 0.0);
    }
}
