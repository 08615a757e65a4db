//! Sync racing other writers to the same repository: a branch that moves while a commit
//! is being built, and a file someone else already put where a message belongs.

use std::time::Duration;

use crate::fake_github::{FakeGitHub, Fault};
use crate::stores::per_store;
use crate::support::eventually;
use crate::sync::{adding_commits, assert_each_committed_once, message_path};

const PATIENCE: Duration = Duration::from_secs(20);

per_store! {
    async fn a_branch_that_moves_mid_commit_gets_the_commit_rebuilt_on_top(store) {
        let fake = FakeGitHub::start_default().await;
        let dir = tempfile::tempdir().unwrap();
        let racing: Vec<String> = (0..3).map(|i| format!("racing {i}")).collect();
        store.store_offline(dir.path(), &racing).await;
        // Someone else pushes between our reading the head and moving the branch.
        fake.push_fault_for(
            "PATCH",
            "git/refs/heads/",
            Fault::ForeignCommitFirst {
                branch: fake.branch(),
                path: "notes/agenda.md".into(),
                content: b"Thursday at 7\n".to_vec(),
            },
        );
        let server = store.start_synced_in(dir.path(), &fake, |_| {}).await;
        server.wait_all_synced(3, PATIENCE).await;
        assert_eq!(fake.pending_faults(), 0, "the race never happened");

        // Their commit stays, ours sits on top of it, and nothing was committed twice. All
        // three were stored before sync started, so the first batch holds them all.
        let commits = fake.commits();
        let foreign = commits
            .iter()
            .find(|c| c.message == "Foreign edit of notes/agenda.md")
            .expect("the foreign commit is in the history");
        let added = adding_commits(&fake);
        let ours: std::collections::BTreeSet<&String> = added.values().flatten().collect();
        assert_eq!(ours.len(), 1, "one commit for the three: {added:?}");
        let ours = commits.iter().find(|c| ours.contains(&c.sha)).unwrap();
        assert_eq!(ours.parents, vec![foreign.sha.clone()]);
        assert_eq!(
            fake.file("notes/agenda.md").as_deref(),
            Some(&b"Thursday at 7\n"[..])
        );
        assert_each_committed_once(&server, &fake, 3).await;
        // The first attempt's PATCH was refused as not a fast-forward, the second landed.
        let patches = fake
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .map(|r| r.status)
            .collect::<Vec<_>>();
        assert_eq!(patches, vec![422, 200]);
        server.stop().await;
    }
}

per_store! {
    async fn a_foreign_file_where_a_message_belongs_is_never_overwritten(store) {
        let fake = FakeGitHub::start_default().await;
        fake.set_down(true);
        let server = store.start_synced(&fake).await;
        let message = server.post_message("mine").await;
        let path = message_path(
            message["id"].as_i64().unwrap(),
            message["created_at"].as_str().unwrap(),
        );
        fake.push_foreign_commit(&path, b"not yours\n");
        fake.set_down(false);

        let stats = eventually("the conflict to be reported", PATIENCE, || async {
            let stats = server.stats().await;
            (stats["sync"]["state"] == "failing").then_some(stats)
        })
        .await;
        let error = stats["sync"]["last_error"].as_str().unwrap();
        assert!(
            error.contains(&path) && error.contains("not overwriting"),
            "{error}"
        );
        assert_eq!(stats["messages"]["pending"], 1, "{stats}");
        assert_eq!(fake.file(&path).as_deref(), Some(&b"not yours\n"[..]));
        // The file was seen in the base tree before anything was written: no write at all.
        let writes = fake.requests().iter().filter(|r| r.write).count();
        assert_eq!(writes, 0);
        server.stop().await;
    }
}
