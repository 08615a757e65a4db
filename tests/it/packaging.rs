//! What a packager takes from the binary and the repository: `--version` with its commit
//! and build date.

use std::process::{Command, Output};

use crate::binary::run;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The checkout's HEAD as `build.rs` names it, or `unknown` without git or a checkout.
fn head_commit() -> String {
    Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map_or("unknown".into(), |out| stdout(&out).trim().to_string())
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--version"]);
    assert!(out.status.success());
    let line = stdout(&out);
    let prefix = format!(
        "bookchat {} (commit {}, built ",
        env!("CARGO_PKG_VERSION"),
        head_commit()
    );
    let date = line
        .trim()
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap_or_else(|e| panic!("build date {date:?}: {e}"));
    let tomorrow = chrono::Utc::now().date_naive().succ_opt().unwrap();
    assert!(date <= tomorrow, "built in the future: {date}");
}
