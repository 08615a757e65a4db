//! This process's resident memory and CPU time, read from `/proc` (Linux); `None` elsewhere.

use serde::Serialize;

/// Clock ticks per second in `/proc/<pid>/stat`. The kernel exports `USER_HZ`, which is 100
/// on every architecture Linux runs on; reading it would need `sysconf` (unsafe FFI).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub cpu_seconds: f64,
    pub threads: u64,
}

pub fn current() -> Option<ProcessStats> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse(&status, &stat)
}

fn parse(status: &str, stat: &str) -> Option<ProcessStats> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ProcessStats {
        resident_bytes: field("VmRSS:")? * 1024,
        cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
        threads: field("Threads:").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let status = "Name:\tbookchat\nVmRSS:\t   10240 kB\nThreads:\t7\n";
        let stat = "4242 (book chat (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0";
        let parsed = parse(status, stat).unwrap();
        assert_eq!(parsed.resident_bytes, 10 * 1024 * 1024);
        assert!((parsed.cpu_seconds - 3.0).abs() < 1e-9);
        assert_eq!(parsed.threads, 7);
        assert_eq!(parse("", stat), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let stats = current().expect("/proc is readable");
        assert!(stats.resident_bytes > 1024 * 1024);
        assert!(stats.threads >= 1);
    }
}
