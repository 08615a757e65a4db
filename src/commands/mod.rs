//! One module per subcommand, each with a `run` that `main` dispatches to.

pub mod backup;
pub mod completions;
#[cfg(test)]
mod drift_tests;
pub mod import;
pub mod man;
pub mod restore;
pub mod serve;
pub mod stats;

/// A size as people read it: `512 B`, `4.1 kB`, `1.2 MB` (powers of 1000, like `ls -h --si`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1 message`, `3 messages`.
pub fn messages(count: i64) -> String {
    match count {
        1 => "1 message".into(),
        n => format!("{n} messages"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1.0 kB");
        assert_eq!(human_bytes(4096), "4.1 kB");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        assert_eq!(human_bytes(999_999), "1.0 MB");
        assert_eq!(human_bytes(3_000_000_000_000_000), "3000.0 TB");
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(messages(1), "1 message");
        assert_eq!(messages(0), "0 messages");
        assert_eq!(messages(3456), "3456 messages");
    }
}
