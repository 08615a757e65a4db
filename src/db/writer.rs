//! The writer thread: it owns the only read-write connection and commits inserts in batches.

use rusqlite::{CachedStatement, Connection, OptionalExtension, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::idempotency::{self, IdempotencyKey, Insertion};
use super::DbError;
use crate::live::Live;
use crate::message::{Message, NewMessage};

/// The most inserts one transaction carries; bounds the latency of the last one in a batch.
const MAX_INSERTS_PER_TX: usize = 512;
/// How often expired idempotency keys are deleted: often enough that the table holds
/// little more than a day of keys, seldom enough to cost nothing.
const PURGE_EVERY_MS: i64 = 60 * 1000;

/// One message to store, with the idempotency key it was sent with, if any. Both stores'
/// writers take these jobs: SQLite's thread and each PostgreSQL node's task.
pub(crate) struct Insert {
    pub message: NewMessage,
    pub key: Option<IdempotencyKey>,
    pub reply: oneshot::Sender<Result<Insertion, DbError>>,
}

pub(crate) enum WriteJob {
    Insert(Insert),
    /// A moderator's deletion: here, so the counters hear of it in commit order.
    Delete {
        id: i64,
        reply: oneshot::Sender<Result<Tombstone, DbError>>,
    },
    Stop,
}

/// Queues an insert and waits for its commit: the one way a caller reaches either writer.
pub(crate) async fn submit_insert(
    jobs: &mpsc::Sender<WriteJob>,
    message: NewMessage,
    key: Option<IdempotencyKey>,
) -> Result<Insertion, DbError> {
    let (reply, answer) = oneshot::channel();
    jobs.send(WriteJob::Insert(Insert {
        message,
        key,
        reply,
    }))
    .await
    .map_err(|_| DbError::Closed)?;
    answer.await.map_err(|_| DbError::Closed)?
}

/// Queues a deletion after the inserts queued before it, and waits for its commit.
pub(crate) async fn submit_delete(
    jobs: &mpsc::Sender<WriteJob>,
    id: i64,
) -> Result<Tombstone, DbError> {
    let (reply, answer) = oneshot::channel();
    jobs.send(WriteJob::Delete { id, reply })
        .await
        .map_err(|_| DbError::Closed)?;
    answer.await.map_err(|_| DbError::Closed)?
}

/// Inserts one message with the next id: above every stored id and above the id floor, so
/// a restore of an older backup never hands out an id that was issued before. Both maxima
/// are b-tree lookups (the rowid's last entry, the floor's one row), not scans.
const NEXT_MESSAGE: &str = "INSERT INTO messages (id, content, author, created_at, synced) \
     VALUES ((SELECT max(coalesce((SELECT max(id) FROM messages), 0), \
                         coalesce((SELECT max(id) FROM id_floor), 0)) + 1), \
             ?1, ?2, ?3, 0)";

/// Waits for an insert, takes every other one already queued, and commits them together:
/// one fsync for many messages, and each caller is answered only after that commit.
pub(super) fn run(mut conn: Connection, mut jobs: mpsc::Receiver<WriteJob>, live: &Live) {
    let mut batch: Vec<Insert> = Vec::new();
    let mut stopping = false;
    let mut purged_at_ms = i64::MIN;
    while !stopping {
        let Some(first) = jobs.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                WriteJob::Insert(insert) => batch.push(insert),
                WriteJob::Delete { id, reply } => {
                    // Inserts queued before the deletion commit before it.
                    if !batch.is_empty() {
                        let now_ms = chrono::Utc::now().timestamp_millis();
                        commit(&mut conn, &mut batch, live, now_ms);
                    }
                    let _ = reply.send(delete(&conn, id, live));
                }
                WriteJob::Stop => stopping = true,
            }
            if batch.len() < MAX_INSERTS_PER_TX && !stopping {
                next = jobs.try_recv().ok();
            }
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        if !batch.is_empty() {
            commit(&mut conn, &mut batch, live, now_ms);
        }
        if now_ms.saturating_sub(purged_at_ms) >= PURGE_EVERY_MS {
            purged_at_ms = now_ms;
            match idempotency::purge_expired(&conn, now_ms) {
                Ok(0) => {}
                Ok(n) => log::debug!("forgot {n} expired idempotency key(s)"),
                Err(err) => log::warn!("could not delete expired idempotency keys: {err}"),
            }
        }
    }
    log::debug!("database writer stopped");
}

fn commit(conn: &mut Connection, batch: &mut Vec<Insert>, live: &Live, now_ms: i64) {
    let inserts = batch.iter().map(|i| (&i.message, i.key.as_ref()));
    let outcome = insert_all(conn, inserts, now_ms);
    if let Ok(answers) = &outcome {
        // Visible to polls and streams before any sender hears "201".
        live.created(&created(answers));
    }
    reply_all(batch, outcome);
}

/// The messages a batch's answers created, in id order.
pub(crate) fn created(answers: &[Insertion]) -> Vec<Message> {
    answers
        .iter()
        .filter_map(|answer| match answer {
            Insertion::Created(message) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// Answers every caller of a batch, in order: its own answer once the batch committed,
/// else the commit's error. Both stores' writers end a batch here.
pub(crate) fn reply_all<E: std::fmt::Display>(
    batch: &mut Vec<Insert>,
    outcome: Result<Vec<Insertion>, E>,
) {
    match outcome {
        Ok(answers) => {
            for (insert, answer) in batch.drain(..).zip(answers) {
                // The caller may have gone away (client hung up); the row is stored anyway.
                let _ = insert.reply.send(Ok(answer));
            }
        }
        Err(err) => {
            log::error!("could not commit {} message(s): {err}", batch.len());
            for insert in batch.drain(..) {
                let _ = insert.reply.send(Err(DbError::Commit(err.to_string())));
            }
        }
    }
}

fn delete(conn: &Connection, id: i64, live: &Live) -> Result<Tombstone, DbError> {
    let outcome = tombstone(conn, id, &now_rfc3339())?;
    if outcome.deleted() {
        live.deleted(id, outcome == Tombstone::WasSynced);
    }
    Ok(outcome)
}

/// Stores a batch in one transaction. A keyed insert first looks for its key, and finds it
/// also when an insert earlier in this batch used it (the transaction sees its own rows);
/// a new message's key is written in the same transaction, so both are durable together.
pub(super) fn insert_all<'a>(
    conn: &mut Connection,
    inserts: impl Iterator<Item = (&'a NewMessage, Option<&'a IdempotencyKey>)>,
    now_ms: i64,
) -> rusqlite::Result<Vec<Insertion>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut answers = Vec::new();
    {
        let mut stmt = tx.prepare_cached(NEXT_MESSAGE)?;
        for (message, key) in inserts {
            if let Some(key) = key {
                if let Some(earlier) = idempotency::lookup(&tx, key, now_ms)? {
                    answers.push(idempotency::answer(&tx, &earlier, message)?);
                    continue;
                }
            }
            let stored = insert_one(&tx, &mut stmt, message)?;
            if let Some(key) = key {
                idempotency::remember(&tx, key, &stored, now_ms)?;
            }
            answers.push(Insertion::Created(stored));
        }
    }
    tx.commit()?;
    Ok(answers)
}

fn insert_one(
    tx: &Transaction<'_>,
    stmt: &mut CachedStatement<'_>,
    message: &NewMessage,
) -> rusqlite::Result<Message> {
    let created_at = now_rfc3339();
    stmt.execute((message.content(), message.author(), &created_at))?;
    Ok(Message {
        id: tx.last_insert_rowid(),
        content: message.content().to_owned(),
        author: message.author().map(str::to_owned),
        created_at,
        git_commit_hash: None,
        synced: false,
    })
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-25T06:48:08.123Z`: the one shape of
/// every time BookChat stores or shows.
pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn now_rfc3339() -> String {
    rfc3339(chrono::Utc::now())
}

/// What a deletion found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tombstone {
    /// No such message, or it was deleted already: nothing changed.
    Missing,
    /// The message was still waiting for GitHub; it stays queued, now as a removal.
    WasPending,
    /// The message was on GitHub; it is queued again, for the removal of its file.
    WasSynced,
}

impl Tombstone {
    pub fn deleted(self) -> bool {
        self != Tombstone::Missing
    }
}

/// Deletes a message, leaving a tombstone: its id and creation time stay (so its file can
/// be found and ids are never reused), its text and author are wiped at once, and
/// `synced = 0` queues the removal of its file from GitHub. While serving, go through
/// `Db::delete`, so the pending count hears of it; this is for offline use.
pub fn tombstone(conn: &Connection, id: i64, at: &str) -> rusqlite::Result<Tombstone> {
    // Immediate: the sync worker cannot mark the row between the look and the update, so
    // the answer says truly whether this put it back in the queue.
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let was_synced: Option<bool> = tx
        .prepare_cached("SELECT synced FROM messages WHERE id = ?1 AND deleted_at IS NULL")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    tx.execute(
        "UPDATE messages SET content = '', author = NULL, deleted_at = ?2, synced = 0 \
         WHERE id = ?1 AND deleted_at IS NULL",
        (id, at),
    )?;
    tx.commit()?;
    Ok(match was_synced {
        None => Tombstone::Missing,
        Some(false) => Tombstone::WasPending,
        Some(true) => Tombstone::WasSynced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::in_memory as migrated;

    fn post(conn: &mut Connection, texts: &[&str]) -> Vec<i64> {
        let messages: Vec<NewMessage> = texts
            .iter()
            .map(|t| NewMessage::parse(t, None).unwrap())
            .collect();
        let answers = insert_all(conn, messages.iter().map(|m| (m, None)), 0).unwrap();
        answers
            .into_iter()
            .map(|answer| match answer {
                Insertion::Created(m) => m.id,
                other => panic!("unkeyed inserts always create: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn new_ids_start_above_both_the_largest_id_and_the_floor() {
        let mut conn = migrated();
        assert_eq!(post(&mut conn, &["a", "b"]), [1, 2]);
        conn.execute("UPDATE id_floor SET id = 40", []).unwrap();
        // The id answered is the id stored (`last_insert_rowid` sees the explicit id).
        assert_eq!(post(&mut conn, &["c", "d"]), [41, 42]);
        let stored: Vec<i64> = conn
            .prepare("SELECT id FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(stored, [1, 2, 41, 42]);
        // A floor below the largest id changes nothing; deleting rows never lowers an id.
        conn.execute("UPDATE id_floor SET id = 3", []).unwrap();
        conn.execute("DELETE FROM messages WHERE id > 2", [])
            .unwrap();
        assert_eq!(post(&mut conn, &["e"]), [4]);
    }

    #[test]
    fn the_next_id_is_looked_up_not_scanned_for() {
        let conn = migrated();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {NEXT_MESSAGE}"))
            .unwrap()
            .query_map(("x", "y", "z"), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        // `max(id)` of the rowid reads the b-tree's last entry: no step of the plan scans
        // `messages`, however many rows it holds.
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN messages")),
            "{plan:?}"
        );
        assert!(
            plan.iter().any(|step| step == "SEARCH messages"),
            "{plan:?}"
        );
    }
}
