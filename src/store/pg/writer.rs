//! The node's writer task on PostgreSQL: it group-commits inserts as SQLite's writer thread
//! does, and each batch takes its ids under a cluster-wide lock, so ids increase in commit
//! order across every node and a reader following `after=` never skips one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use tokio::sync::mpsc;
use tokio_postgres::GenericClient;

use super::feed::Feed;
use super::rows::{message, pool_error};
use super::schema::{CHANNEL, ID_LOCK};
use super::NodeId;
use crate::db::{
    created, now_rfc3339, reply_all, DbError, IdempotencyKey, Insert, Insertion, Tombstone,
    WriteJob as Job, KEY_LIFETIME_MS,
};
use crate::message::{Message, NewMessage};

/// The most inserts one transaction carries; bounds the latency of the last one in it.
const MAX_INSERTS_PER_TX: usize = 512;
/// A batch not committed by then is answered 503: the database is unreachable, and a
/// POST must not hang on it (the client retries with its idempotency key).
const BATCH_DEADLINE: Duration = Duration::from_secs(30);
/// How often expired idempotency keys are deleted (every node does it; it is one range
/// delete on an index).
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// The next id: above every stored id and above the floor a restore may have set. Read
/// after the id lock is taken, so it sees every batch committed before this one.
const NEXT_ID: &str = "SELECT greatest(coalesce((SELECT max(id) FROM messages), 0), \
     coalesce((SELECT max(id) FROM id_floor), 0)) + 1";
const INSERT_ROWS: &str = "INSERT INTO messages (id, content, author, created_at) \
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])";
const REMEMBER_KEYS: &str = "INSERT INTO idempotency \
     (client, key, message_id, content, author, created_at_ms) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
     $6::bigint[]) ON CONFLICT (client, key) DO UPDATE SET message_id = excluded.message_id, \
     content = excluded.content, author = excluded.author, created_at_ms = excluded.created_at_ms";
const EARLIER: &str = "SELECT i.content, i.author, m.id, m.content, m.author, m.created_at, \
     m.git_commit_hash, m.synced, m.deleted_at IS NOT NULL FROM idempotency i \
     LEFT JOIN messages m ON m.id = i.message_id \
     WHERE i.client = $1 AND i.key = $2 AND i.created_at_ms > $3";

/// Waits for a job, takes every other one already queued, and commits the inserts
/// together; each caller is answered only after that commit.
pub(super) async fn run(pool: Pool, mut jobs: mpsc::Receiver<Job>, feed: Arc<Feed>, node: NodeId) {
    let mut batch: Vec<Insert> = Vec::new();
    let mut stopping = false;
    let mut purged_at: Option<Instant> = None;
    while !stopping {
        let Some(first) = jobs.recv().await else {
            break;
        };
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Insert(insert) => batch.push(insert),
                Job::Delete { id, reply } => {
                    commit(&pool, &mut batch, &feed).await;
                    let outcome = bounded(delete(&pool, id, node)).await;
                    if let Ok(found) = outcome {
                        if found.deleted() {
                            feed.live().deleted(id, found == Tombstone::WasSynced);
                        }
                    }
                    let _ = reply.send(outcome);
                }
                Job::Stop => stopping = true,
            }
            if batch.len() < MAX_INSERTS_PER_TX && !stopping {
                next = jobs.try_recv().ok();
            }
        }
        commit(&pool, &mut batch, &feed).await;
        if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            purged_at = Some(Instant::now());
            purge(&pool).await;
        }
    }
    log::debug!("PostgreSQL writer stopped");
}

async fn bounded<T>(
    work: impl std::future::Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    tokio::time::timeout(BATCH_DEADLINE, work)
        .await
        .unwrap_or_else(|_| {
            Err(DbError::Postgres(format!(
                "no answer from PostgreSQL within {} s",
                BATCH_DEADLINE.as_secs()
            )))
        })
}

async fn commit(pool: &Pool, batch: &mut Vec<Insert>, feed: &Feed) {
    if batch.is_empty() {
        return;
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let inserts: Vec<(&NewMessage, Option<&IdempotencyKey>)> =
        batch.iter().map(|i| (&i.message, i.key.as_ref())).collect();
    let outcome = bounded(insert_all(pool, &inserts, now_ms)).await;
    if let Ok(answers) = &outcome {
        // This node's pages and streams see the batch before any sender hears 201;
        // the other nodes hear of it from the notification.
        let created = created(answers);
        if let Some(top) = created.last().map(|m| m.id) {
            if let Err(err) = bounded(show(pool, feed, &created, top)).await {
                // The batch is committed, so its 201s stand; the listener will bring
                // it into the page when the database answers again.
                log::warn!("committed messages are not yet in this node's page: {err}");
            }
        }
    }
    reply_all(batch, outcome);
}

async fn show(pool: &Pool, feed: &Feed, created: &[Message], top: i64) -> Result<(), DbError> {
    let session = pool.get().await.map_err(pool_error)?;
    feed.through(&**session, created, top).await
}

/// Stores a batch in one transaction that holds the id lock from its first id to its
/// commit: the next batch, on any node, reads its first id only after this one is
/// visible, so commit order is id order. The notification goes out with the commit.
pub(super) async fn insert_all(
    pool: &Pool,
    inserts: &[(&NewMessage, Option<&IdempotencyKey>)],
    now_ms: i64,
) -> Result<Vec<Insertion>, DbError> {
    let mut session = pool.get().await.map_err(pool_error)?;
    let client: &mut tokio_postgres::Client = &mut session;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ID_LOCK])
        .await?;
    let first: i64 = tx.query_one(NEXT_ID, &[]).await?.get(0);
    let created_at = now_rfc3339();
    let mut answers = Vec::with_capacity(inserts.len());
    let mut rows: Vec<Message> = Vec::new();
    let mut keyed: Vec<(&IdempotencyKey, usize)> = Vec::new();
    let mut in_batch: HashMap<&IdempotencyKey, usize> = HashMap::new();
    for &(new, key) in inserts {
        if let Some(key) = key {
            // A key used twice in one batch: the second use finds the first's message.
            if let Some(&row) = in_batch.get(key) {
                answers.push(repeat_of(&rows[row], new));
                continue;
            }
            if let Some(answer) = earlier(&tx, key, new, now_ms).await? {
                answers.push(answer);
                continue;
            }
        }
        let stored = Message {
            id: first + i64::try_from(rows.len()).unwrap_or(i64::MAX),
            content: new.content().to_owned(),
            author: new.author().map(str::to_owned),
            created_at: created_at.clone(),
            git_commit_hash: None,
            synced: false,
        };
        if let Some(key) = key {
            in_batch.insert(key, rows.len());
            keyed.push((key, rows.len()));
        }
        answers.push(Insertion::Created(stored.clone()));
        rows.push(stored);
    }
    if let Some(last) = rows.last() {
        store_rows(&tx, &rows).await?;
        remember(&tx, &keyed, &rows, now_ms).await?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &format!("c:{}", last.id)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(answers)
}

fn repeat_of(stored: &Message, new: &NewMessage) -> Insertion {
    if stored.content == new.content() && stored.author.as_deref() == new.author() {
        Insertion::Repeated(stored.clone())
    } else {
        Insertion::OtherBody
    }
}

async fn store_rows(tx: &impl GenericClient, rows: &[Message]) -> Result<(), DbError> {
    let ids: Vec<i64> = rows.iter().map(|m| m.id).collect();
    let contents: Vec<&str> = rows.iter().map(|m| m.content.as_str()).collect();
    let authors: Vec<Option<&str>> = rows.iter().map(|m| m.author.as_deref()).collect();
    let times: Vec<&str> = rows.iter().map(|m| m.created_at.as_str()).collect();
    tx.execute(INSERT_ROWS, &[&ids, &contents, &authors, &times])
        .await?;
    Ok(())
}

async fn remember(
    tx: &impl GenericClient,
    keyed: &[(&IdempotencyKey, usize)],
    rows: &[Message],
    now_ms: i64,
) -> Result<(), DbError> {
    if keyed.is_empty() {
        return Ok(());
    }
    let clients: Vec<&str> = keyed.iter().map(|(k, _)| k.client.as_str()).collect();
    let keys: Vec<&str> = keyed.iter().map(|(k, _)| k.key.as_str()).collect();
    let ids: Vec<i64> = keyed.iter().map(|(_, r)| rows[*r].id).collect();
    let contents: Vec<&str> = keyed
        .iter()
        .map(|(_, r)| rows[*r].content.as_str())
        .collect();
    let authors: Vec<Option<&str>> = keyed
        .iter()
        .map(|(_, r)| rows[*r].author.as_deref())
        .collect();
    let times: Vec<i64> = vec![now_ms; keyed.len()];
    tx.execute(
        REMEMBER_KEYS,
        &[&clients, &keys, &ids, &contents, &authors, &times],
    )
    .await?;
    Ok(())
}

/// The answer to a repeat of an unexpired key: its message as stored now, unless the body
/// differs or the message is gone (deleted, or absent after a restore).
async fn earlier(
    tx: &impl GenericClient,
    key: &IdempotencyKey,
    new: &NewMessage,
    now_ms: i64,
) -> Result<Option<Insertion>, DbError> {
    let since = now_ms - KEY_LIFETIME_MS;
    let Some(row) = tx
        .query_opt(EARLIER, &[&key.client, &key.key, &since])
        .await?
    else {
        return Ok(None);
    };
    let content: String = row.get(0);
    let author: Option<String> = row.get(1);
    if content != new.content() || author.as_deref() != new.author() {
        return Ok(Some(Insertion::OtherBody));
    }
    let found: Option<i64> = row.get(2);
    let deleted: Option<bool> = row.get(8);
    Ok(Some(match (found, deleted) {
        (Some(_), Some(false)) => Insertion::Repeated(message(&row, 2)),
        _ => Insertion::Deleted,
    }))
}

/// Leaves a tombstone (see `db::tombstone`), row-locked against the sync worker's marks,
/// and tells the other nodes.
async fn delete(pool: &Pool, id: i64, node: NodeId) -> Result<Tombstone, DbError> {
    let mut session = pool.get().await.map_err(pool_error)?;
    let client: &mut tokio_postgres::Client = &mut session;
    let tx = client.transaction().await?;
    let was_synced: Option<bool> = tx
        .query_opt(
            "SELECT synced FROM messages WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
            &[&id],
        )
        .await?
        .map(|row| row.get(0));
    let Some(was_synced) = was_synced else {
        return Ok(Tombstone::Missing);
    };
    tx.execute(
        "UPDATE messages SET content = '', author = NULL, deleted_at = $2, synced = false \
         WHERE id = $1",
        &[&id, &now_rfc3339()],
    )
    .await?;
    let announce = format!("d:{node}:{id}:{}", u8::from(was_synced));
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &announce])
        .await?;
    tx.commit().await?;
    Ok(if was_synced {
        Tombstone::WasSynced
    } else {
        Tombstone::WasPending
    })
}

async fn purge(pool: &Pool) {
    let horizon = chrono::Utc::now().timestamp_millis() - KEY_LIFETIME_MS;
    let result = async {
        let client = pool.get().await.map_err(pool_error)?;
        let n = client
            .execute(
                "DELETE FROM idempotency WHERE created_at_ms <= $1",
                &[&horizon],
            )
            .await?;
        Ok::<u64, DbError>(n)
    };
    match bounded(result).await {
        Ok(0) => {}
        Ok(n) => log::debug!("forgot {n} expired idempotency key(s)"),
        Err(err) => log::warn!("could not delete expired idempotency keys: {err}"),
    }
}
