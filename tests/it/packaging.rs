//! What a packager takes from the binary: `--version` with its commit and build date, and
//! the completions and the man page as the binary prints them.

use std::io::Write as _;
use std::process::{Command, Output};

use crate::binary::run;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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

#[test]
fn completions_are_printed_for_bash_zsh_and_fish_only() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _bookchat"),
        ("zsh", "#compdef bookchat"),
        ("fish", "complete -c bookchat"),
    ] {
        let out = run(dir.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains(marker), "{shell}: {}", stdout(&out));
    }
    // bash itself accepts the script and registers the completion.
    let script = stdout(&run(dir.path(), &["completions", "bash"]));
    let bash = Command::new("bash")
        .args([
            "-c",
            r#"eval "$1" && complete -p bookchat"#,
            "bash",
            &script,
        ])
        .output()
        .expect("run bash");
    assert!(
        stdout(&bash).contains("-F _bookchat") && bash.stderr.is_empty(),
        "{}{}",
        stdout(&bash),
        stderr(&bash)
    );

    let out = run(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("bookchat: invalid value 'tcsh'") && err.contains("one of bash, zsh, fish"),
        "{err}"
    );
}

#[test]
fn the_man_page_is_clean_roff() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains("\n.TH bookchat 1 "), "{page}");
    let preamble = page.lines().filter(|l| l.starts_with(".ie ")).count();
    assert_eq!(preamble, 1, "roff's preamble once: {page}");
    let Ok(mut groff) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        crate::ci::skip("the man page's roff check", "groff is not installed");
        return;
    };
    groff
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let checked = groff.wait_with_output().unwrap();
    assert!(
        checked.status.success() && checked.stderr.is_empty(),
        "groff: {}",
        stderr(&checked)
    );
}
