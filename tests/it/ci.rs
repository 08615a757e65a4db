//! Whether the tests run in CI, where a test that lacks its tool or input must fail rather
//! than skip: a green CI run has then really run it.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Mutex;

/// `CI=true` (or `1`), as `.ci/run` and most CI services set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Outside CI, prints one skip line for `test` (once, however many tests share the
/// reason) and returns; in CI, fails with `why`.
pub fn skip(test: &str, why: &str) {
    static SAID: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    assert!(!in_ci(), "CI must run {test}: {why}");
    let line = format!("skipping {test}: {why}");
    let mut said = SAID
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if said.insert(line.clone()) {
        // Straight to the process's stderr, past the harness's capture, so a plain
        // `cargo test` shows it.
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}
