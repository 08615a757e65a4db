//! The static release binary that `make static` builds: `ldd` finds nothing to load, its
//! version names the same commit as this build, it serves, a posted message is stored and
//! listed, and SIGTERM stops it cleanly. CI builds it and names it in
//! `BOOKCHAT_TEST_STATIC_BINARY`; without that variable the test skips with one line,
//! except under `CI=true`, where it fails.

use std::path::PathBuf;
use std::process::Command;

use crate::binary::{bookchat, bookchat_at, spawn};
use crate::support::request;

const VAR: &str = "BOOKCHAT_TEST_STATIC_BINARY";

fn static_binary() -> Option<PathBuf> {
    let Some(path) = std::env::var_os(VAR).filter(|p| !p.is_empty()) else {
        crate::ci::skip(
            "the static binary test",
            &format!("{VAR} is unset (make static)"),
        );
        return None;
    };
    let path = PathBuf::from(path);
    assert!(path.is_file(), "{VAR}={} is not a file", path.display());
    Some(path)
}

/// stdout and stderr of a finished command, as one text.
fn text(out: &std::process::Output) -> String {
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    all
}

#[tokio::test]
async fn the_static_binary_needs_no_libraries_and_serves() {
    let Some(bin) = static_binary() else { return };
    // glibc's ldd says "statically linked" for a static-pie binary and "not a dynamic
    // executable" for a plain static one; a dynamic one lists `libc.so.6 => …`.
    let ldd = text(&Command::new("ldd").arg(&bin).output().expect("run ldd"));
    assert!(
        (ldd.contains("statically linked") || ldd.contains("not a dynamic executable"))
            && !ldd.contains("=>"),
        "ldd {}: {ldd}",
        bin.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let version = bookchat_at(&bin, dir.path())
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success(), "{}", text(&version));
    let ours = bookchat(dir.path()).arg("--version").output().unwrap();
    let commit = |out: &std::process::Output| {
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        line.split(", built").next().unwrap_or_default().to_string()
    };
    assert_eq!(
        commit(&version),
        commit(&ours),
        "the static binary is from another commit: run make static again"
    );

    let server = spawn(bookchat_at(&bin, dir.path()), |c| {
        c.arg("--data-dir").arg("data");
    });
    let json = [("content-type", "application/json")];
    let body = r#"{"content":"from the static build"}"#;
    let posted = request(server.addr, "POST", "/api/messages", &json, body).await;
    assert_eq!(posted.status, 201, "{}", posted.text());
    let listed = request(server.addr, "GET", "/api/messages", &[], "").await;
    assert_eq!(listed.status, 200);
    assert!(
        listed.text().contains("from the static build"),
        "{}",
        listed.text()
    );
    assert!(dir.path().join("data/bookchat.db").is_file());

    let (status, log) = server.terminate();
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(log.contains("SIGTERM") && log.contains("stopped"), "{log}");
}
