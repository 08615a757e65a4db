//! Log set-up: env_logger under `RUST_LOG` (info by default), as readable text or as one JSON
//! object per line for log collectors.

use std::io::Write;

use crate::cli::LogFormat;

/// Installs the logger once; later calls (tests start many servers) are no-ops.
pub fn init(format: LogFormat) {
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
    let _ = builder.try_init();
}
