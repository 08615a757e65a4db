//! Log set-up: env_logger under `RUST_LOG` (info by default), as readable text or as one JSON
//! object per line for log collectors, behind a guard that keeps the GitHub token out.

use std::io::Write;

use log::{Level, Log, Metadata, Record};

use crate::cli::LogFormat;
use crate::secret::Secret;

/// Installs the logger once; later calls (tests start many servers) are no-ops.
pub fn init(format: LogFormat, secret: Option<Secret>) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|out, record| {
            let line = serde_json::json!({
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "level": record.level().as_str(),
                "target": record.target(),
                "message": record.args().to_string(),
            });
            writeln!(out, "{line}")
        });
    }
    let inner = builder.build();
    let max = inner.filter();
    let guarded = Guarded {
        inner,
        secret: secret.filter(|s| !s.expose().is_empty()),
    };
    if log::set_boxed_logger(Box::new(guarded)).is_ok() {
        log::set_max_level(max);
    }
}

/// Wraps env_logger with two rules that hold whatever `RUST_LOG` says: the HTTP client's
/// and TLS library's debug and trace output is dropped (at trace ureq hex-dumps requests,
/// `Authorization` header included), and any line that still quotes the token is redacted.
struct Guarded {
    inner: env_logger::Logger,
    secret: Option<Secret>,
}

fn too_revealing(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    metadata.level() > Level::Info && (target.starts_with("ureq") || target.starts_with("rustls"))
}

impl Log for Guarded {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        !too_revealing(metadata) && self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Some(secret) = &self.secret else {
            return self.inner.log(record);
        };
        let text = record.args().to_string();
        if text.contains(secret.expose()) {
            let clean = secret.redact(&text);
            self.inner.log(
                &Record::builder()
                    .args(format_args!("{clean}"))
                    .metadata(record.metadata().clone())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        } else {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_library_detail_is_never_enabled() {
        let meta = |target, level| Metadata::builder().target(target).level(level).build();
        assert!(too_revealing(&meta("ureq_proto::util", Level::Trace)));
        assert!(too_revealing(&meta("ureq::run", Level::Debug)));
        assert!(too_revealing(&meta("rustls::client", Level::Debug)));
        assert!(!too_revealing(&meta("ureq::run", Level::Warn)));
        assert!(!too_revealing(&meta("bookchat::sync", Level::Trace)));
    }
}
