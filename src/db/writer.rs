//! The writer thread: it owns the only read-write connection and commits inserts in batches.

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::DbError;
use crate::live::Live;
use crate::message::{Message, NewMessage};

/// The most inserts one transaction carries; bounds the latency of the last one in a batch.
const MAX_BATCH: usize = 512;

pub(super) enum WriteJob {
    Insert {
        message: NewMessage,
        reply: oneshot::Sender<Result<Message, DbError>>,
    },
    Stop,
}

type Pending = (NewMessage, oneshot::Sender<Result<Message, DbError>>);

/// Waits for an insert, takes every other one already queued, and commits them together:
/// one fsync for many messages, and each caller is answered only after that commit.
pub(super) fn run(mut conn: Connection, mut jobs: mpsc::Receiver<WriteJob>, live: &Live) {
    let mut batch: Vec<Pending> = Vec::new();
    let mut stopping = false;
    while !stopping {
        let Some(first) = jobs.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                WriteJob::Insert { message, reply } => batch.push((message, reply)),
                WriteJob::Stop => stopping = true,
            }
            if batch.len() < MAX_BATCH && !stopping {
                next = jobs.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit(&mut conn, &mut batch, live);
        }
    }
    log::debug!("database writer stopped");
}

fn commit(conn: &mut Connection, batch: &mut Vec<Pending>, live: &Live) {
    match insert_all(conn, batch.iter().map(|(message, _)| message)) {
        Ok(stored) => {
            // Visible to polls and streams before any sender hears "201".
            live.created(&stored);
            for ((_, reply), message) in batch.drain(..).zip(stored) {
                // The caller may have gone away (client hung up); the row is stored anyway.
                let _ = reply.send(Ok(message));
            }
        }
        Err(err) => {
            log::error!("could not commit {} message(s): {err}", batch.len());
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(DbError::Commit(err.to_string())));
            }
        }
    }
}

fn insert_all<'a>(
    conn: &mut Connection,
    messages: impl Iterator<Item = &'a NewMessage>,
) -> rusqlite::Result<Vec<Message>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut stored = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO messages (content, author, created_at, synced) VALUES (?1, ?2, ?3, 0)",
        )?;
        for message in messages {
            let created_at = now_rfc3339();
            stmt.execute((message.content(), message.author(), &created_at))?;
            stored.push(Message {
                id: tx.last_insert_rowid(),
                content: message.content().to_owned(),
                author: message.author().map(str::to_owned),
                created_at,
                git_commit_hash: None,
                synced: false,
            });
        }
    }
    tx.commit()?;
    Ok(stored)
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-25T06:48:08.123Z`: the one shape of
/// every time BookChat stores or shows.
pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn now_rfc3339() -> String {
    rfc3339(chrono::Utc::now())
}

/// Deletes a message, leaving a tombstone: its id and creation time stay (so its file can
/// be found and ids are never reused), its text and author are wiped at once, and
/// `synced = 0` queues the removal of its file from GitHub. `false` when there is no such
/// message or it was deleted already.
pub fn tombstone(conn: &rusqlite::Connection, id: i64, at: &str) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE messages SET content = '', author = NULL, deleted_at = ?2, synced = 0 \
         WHERE id = ?1 AND deleted_at IS NULL",
        (id, at),
    )?;
    Ok(changed == 1)
}
