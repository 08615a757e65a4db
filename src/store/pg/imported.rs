//! `bookchat import` into PostgreSQL: what the database already has, and one commit's
//! messages inserted as synced. The command holds the serve lock exclusively meanwhile
//! (see `exclusive`), so no node serves and no listener needs telling.

use std::collections::HashSet;

use tokio_postgres::Client;

use crate::db::DbError;

/// One message read from the repository: id, content, author, `created_at`.
pub type Row<'a> = (i64, &'a str, Option<&'a str>, &'a str);

/// Every id the database holds, tombstones too: a deleted message is not re-imported.
pub async fn existing_ids(client: &Client) -> Result<HashSet<i64>, DbError> {
    let rows = client.query("SELECT id FROM messages", &[]).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Inserts `rows` as synced in `commit`, in one transaction and one statement; an id the
/// database has is left alone. Answers how many were added.
pub async fn insert_synced(
    client: &mut Client,
    rows: &[Row<'_>],
    commit: &str,
) -> Result<usize, DbError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let contents: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let authors: Vec<Option<&str>> = rows.iter().map(|r| r.2).collect();
    let times: Vec<&str> = rows.iter().map(|r| r.3).collect();
    let tx = client.transaction().await?;
    let added = tx
        .execute(
            "INSERT INTO messages (id, content, author, created_at, git_commit_hash, synced) \
             SELECT id, content, author, created_at, $5, true \
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) \
                  AS r (id, content, author, created_at) \
             ON CONFLICT (id) DO NOTHING",
            &[&ids, &contents, &authors, &times, &commit],
        )
        .await?;
    // New ids are above both max(id) and the floor already; raising the floor as well
    // keeps it what it claims to be, the highest id ever issued, as a backup carries it.
    if let Some(top) = ids.iter().max() {
        tx.execute("UPDATE id_floor SET id = greatest(id, $1)", &[top])
            .await?;
    }
    tx.commit().await?;
    Ok(usize::try_from(added).unwrap_or(usize::MAX))
}
