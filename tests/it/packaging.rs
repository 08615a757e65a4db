//! What a packager takes from the binary and the repository: `--version` with its commit
//! and build date, the completions and the man page as the binary prints them, and the
//! systemd unit in contrib/, checked by `systemd-analyze`, and its example environment file.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use crate::binary::run;

const BIN: &str = env!("CARGO_BIN_EXE_bookchat");
const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/bookchat.service");

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

/// The unit with its `ExecStart` pointed at this build's binary (systemd-analyze checks that
/// the program exists), and with `extra` appended to its `[Service]` section.
fn unit_in(dir: &Path, extra: &str) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(UNIT).expect("contrib/bookchat.service");
    let original = "ExecStart=/usr/local/bin/bookchat serve";
    assert!(unit.contains(original), "the unit runs {original}");
    let unit = unit
        .replace(original, &format!("ExecStart={BIN} serve"))
        .replace("[Install]", &format!("{extra}\n[Install]"));
    let path = dir.join("bookchat.service");
    std::fs::write(&path, unit).unwrap();
    path
}

/// `systemd-analyze verify` of the unit, with the page from `bookchat man` on MANPATH so
/// that its `Documentation=man:bookchat(1)` resolves: the lines that name the unit.
fn verify(dir: &Path, unit: &Path) -> Option<Vec<String>> {
    let man1 = dir.join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    std::fs::write(man1.join("bookchat.1"), run(dir, &["man"]).stdout).unwrap();
    let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .env("MANPATH", dir.join("man"))
        .output()
    else {
        crate::ci::skip("the systemd unit check", "systemd-analyze is not installed");
        return None;
    };
    let all = format!("{}{}", stdout(&out), stderr(&out));
    let about_it = all.lines().filter(|l| l.contains("bookchat.service"));
    let mut lines: Vec<String> = about_it.map(String::from).collect();
    if !out.status.success() && lines.is_empty() {
        lines.push(format!("systemd-analyze verify failed: {all}"));
    }
    Some(lines)
}

#[test]
fn the_service_unit_passes_systemd_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path(), "");
    let Some(complaints) = verify(dir.path(), &unit) else {
        return;
    };
    assert!(complaints.is_empty(), "{}", complaints.join("\n"));

    // The check can fail: a misspelt setting is reported.
    let broken = unit_in(dir.path(), "ProtectSytem=strict");
    let complaints = verify(dir.path(), &broken).unwrap();
    assert!(
        complaints.iter().any(|l| l.contains("ProtectSytem")),
        "{complaints:?}"
    );

    // The hardening holds: systemd rates the unit's exposure at most 2.0 of 10 ("OK").
    let unit = unit_in(dir.path(), "");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

/// Every setting the example environment file names, set or commented out, is one that
/// `bookchat serve` reads: a renamed variable cannot linger there, silently ignored.
#[test]
fn the_example_environment_file_names_only_real_settings() {
    use clap::CommandFactory;
    let cli = bookchat::cli::Cli::command();
    let serve = cli.find_subcommand("serve").expect("serve");
    let known: Vec<String> = cli
        .get_arguments()
        .chain(serve.get_arguments())
        .filter_map(|arg| arg.get_env().map(|e| e.to_string_lossy().into_owned()))
        .chain(["RUST_LOG".to_string()])
        .collect();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/bookchat.env"))
            .expect("contrib/bookchat.env");
    let named: Vec<&str> = example
        .lines()
        .map(|line| line.trim_start_matches('#'))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    assert!(
        named.len() >= 15,
        "the example names its settings: {named:?}"
    );
    for name in named {
        assert!(
            known.iter().any(|k| k == name),
            "{name} is not a setting of bookchat serve"
        );
    }
}
