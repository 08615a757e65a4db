//! The static release binary that `make static` builds: `ldd` finds nothing to load, its
//! version names the same commit as this build, it serves, a posted message is stored and
//! listed, and SIGTERM stops it cleanly. CI builds it and names it in
//! `BOOKCHAT_TEST_STATIC_BINARY`; without that variable the test skips with one line,
//! except under `CI=true`, where it fails.

use std::path::PathBuf;
use std::process::Command;

use crate::binary::{bookchat, bookchat_at, spawn};
use crate::client::request;

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

/// A static glibc must not load the machine's NSS modules: one built for another glibc
/// crashes it (see `build/static_nss.c`). In a mount namespace of its own, the test gives
/// it an `nsswitch.conf` naming `mdns4_minimal` before `dns`, as Ubuntu's does, and a
/// `resolv.conf` whose name server refuses at once; strace then shows the lookup reaching
/// DNS without any `libnss_*` being opened (a binary without the shim tries to open
/// `libnss_mdns4_minimal.so.2` first, installed or not).
#[test]
fn the_static_binary_resolves_names_without_nss_modules() {
    let Some(bin) = static_binary() else { return };
    // As root a mount namespace is enough; otherwise a user namespace of our own too.
    let unshare = [&["--mount"][..], &["--mount", "--map-root-user"][..]]
        .into_iter()
        .find(|args| tool_runs("unshare", &[args, &["true"][..]].concat()));
    let (Some(unshare), true) = (unshare, tool_runs("strace", &["-V"])) else {
        crate::ci::skip(
            "the static binary's NSS test",
            "it needs strace, and unshare --mount (as root, or with user namespaces)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nsswitch = dir.path().join("nsswitch.conf");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &nsswitch,
        "hosts: files mdns4_minimal [NOTFOUND=return] dns\n",
    )
    .unwrap();
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.9\noptions attempts:1 timeout:1\n",
    )
    .unwrap();
    let trace = dir.path().join("trace.log");
    let script = r#"mount --bind "$1" /etc/nsswitch.conf && mount --bind "$2" /etc/resolv.conf &&
        exec strace -f -e trace=openat,connect -o "$3" "$4" stats --data-dir "$5" \
            --database-url postgres://u@bookchat-nss-check.invalid:1/db"#;
    let out = Command::new("unshare")
        .args(unshare)
        .args(["sh", "-c", script, "sh"])
        .args([&nsswitch, &resolv, &trace, &bin, &dir.path().join("data")])
        .output()
        .expect("run unshare");
    let said = text(&out);
    assert!(!out.status.success(), "the name cannot resolve: {said}");
    assert!(
        said.contains("PostgreSQL"),
        "a PostgreSQL error, not a crash: {said}"
    );
    let trace = std::fs::read_to_string(&trace).expect("strace's log");
    assert!(
        trace.contains("127.0.0.9") && trace.contains("htons(53)"),
        "the lookup reached DNS:\n{trace}"
    );
    let loaded: Vec<_> = trace.lines().filter(|l| l.contains("libnss_")).collect();
    assert!(loaded.is_empty(), "NSS modules opened: {loaded:#?}");
}

fn tool_runs(tool: &str, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success())
}
