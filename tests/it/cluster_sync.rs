//! One syncing node among several, as real processes on one PostgreSQL database: the node
//! that holds the sync lock is killed (SIGKILL, as in a power cut), another takes over, and
//! every message lands on the fake GitHub exactly once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::binary::{spawn_server, Running};
use crate::client::request;
use crate::fake_github::FakeGitHub;
use crate::pg;
use crate::support::eventually;

fn node(dir: &std::path::Path, url: &str, fake: &FakeGitHub) -> Running {
    spawn_server(dir, |command| {
        command
            .env("BOOKCHAT_DATABASE_URL", url)
            .env("BOOKCHAT_WRITE_RATE", "0")
            .env("BOOKCHAT_READ_RATE", "0")
            .env("GITHUB_TOKEN", fake.token())
            .env("GITHUB_REPO", fake.repo())
            .env("GITHUB_BRANCH", fake.branch())
            .env("GITHUB_API_URL", fake.url());
    })
}

async fn post(addr: SocketAddr, content: &str) -> i64 {
    let body = serde_json::json!({ "content": content }).to_string();
    let headers = [("content-type", "application/json")];
    let reply = request(addr, "POST", "/api/messages", &headers, body).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["id"].as_i64().unwrap()
}

async fn sync_state(addr: SocketAddr) -> String {
    let reply = request(addr, "GET", "/api/stats", &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["sync"]["state"].as_str().unwrap().to_owned()
}

/// How many commits on the branch added each message file (`<folder>/…/<id:08>.json`).
fn additions(fake: &FakeGitHub) -> BTreeMap<String, usize> {
    let mut added = BTreeMap::new();
    for commit in fake.commits() {
        for path in commit.added {
            // Day pages and the index are Markdown; a message's file is `<id:08>.json`.
            let name = path.rsplit('/').next().unwrap_or_default();
            let is_message = name.len() == 13
                && name[..8].bytes().all(|b| b.is_ascii_digit())
                && &name[8..] == ".json";
            if is_message {
                *added.entry(path).or_insert(0) += 1;
            }
        }
    }
    added
}

async fn wait_for_files(fake: &FakeGitHub, n: usize, what: &str, nodes: &[Option<Running>]) {
    for _ in 0..600 {
        if additions(fake).len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs: Vec<String> = nodes
        .iter()
        .flatten()
        .flat_map(Running::log_lines)
        .collect();
    panic!(
        "timed out waiting for {what}; the nodes logged:\n{}",
        logs.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_syncing_node_dies_another_takes_over_and_each_message_lands_once() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let fake = FakeGitHub::start_default().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut nodes: Vec<Option<Running>> = dirs
        .iter()
        .map(|d| Some(node(d.path(), &url, &fake)))
        .collect();
    let addrs: Vec<SocketAddr> = nodes.iter().flatten().map(|n| n.addr).collect();
    for i in 0..10 {
        post(addrs[i % 2], &format!("before {i}")).await;
    }
    wait_for_files(&fake, 10, "the first ten messages on GitHub", &nodes).await;
    // Exactly one node syncs; the other waits in standby.
    let states = [sync_state(addrs[0]).await, sync_state(addrs[1]).await];
    let standby: Vec<bool> = states.iter().map(|s| s == "standby").collect();
    assert_eq!(
        standby.iter().filter(|s| **s).count(),
        1,
        "one node in standby: {states:?}"
    );
    let leader = standby.iter().position(|s| !*s).unwrap();
    let survivor = 1 - leader;
    nodes[leader].take().unwrap().kill();
    for i in 0..10 {
        post(addrs[survivor], &format!("after {i}")).await;
    }
    wait_for_files(
        &fake,
        20,
        "every message on GitHub after the takeover",
        &nodes,
    )
    .await;
    assert_ne!(sync_state(addrs[survivor]).await, "standby");
    let added = additions(&fake);
    assert_eq!(added.len(), 20);
    let twice: Vec<_> = added.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "files committed more than once: {twice:?}"
    );
    let listed = request(addrs[survivor], "GET", "/api/messages?limit=50", &[], "").await;
    let messages = listed.json()["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 20);
    eventually(
        "the survivor shows every message synced",
        Duration::from_secs(10),
        || {
            let addr = addrs[survivor];
            async move {
                let reply = request(addr, "GET", "/api/messages?limit=50", &[], "").await;
                let all = reply.json()["messages"].as_array().unwrap().clone();
                all.iter().all(|m| m["synced"] == true).then_some(())
            }
        },
    )
    .await;
    if let Some(node) = nodes[survivor].take() {
        let (exit, _) = node.terminate();
        assert!(exit.success());
    }
}
