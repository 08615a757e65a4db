//! What an event stream learns besides new messages: the snapshot it opens with (unsynced
//! and deleted messages), a backlog past the replay cap, and a stream that fell behind.

use std::time::Duration;

use crate::events::{ids, EventStream, Sse};
use crate::stores::per_store;

per_store! {
    async fn a_backlog_past_the_replay_cap_is_a_reset_not_the_whole_history(store) {
        let server = store.start().await;
        for i in 0..1100 {
            server.post_message(&format!("history {i}")).await;
        }
        let mut stream = EventStream::open(server.addr, &[("last-event-id", "0")], "").await;
        let mut reset = None;
        while let Some(event) = stream.next(Duration::from_secs(2)).await {
            match event {
                Sse::Event { kind, data, .. } if kind == "reset" => {
                    reset = Some(data);
                    break;
                }
                Sse::Event { kind, .. } => assert_ne!(kind, "message", "history was replayed"),
                _ => {}
            }
        }
        let reset = reset.expect("a reset event");
        assert!(
            reset["reason"]
                .as_str()
                .unwrap()
                .contains("GET /api/messages"),
            "{reset}"
        );
        // The stream then carries on from the newest message.
        let posted = server.post_message("new after the reset").await;
        assert_eq!(
            stream.messages(1).await[0].0,
            posted["id"].as_i64().unwrap()
        );
        // A short backlog is still replayed in full.
        let mut recent = EventStream::open(server.addr, &[("last-event-id", "1090")], "").await;
        assert_eq!(
            ids(&recent.messages(11).await),
            (1091..=1101).collect::<Vec<_>>()
        );
        server.stop().await;
    }
}

per_store! {
    async fn every_stream_opens_with_a_snapshot_of_unsynced_and_deleted_messages(store) {
        let server = store.start().await;
        for i in 0..4 {
            server.post_message(&format!("snap {i}")).await;
        }
        // Message 1 reached GitHub (behind the server's back), message 3 was deleted.
        let dir = &server.state.config.data_dir;
        let synced = "UPDATE messages SET synced = TRUE, git_commit_hash = 'abc' WHERE id = 1";
        store.execute(dir, synced).await;
        assert!(server.state.store.delete(3).await.unwrap().deleted());
        let mut stream = EventStream::open(server.addr, &[], "?after=4").await;
        assert_eq!(stream.next(Duration::from_secs(5)).await, Some(Sse::Retry));
        let Some(Sse::Event { id, kind, data }) = stream.next(Duration::from_secs(5)).await else {
            panic!("no snapshot");
        };
        assert_eq!(
            (id, kind.as_str()),
            (None, "snapshot"),
            "first, and without an id"
        );
        assert_eq!(data["newest_id"], 4);
        assert_eq!(data["unsynced"], serde_json::json!([2, 4]), "{data}");
        assert_eq!(data["deleted"], serde_json::json!([3]), "{data}");
        drop(stream);
        // A deletion older than a day is no longer news.
        assert!(server.state.store.delete(2).await.unwrap().deleted());
        let a_year_ago =
            "UPDATE messages SET deleted_at = '2020-01-01T00:00:00.000Z' WHERE id = 2";
        store.execute(dir, a_year_ago).await;
        let mut again = EventStream::open(server.addr, &[], "?after=4").await;
        again.next(Duration::from_secs(5)).await;
        let Some(Sse::Event { data, .. }) = again.next(Duration::from_secs(5)).await else {
            panic!("no snapshot");
        };
        assert_eq!(
            data["deleted"],
            serde_json::json!([3]),
            "a year-old deletion is not listed"
        );
        assert_eq!(data["unsynced"], serde_json::json!([4]), "{data}");
        server.stop().await;
    }
}

per_store! {
    async fn a_stream_that_fell_behind_gets_a_fresh_snapshot_then_the_backlog_or_a_reset(store) {
        let server = store.start().await;
        let mut stream = EventStream::open_small(server.addr).await;
        // Not reading while more arrives than the broadcast keeps (1,024 events) and than the
        // socket buffers hold: large messages, so the stream's task really falls behind.
        let long = "x".repeat(1990);
        for i in 0..2500 {
            server.post_message(&format!("{i} {long}")).await;
        }
        // It catches up through the backlog, or (more than 1,000 behind) is told to reset.
        let (mut snapshots, mut last, mut resets) = (0, 0, 0);
        while last < 2500 && resets == 0 {
            match stream.next(Duration::from_secs(10)).await {
                Some(Sse::Event { kind, .. }) if kind == "snapshot" => snapshots += 1,
                Some(Sse::Event { kind, .. }) if kind == "reset" => resets += 1,
                Some(Sse::Event {
                    id: Some(id), kind, ..
                }) if kind == "message" => {
                    assert!(id > last, "{id} after {last}: a repeat or out of order");
                    last = id;
                }
                Some(_) => {}
                None => panic!("stopped at message {last}"),
            }
        }
        eprintln!("fell behind: {snapshots} snapshots, {resets} resets, last message {last}");
        assert_eq!(snapshots, 2, "one at the start, one after falling behind");
        server.stop().await;
    }
}
