//! PostgreSQL for the tests: the cluster `.ci/postgres.sh` starts (its URL and control
//! script come through the environment), a fresh empty database per test, and restarts.
//!
//! `BOOKCHAT_TEST_DATABASE_URL` is a superuser URL; `BOOKCHAT_TEST_PG_CTL` a script taking
//! `restart`, `stop`, `start` or `status`. Without the URL the PostgreSQL tests skip with one
//! message, except under `CI=true`, where they fail: CI must run them.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

const URL_VAR: &str = "BOOKCHAT_TEST_DATABASE_URL";
const PG_CTL_VAR: &str = "BOOKCHAT_TEST_PG_CTL";
/// Names of the databases the tests create: `bookchat_it_<pid>_<n>`.
const PREFIX: &str = "bookchat_it_";

/// The superuser URL of the test cluster, or `None` (with one notice per process) when
/// there is none. Panics under `CI=true` instead of skipping.
pub fn admin_url() -> Option<String> {
    if let Some(url) = std::env::var(URL_VAR).ok().filter(|url| !url.is_empty()) {
        return Some(url);
    }
    crate::ci::skip(
        "PostgreSQL tests",
        &format!("set {URL_VAR} (source .ci/postgres.sh)"),
    );
    None
}

/// Creates a new empty database on the test cluster and returns its URL, or `None` when
/// there is no cluster (see [`admin_url`]). Each call gets its own database, so tests may
/// run in parallel; they are not dropped, but the first call of a process drops those left
/// by test processes that have ended.
pub async fn fresh_database() -> Option<String> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    static SWEPT: AtomicBool = AtomicBool::new(false);
    let admin = admin_url()?;
    let client = connect(&admin).await;
    if !SWEPT.swap(true, Ordering::SeqCst) {
        drop_leftovers(&client).await;
    }
    let name = format!(
        "{PREFIX}{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    // template0 has no connections, but PostgreSQL may still refuse a copy while another
    // is being made ("source database is being accessed by other users"): try again.
    let create = format!("CREATE DATABASE {name} TEMPLATE template0");
    let mut attempt = 0;
    loop {
        match client.batch_execute(&create).await {
            Ok(()) => break,
            Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) && attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => panic!("CREATE DATABASE {name} on {admin}: {e}"),
        }
    }
    Some(with_database(&admin, &name))
}

/// Runs `$BOOKCHAT_TEST_PG_CTL <action>` (`restart`, `stop`, `start`, `status`), waiting
/// for it to finish, and asserts it succeeded. It blocks: from a test that must keep its
/// runtime going meanwhile, call it through `tokio::task::spawn_blocking`. A restart or a
/// stop breaks every connection to the cluster, other tests' included.
pub fn pg_ctl(action: &str) {
    let line = std::env::var(PG_CTL_VAR)
        .unwrap_or_else(|_| panic!("{PG_CTL_VAR} is unset (source .ci/postgres.sh)"));
    let mut words = line.split_whitespace();
    let program = words
        .next()
        .unwrap_or_else(|| panic!("{PG_CTL_VAR} is empty"));
    let output = Command::new(program)
        .args(words)
        .arg(action)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {line}: {e}"));
    assert!(
        output.status.success(),
        "{line} {action} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A client on `url`, its connection driven by a task of the current runtime.
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(async move {
        // Ends with an error when the server goes away; the client's calls report it.
        let _ = connection.await;
    });
    client
}

/// Drops the test databases whose process is gone (Linux only: it asks `/proc`). One still
/// in use is left alone, since DROP DATABASE refuses it.
async fn drop_leftovers(client: &Client) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            &[&PREFIX],
        )
        .await
        .expect("list the test databases");
    for row in rows {
        let name: String = row.get(0);
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
        else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
}

/// `url` with its database replaced by `name`: the path of a `postgres://` URL (its query
/// kept), or a `dbname=` appended to a `key=value` connection string.
pub fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = base[scheme_end + 3..]
        .find('/')
        .map_or(base.len(), |slash| scheme_end + 3 + slash);
    format!("{}/{name}{query}", &base[..authority_end])
}
