//! Log set-up: `env_logger` under `RUST_LOG` (info by default), as readable text or as one JSON
//! object per line for log collectors, behind a guard that keeps the GitHub token out.

use std::io::Write;

use log::kv::{self, Key, Value, VisitSource};
use log::{Level, Log, Metadata, Record};

use crate::cli::LogFormat;
use crate::secret::Secret;

/// Installs the logger once; later calls (tests start many servers) are no-ops.
pub fn init(format: LogFormat, secret: Option<Secret>) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    match format {
        LogFormat::Json => {
            builder.format(|out, record| writeln!(out, "{}", json_line(record)));
        }
        // The message already says what the key-values hold; don't print them twice.
        LogFormat::Text => {
            builder.format_key_values(env_logger::fmt::hidden_kv_format);
        }
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

/// One log record as one JSON object: time, level, target, message, and any structured
/// key-values (the access log's method, path, status, `duration_ms`, client, `request_id`).
fn json_line(record: &Record<'_>) -> serde_json::Value {
    let mut line = serde_json::Map::new();
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    line.insert("time".into(), time.into());
    line.insert("level".into(), record.level().as_str().into());
    line.insert("target".into(), record.target().into());
    line.insert("message".into(), record.args().to_string().into());
    let mut fields = Fields(&mut line);
    let _ = record.key_values().visit(&mut fields);
    serde_json::Value::Object(line)
}

struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        let json = if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(n) = value.to_i64() {
            n.into()
        } else if let Some(x) = value.to_f64() {
            x.into()
        } else if let Some(b) = value.to_bool() {
            b.into()
        } else {
            value.to_string().into()
        };
        self.0.insert(key.as_str().to_owned(), json);
        Ok(())
    }
}

/// Wraps `env_logger` with two rules that hold whatever `RUST_LOG` says: the HTTP client's
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
                    .key_values(record.key_values())
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
    fn json_lines_carry_structured_fields() {
        let fields: &[(&str, Value<'_>)] = &[
            ("method", Value::from("GET")),
            ("status", Value::from(200u16)),
            ("duration_ms", Value::from(1.5f64)),
        ];
        let record = Record::builder()
            .args(format_args!("GET / 200"))
            .level(Level::Info)
            .target("bookchat::access")
            .key_values(&fields)
            .build();
        let line = json_line(&record);
        assert_eq!(line["message"], "GET / 200");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], "bookchat::access");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["status"], 200);
        assert_eq!(line["duration_ms"], 1.5);
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
    }

    /// A `Write` into shared memory, to read what the logger wrote.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_quoting_the_token_is_redacted_and_client_detail_dropped() {
        let out = Captured::default();
        let inner = env_logger::Builder::new()
            .filter_level(log::LevelFilter::Trace)
            .target(env_logger::Target::Pipe(Box::new(out.clone())))
            .build();
        let logger = Guarded {
            inner,
            secret: Some(Secret::new("ghp_abc123")),
        };
        let record = |target, level, text: &str| {
            logger.log(
                &Record::builder()
                    .args(format_args!("{text}"))
                    .level(level)
                    .target(target)
                    .build(),
            );
        };
        record(
            "bookchat::sync",
            Level::Warn,
            "GitHub said ghp_abc123 is bad",
        );
        record("bookchat::access", Level::Info, "GET / 200");
        record(
            "ureq_proto::util",
            Level::Trace,
            "authorization: token ghp_abc123",
        );
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(!written.contains("ghp_abc123"), "{written}");
        assert!(
            written.contains("GitHub said [redacted] is bad"),
            "{written}"
        );
        assert!(written.contains("GET / 200"), "{written}");
        assert!(!written.contains("authorization"), "{written}");
    }

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
