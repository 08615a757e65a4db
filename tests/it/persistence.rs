//! What survives a restart, and what the database refuses to open.

use crate::stores::per_store;
use crate::support::TestServer;

per_store! {
    async fn messages_survive_a_restart_and_ids_continue(store) {
        let dir = tempfile::tempdir().unwrap();
        let first = store.start_in(dir.path(), |_| {}).await;
        let mut before = Vec::new();
        for text in ["one", "two", "three"] {
            before.push(first.post_message(text).await);
        }
        first.stop().await;
        assert_eq!(dir.path().join("bookchat.db").is_file(), !store.is_postgres());

        let second = store.start_in(dir.path(), |_| {}).await;
        let listed = second.get("/api/messages").await.json();
        assert_eq!(listed["messages"].as_array().unwrap(), &before);
        let next = second.post_message("four").await;
        assert_eq!(
            next["id"].as_i64().unwrap(),
            before[2]["id"].as_i64().unwrap() + 1
        );
        second.stop().await;
    }
}

#[tokio::test]
async fn the_data_directory_is_created_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/c");
    let server = TestServer::start_in(&nested, |_| {}).await;
    server.post_message("hello").await;
    assert!(nested.join("bookchat.db").is_file());
    server.stop().await;
}

#[tokio::test]
async fn a_database_from_a_newer_bookchat_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bookchat.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let config = bookchat::config::Config::from_args(&crate::support::args(dir.path())).unwrap();
    let err = match bookchat::app::App::start(config).await {
        Ok(_) => panic!("a newer schema must be refused"),
        Err(err) => err.to_string(),
    };
    assert!(err.contains("newer") && err.contains("99"), "{err}");
    assert!(
        std::fs::read(&path).unwrap() == before,
        "the refused file was modified"
    );
}
