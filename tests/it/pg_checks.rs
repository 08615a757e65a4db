//! The PostgreSQL test plumbing checks itself: fresh databases are separate, URLs are
//! rewritten only in their database name, and the control script answers.

use crate::pg::{admin_url, connect, fresh_database, pg_ctl, with_database};

#[test]
fn with_database_replaces_only_the_database() {
    let cases = [
        (
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@127.0.0.1:5432/db1",
        ),
        ("postgresql://u:p@h", "postgresql://u:p@h/db1"),
        (
            "postgres://u@h:1/x?sslmode=require&connect_timeout=5",
            "postgres://u@h:1/db1?sslmode=require&connect_timeout=5",
        ),
        (
            "postgres://u@h?sslmode=disable",
            "postgres://u@h/db1?sslmode=disable",
        ),
        (
            "host=/tmp port=5432 user=postgres dbname=postgres",
            "host=/tmp port=5432 user=postgres dbname=postgres dbname=db1",
        ),
    ];
    for (url, expected) in cases {
        assert_eq!(with_database(url, "db1"), expected, "{url}");
    }
}

#[tokio::test]
async fn fresh_databases_are_empty_and_separate() {
    let Some(first) = fresh_database().await else {
        return;
    };
    let second = fresh_database()
        .await
        .expect("a cluster for the first is one for the second");
    assert_ne!(first, second);
    let (a, b) = (connect(&first).await, connect(&second).await);

    let name_of = |url: &str| url.rsplit('/').next().unwrap().to_owned();
    for (client, url) in [(&a, &first), (&b, &second)] {
        let row = client
            .query_one("SELECT current_database()", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), name_of(url));
        let tables = client
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(tables.get::<_, i64>(0), 0, "{url} is not empty");
    }

    a.batch_execute("CREATE TABLE marker (id bigint PRIMARY KEY); INSERT INTO marker VALUES (1)")
        .await
        .unwrap();
    let in_a = a
        .query_one("SELECT count(*) FROM marker", &[])
        .await
        .unwrap();
    assert_eq!(in_a.get::<_, i64>(0), 1);
    let in_b = b
        .query_one("SELECT to_regclass('public.marker') IS NULL", &[])
        .await
        .unwrap();
    assert!(
        in_b.get::<_, bool>(0),
        "the table made in {first} shows in {second}"
    );
}

#[test]
fn pg_ctl_reports_the_cluster_running() {
    if admin_url().is_none() {
        return;
    }
    pg_ctl("status");
}
