//! `/metrics` over a long history: a million messages seeded into the file before the
//! server starts, scraped from 64 connections, and the POST latency while it is. Before
//! the counters, each scrape walked the whole table with `count(*)`.

use std::path::Path;
use std::time::Duration;

use super::{get_request, load, ms, post_request, row, Server};

const SEEDED: i64 = 1_000_000;
/// The newest rows are left unsynced, so the oldest-pending lookup has something to find.
const PENDING: i64 = 1_000;

/// Writes `SEEDED` messages into `data_dir`'s database in one transaction.
fn seed(data_dir: &Path) {
    std::fs::create_dir_all(data_dir).expect("data dir");
    let path = data_dir.join(bookchat::db::DB_FILE);
    let mut conn = bookchat::db::open_writer(&path).expect("open the database");
    bookchat::db::migrate(&mut conn).expect("migrate");
    let tx = conn.transaction().expect("transaction");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO messages (id, content, author, created_at, synced) \
                 VALUES (?1, ?2, 'seed', ?3, ?4)",
            )
            .expect("prepare");
        let start = chrono::Utc::now() - chrono::Duration::seconds(SEEDED);
        for id in 1..=SEEDED {
            let at = bookchat::db::rfc3339(start + chrono::Duration::seconds(id));
            let text = format!("seeded message number {id}, a line of a long history");
            insert
                .execute((id, text, at, id <= SEEDED - PENDING))
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// Prints the rows: `/metrics` throughput alone, then POST latency under that load.
pub fn rows(runtime: &tokio::runtime::Runtime) {
    let seeding = std::time::Instant::now();
    let server = Server::start_seeded(seed);
    let seeded_in = seeding.elapsed().saturating_sub(server.started_in);
    runtime.block_on(async {
        let r = load(server.addr, 64, get_request("/metrics"), 200).await;
        row(
            "GET /metrics, 1M messages, 64 conn",
            &format!("{:.0}/s", r.per_second),
            &format!("p50 {} p99 {}", ms(r.p50), ms(r.p99)),
        );
        let (scrapes, posts) = tokio::join!(
            load(server.addr, 64, get_request("/metrics"), 200),
            load(server.addr, 1, post_request("during scrapes"), 201),
        );
        row(
            "POST, 1 conn, during 64 /metrics conn",
            &format!("p99 {}", ms(posts.p99)),
            &format!(
                "p50 {}; {:.0} POST/s, {:.0} scrapes/s",
                ms(posts.p50),
                posts.per_second,
                scrapes.per_second
            ),
        );
    });
    row(
        "cold start with 1M messages",
        &ms(server.started_in),
        &format!("seeding took {}", secs(seeded_in)),
    );
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
