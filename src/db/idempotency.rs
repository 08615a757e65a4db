//! Idempotency keys: what a client's earlier `POST /api/messages` with a key created, so a
//! repeat answers that message instead of storing another. Only the writer thread reads
//! and writes them, inside its batch transaction, so a repeat can never race the original.

use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::message::{Message, NewMessage};

/// How long a key answers for its message; older ones are forgotten.
pub const KEY_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;

/// A key as one client sent it. `client` is the contract's client (the address, IPv6 by
/// its /64), so two clients that happen to pick the same key never see each other's message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub client: String,
    pub key: String,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insertion {
    /// A new message was stored.
    Created(Message),
    /// The key was used before with the same body: its message, as stored now.
    Repeated(Message),
    /// The key was used before with another body; nothing was stored.
    OtherBody,
    /// The key's message has since been deleted; nothing was stored.
    Deleted,
}

/// The body an earlier use of a key stored, and the message it made.
pub(super) struct Earlier {
    message_id: i64,
    content: String,
    author: Option<String>,
}

impl Earlier {
    pub(super) fn same_body(&self, message: &NewMessage) -> bool {
        self.content == message.content() && self.author.as_deref() == message.author()
    }
}

/// The unexpired earlier use of `key`, if any.
pub(super) fn lookup(
    tx: &Transaction<'_>,
    key: &IdempotencyKey,
    now_ms: i64,
) -> rusqlite::Result<Option<Earlier>> {
    tx.prepare_cached(
        "SELECT message_id, content, author FROM idempotency \
         WHERE client = ?1 AND key = ?2 AND created_at_ms > ?3",
    )?
    .query_row((&key.client, &key.key, now_ms - KEY_LIFETIME_MS), |row| {
        Ok(Earlier {
            message_id: row.get(0)?,
            content: row.get(1)?,
            author: row.get(2)?,
        })
    })
    .optional()
}

/// The answer to a repeat of `earlier`: its message as stored now, unless the body differs
/// or the message is gone (a tombstone, or no row at all after a restore).
pub(super) fn answer(
    tx: &Transaction<'_>,
    earlier: &Earlier,
    message: &NewMessage,
) -> rusqlite::Result<Insertion> {
    if !earlier.same_body(message) {
        return Ok(Insertion::OtherBody);
    }
    let found = tx
        .prepare_cached(
            "SELECT id, content, author, created_at, git_commit_hash, synced, deleted_at \
             FROM messages WHERE id = ?1",
        )?
        .query_row([earlier.message_id], |row| {
            let deleted: Option<String> = row.get(6)?;
            Ok((super::queries::from_row(row)?, deleted.is_some()))
        })
        .optional()?;
    Ok(match found {
        Some((stored, false)) => Insertion::Repeated(stored),
        Some((_, true)) | None => Insertion::Deleted,
    })
}

/// Records that `key` created `stored`. REPLACE: an expired use of the same key that the
/// purge has not reached yet gives way to this one.
pub(super) fn remember(
    tx: &Transaction<'_>,
    key: &IdempotencyKey,
    stored: &Message,
    now_ms: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO idempotency \
         (client, key, message_id, content, author, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute((
        &key.client,
        &key.key,
        stored.id,
        &stored.content,
        &stored.author,
        now_ms,
    ))?;
    Ok(())
}

/// Forgets the keys older than their lifetime; an index range delete, however many remain.
pub(super) fn purge_expired(conn: &Connection, now_ms: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM idempotency WHERE created_at_ms <= ?1")?
        .execute([now_ms - KEY_LIFETIME_MS])
}

#[cfg(test)]
mod tests {
    use super::super::writer::insert_all;
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    use super::super::in_memory as migrated;

    fn key(client: &str, key: &str) -> IdempotencyKey {
        IdempotencyKey {
            client: client.into(),
            key: key.into(),
        }
    }

    fn body(text: &str) -> NewMessage {
        NewMessage::parse(text, Some("ann")).unwrap()
    }

    /// One batch of `(text, key)` inserts at `now_ms`.
    fn batch(
        conn: &mut Connection,
        items: &[(&str, &IdempotencyKey)],
        now_ms: i64,
    ) -> Vec<Insertion> {
        let messages: Vec<(NewMessage, &IdempotencyKey)> =
            items.iter().map(|(text, key)| (body(text), *key)).collect();
        insert_all(conn, messages.iter().map(|(m, k)| (m, Some(*k))), now_ms).unwrap()
    }

    fn rows(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_repeat_in_the_same_batch_answers_the_message_of_the_first() {
        let mut conn = migrated();
        let k = key("127.0.0.1", "k1");
        let answers = batch(&mut conn, &[("hi", &k), ("hi", &k), ("other", &k)], T0);
        let Insertion::Created(first) = &answers[0] else {
            panic!("{answers:?}");
        };
        assert_eq!(answers[1], Insertion::Repeated(first.clone()));
        assert_eq!(answers[2], Insertion::OtherBody);
        assert_eq!(rows(&conn, "messages"), 1);
    }

    #[test]
    fn keys_are_per_client_and_answer_the_message_as_stored_now() {
        let mut conn = migrated();
        let (a, b) = (key("127.0.0.1", "same"), key("2001:db8::", "same"));
        let first = batch(&mut conn, &[("hi", &a), ("hi", &b)], T0);
        assert!(
            first.iter().all(|x| matches!(x, Insertion::Created(_))),
            "{first:?}"
        );
        conn.execute(
            "UPDATE messages SET synced = 1, git_commit_hash = 'abc' WHERE id = 1",
            [],
        )
        .unwrap();
        let again = batch(&mut conn, &[("hi", &a)], T0 + 1000);
        let Insertion::Repeated(stored) = &again[0] else {
            panic!("{again:?}");
        };
        assert_eq!((stored.id, stored.synced), (1, true));
        assert_eq!(stored.git_commit_hash.as_deref(), Some("abc"));
        assert_eq!(rows(&conn, "messages"), 2);
    }

    #[test]
    fn a_deleted_message_is_gone_but_another_body_is_still_refused_first() {
        let mut conn = migrated();
        let k = key("127.0.0.1", "k");
        batch(&mut conn, &[("hi", &k)], T0);
        assert!(
            super::super::tombstone(&conn, 1, "2027-01-01T00:00:00.000Z")
                .unwrap()
                .deleted()
        );
        assert_eq!(
            batch(&mut conn, &[("hi", &k)], T0 + 1),
            [Insertion::Deleted]
        );
        assert_eq!(
            batch(&mut conn, &[("bye", &k)], T0 + 2),
            [Insertion::OtherBody]
        );
        assert_eq!(rows(&conn, "messages"), 1);
    }

    #[test]
    fn keys_expire_after_a_day_and_are_purged() {
        let mut conn = migrated();
        let k = key("127.0.0.1", "k");
        batch(&mut conn, &[("hi", &k)], T0);
        let last_moment = T0 + KEY_LIFETIME_MS - 1;
        assert!(matches!(
            batch(&mut conn, &[("hi", &k)], last_moment)[0],
            Insertion::Repeated(_)
        ));
        assert_eq!(purge_expired(&conn, last_moment).unwrap(), 0);
        // Expired but not yet purged: the key is free again and now names the new message.
        let expired = T0 + KEY_LIFETIME_MS;
        let reused = batch(&mut conn, &[("hi", &k)], expired);
        assert!(
            matches!(&reused[0], Insertion::Created(m) if m.id == 2),
            "{reused:?}"
        );
        assert_eq!(purge_expired(&conn, expired + KEY_LIFETIME_MS).unwrap(), 1);
        assert_eq!(rows(&conn, "idempotency"), 0);
    }
}
