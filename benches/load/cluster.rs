//! PostgreSQL: the posts of the SQLite rows on one node over PostgreSQL, then three nodes
//! on one database and the delay from a POST on node A to its event on the streams (and
//! in the `after=` listing) of nodes B and C. Each run gets a fresh database on the
//! cluster `BOOKCHAT_BENCH_DATABASE_URL` (else `BOOKCHAT_TEST_DATABASE_URL`) names, a
//! superuser URL, and drops it at the end; without either the rows say "skipped".

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bookchat::store::pg::Target;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::events::{delays, subscribe};
use super::{
    find, get_request, latest_id, load, ms, percentile, post_request, row, Client, Server,
};

const URL_VARS: [&str; 2] = ["BOOKCHAT_BENCH_DATABASE_URL", "BOOKCHAT_TEST_DATABASE_URL"];
/// Names of the bench's databases: `bookchat_bench_<pid>`.
const PREFIX: &str = "bookchat_bench_";
/// Event streams opened on each node for the delivery rows.
const STREAMS: usize = 10;
/// Messages posted on node A for the delivery rows, one at a time, `GAP` apart.
const POSTS: usize = 200;
const GAP: Duration = Duration::from_millis(20);
/// How often the listing of node B is read.
const POLL: Duration = Duration::from_millis(1);

type Seen = Arc<Mutex<Vec<(i64, Instant)>>>;

/// A database of its own on the bench's PostgreSQL cluster.
pub struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    /// Creates `bookchat_bench_<pid>` (dropping those of bench runs that have ended), or
    /// answers why the PostgreSQL rows are skipped.
    pub async fn create() -> Result<Database, String> {
        let admin = URL_VARS
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|url| !url.is_empty()))
            .ok_or_else(|| format!("set {}", URL_VARS[0]))?;
        let client = admin_client(&admin).await?;
        sweep(&client).await;
        let name = format!("{PREFIX}{}", std::process::id());
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name} TEMPLATE template0"),
        ] {
            client
                .batch_execute(&statement)
                .await
                .map_err(|err| format!("{statement}: {err}"))?;
        }
        Ok(Database {
            url: with_database(&admin, &name),
            admin,
            name,
        })
    }

    /// Drops the database; the nodes on it must have stopped.
    pub async fn remove(self) {
        let dropped = match admin_client(&self.admin).await {
            Ok(client) => client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await
                .map_err(|err| err.to_string()),
            Err(err) => Err(err),
        };
        if let Err(err) = dropped {
            eprintln!("load bench: cannot drop the database {}: {err}", self.name);
        }
    }

    /// A node on this database: the bench's settings, its own data directory.
    fn node(&self) -> Server {
        let mut env = vec![("BOOKCHAT_DATABASE_URL", self.url.clone())];
        // A server certificate signed by a private CA, as the node would be told of it.
        for var in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
            if let Ok(value) = std::env::var(var) {
                env.push((var, value));
            }
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start_configured(|_| {}, &env)
    }
}

/// A session on the admin URL, through the store's own TLS and URL rules.
async fn admin_client(url: &str) -> Result<tokio_postgres::Client, String> {
    let target = Target::parse(url, "bookchat-bench").map_err(|err| err.to_string())?;
    target
        .client()
        .await
        .map_err(|err| format!("cannot reach PostgreSQL: {err}"))
}

/// Drops the bench databases whose process is gone (Linux: it asks `/proc`).
async fn sweep(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            &[&PREFIX],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let Some(pid) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let ours = pid.parse() == Ok(std::process::id());
        if pid.bytes().all(|b| b.is_ascii_digit())
            && !ours
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
}

/// `url` with its database replaced by `name`: the path of a `postgres://` URL (its query
/// kept), or a `dbname=` appended to a `key=value` connection string.
fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let authority_end = base[scheme_end + 3..]
        .find('/')
        .map_or(base.len(), |slash| scheme_end + 3 + slash);
    format!("{}/{name}{query}", &base[..authority_end])
}

fn skipped(what: &str, why: &str) {
    row(what, "skipped", why);
}

/// POST rows as the SQLite ones (same connections, same `load`), on one PostgreSQL node.
pub fn post_rows(runtime: &tokio::runtime::Runtime, database: Result<&Database, &String>) {
    const CONNECTIONS: [usize; 3] = [1, 8, 64];
    let label = |connections| format!("POST /api/messages, {connections} conn, PostgreSQL");
    let database = match database {
        Ok(database) => database,
        Err(why) => {
            for connections in CONNECTIONS {
                skipped(&label(connections), why);
            }
            return;
        }
    };
    let server = database.node();
    runtime.block_on(async {
        for connections in CONNECTIONS {
            let r = load(server.addr, connections, post_request("bench message"), 201).await;
            row(
                &label(connections),
                &format!("{:.0}/s", r.per_second),
                &format!("p50 {} p99 {} ({} req)", ms(r.p50), ms(r.p99), r.requests),
            );
        }
    });
}

/// Delivery rows: three nodes on one database, posts on A; A's own streams for comparison.
pub fn delivery_rows(runtime: &tokio::runtime::Runtime, database: Result<&Database, &String>) {
    let same = format!("SSE on PostgreSQL, same node, {STREAMS} streams");
    let across = format!("SSE across nodes, A → B and C, {} streams", 2 * STREAMS);
    let listing = "listing across nodes, A → B (after= poll)";
    let database = match database {
        Ok(database) => database,
        Err(why) => {
            for what in [same.as_str(), across.as_str(), listing] {
                skipped(what, why);
            }
            return;
        }
    };
    let nodes = [database.node(), database.node(), database.node()];
    let [a, b, c] = nodes.each_ref().map(|node| node.addr);
    let (same_node, other_nodes, polled) = runtime.block_on(async {
        let (same_node, other_nodes, polled) = (Seen::default(), Seen::default(), Seen::default());
        let mut readers = Vec::new();
        for (addr, seen) in [(a, &same_node), (b, &other_nodes), (c, &other_nodes)] {
            for _ in 0..STREAMS {
                readers.push(subscribe(addr, seen).await);
            }
        }
        readers.push(poll_listing(b, &polled).await);
        // Let every stream be set up before the first post.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut client = Client::connect(a).await;
        let mut sent_at = Vec::new();
        for i in 0..POSTS {
            let request = post_request(&format!("across nodes {i}"));
            let sent = Instant::now();
            assert_eq!(client.call(&request).await, 201);
            sent_at.push((latest_id(&client.buffer), sent));
            tokio::time::sleep(GAP).await;
        }
        // The contract's bound: every node has it within 1 s.
        tokio::time::sleep(Duration::from_secs(1)).await;
        for reader in readers {
            reader.abort();
        }
        let same_node = delays(&same_node.lock().await, &sent_at);
        let other_nodes = delays(&other_nodes.lock().await, &sent_at);
        let polled = delays(&polled.lock().await, &sent_at);
        (same_node, other_nodes, polled)
    });
    drop(nodes);
    assert_eq!(
        same_node.len(),
        STREAMS * POSTS,
        "A's streams saw every post"
    );
    assert_eq!(
        other_nodes.len(),
        2 * STREAMS * POSTS,
        "B and C saw every post"
    );
    assert_eq!(polled.len(), POSTS, "B's listing had every post");
    let detail =
        |sorted: &[Duration], how: &str| format!("p50 {} ({how})", ms(percentile(sorted, 0.5)));
    let p99 = |sorted: &[Duration]| format!("p99 {}", ms(percentile(sorted, 0.99)));
    row(
        &same,
        &p99(&same_node),
        &detail(&same_node, "POST sent → event read"),
    );
    row(
        &across,
        &p99(&other_nodes),
        &detail(&other_nodes, "POST on A → event on B"),
    );
    row(
        listing,
        &p99(&polled),
        &detail(&polled, "polled every 1 ms"),
    );
}

/// Reads node `addr`'s listing every `POLL`, from its newest message on, and records in
/// `seen` when each new id first appears.
async fn poll_listing(addr: SocketAddr, seen: &Seen) -> JoinHandle<()> {
    let mut client = Client::connect(addr).await;
    assert_eq!(client.call(&get_request("/api/messages")).await, 200);
    let mut last = ids(&client.buffer).into_iter().max().unwrap_or(0);
    let seen = Arc::clone(seen);
    tokio::spawn(async move {
        loop {
            let request = get_request(&format!("/api/messages?after={last}"));
            assert_eq!(client.call(&request).await, 200);
            let at = Instant::now();
            for id in ids(&client.buffer) {
                seen.lock().await.push((id, at));
                last = last.max(id);
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

/// The ids of a listing response (head and JSON body).
fn ids(response: &[u8]) -> Vec<i64> {
    let body = find(response, b"\r\n\r\n").map_or(response, |end| &response[end + 4..]);
    let list: serde_json::Value = serde_json::from_slice(body).expect("a JSON listing");
    list["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["id"].as_i64())
        .collect()
}
