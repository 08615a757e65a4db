//! The node's listener: a session of its own that `LISTEN`s on the channel every commit
//! announces itself on, reads what other nodes committed and feeds this node's live page
//! and streams. Notifications are lost while it reconnects, so each (re)connection first
//! catches up from the last id this node has seen.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Client};

use super::connect::{PgConnection, Target};
use super::feed::Feed;
use super::rows::{message, MESSAGE_COLUMNS};
use super::schema::{CHANNEL, SERVE_LOCK};
use super::NodeId;
use crate::db::DbError;
use crate::live::Live;

/// Waits between reconnection attempts: short at first, since a restart is quick.
const FIRST_RETRY: Duration = Duration::from_millis(200);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// What a notification says (see `writer` and `queue` for who sends which).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Note {
    /// Messages up to this id are committed.
    Created(i64),
    /// A node deleted a message; `requeued` when it had been synced.
    Deleted { node: u64, id: i64, requeued: bool },
    /// The syncing node marked rows in `low..=high` as in `commit`, taking `left` rows off
    /// the queue.
    Synced {
        node: u64,
        low: i64,
        high: i64,
        left: usize,
        commit: String,
    },
    /// The syncing node's state changed: the `sync` object of `/api/stats`.
    SyncState { node: u64, json: String },
}

impl Note {
    pub(super) fn parse(payload: &str) -> Option<Note> {
        let (kind, rest) = payload.split_once(':')?;
        let node = |s: &str| u64::from_str_radix(s, 16).ok();
        match kind {
            "c" => rest.parse().ok().map(Note::Created),
            "d" => {
                let mut p = rest.split(':');
                Some(Note::Deleted {
                    node: node(p.next()?)?,
                    id: p.next()?.parse().ok()?,
                    requeued: p.next()? == "1",
                })
            }
            "s" => {
                let mut p = rest.splitn(5, ':');
                Some(Note::Synced {
                    node: node(p.next()?)?,
                    low: p.next()?.parse().ok()?,
                    high: p.next()?.parse().ok()?,
                    left: p.next()?.parse().ok()?,
                    commit: p.next()?.to_owned(),
                })
            }
            "y" => {
                let (who, json) = rest.split_once(':')?;
                Some(Note::SyncState {
                    node: node(who)?,
                    json: json.to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// Runs until `stop` turns true. `listening` turns true once the first `LISTEN` is in
/// place (start-up waits for it, so no commit made after start is missed), and follows
/// the session's state after that (health reads it).
pub(super) async fn run(
    target: Target,
    feed: Arc<Feed>,
    node: NodeId,
    listening: watch::Sender<bool>,
    on_created: Arc<dyn Fn() + Send + Sync>,
    mut stop: watch::Receiver<bool>,
) {
    let mut retry = FIRST_RETRY;
    let mut reported = false;
    while !*stop.borrow() {
        match open(&target).await {
            Ok((client, mut notes)) => {
                retry = FIRST_RETRY;
                if reported {
                    log::info!("PostgreSQL listener reconnected; catching up");
                    reported = false;
                }
                let _ = listening.send(true);
                let session = Session {
                    client: &client,
                    feed: &feed,
                    live: feed.live(),
                    node,
                    on_created: &*on_created,
                };
                if let Err(err) = session.serve(&mut notes, &mut stop).await {
                    log::warn!("PostgreSQL listener lost its session: {err}");
                    reported = true;
                }
                let _ = listening.send(false);
            }
            Err(err) => {
                if !reported {
                    log::warn!("PostgreSQL listener cannot connect: {err}; retrying");
                    reported = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    _ = stop.changed() => {}
                }
                retry = (retry * 2).min(LAST_RETRY);
            }
        }
    }
}

/// A session that listens, holding the shared serve lock that keeps `import` away.
async fn open(target: &Target) -> Result<(Client, mpsc::UnboundedReceiver<String>), DbError> {
    let (client, connection) = target.watched().connect().await?;
    let notes = drive(connection);
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    let serving: bool = client
        .query_one("SELECT pg_try_advisory_lock_shared($1)", &[&SERVE_LOCK])
        .await?
        .get(0);
    if !serving {
        return Err(DbError::Postgres(
            "an import is running on this database; waiting for it to end".into(),
        ));
    }
    Ok((client, notes))
}

/// Polls the session's connection in a task of its own, passing on notification payloads;
/// the channel closes when the session ends.
fn drive(mut connection: PgConnection) -> mpsc::UnboundedReceiver<String> {
    let (sender, notes) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(note))) => {
                    if sender.send(note.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    log::debug!("PostgreSQL listener session: {err}");
                    return;
                }
                None => return,
            }
        }
    });
    notes
}

struct Session<'a> {
    client: &'a Client,
    feed: &'a Feed,
    live: &'a Live,
    node: NodeId,
    on_created: &'a (dyn Fn() + Send + Sync),
}

impl Session<'_> {
    async fn serve(
        &self,
        notes: &mut mpsc::UnboundedReceiver<String>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), DbError> {
        self.catch_up().await?;
        loop {
            tokio::select! {
                note = notes.recv() => match note {
                    Some(payload) => self.handle(&payload).await?,
                    None => return Err(DbError::Postgres("the session closed".into())),
                },
                _ = stop.changed() => return Ok(()),
            }
        }
    }

    async fn handle(&self, payload: &str) -> Result<(), DbError> {
        match Note::parse(payload) {
            Some(Note::Created(high)) if high > self.live.last_id() => self.catch_up().await,
            Some(Note::Deleted { node, id, requeued }) if node != self.node.0 => {
                self.live.deleted(id, requeued);
                Ok(())
            }
            Some(Note::Synced {
                node,
                low,
                high,
                left,
                commit,
            }) if node != self.node.0 => self.synced(low, high, left, &commit).await,
            Some(Note::SyncState { node, json }) if node != self.node.0 => {
                self.live.sync_changed(json);
                Ok(())
            }
            Some(_) => Ok(()),
            None => {
                log::debug!("ignored a notification this version does not know: {payload}");
                Ok(())
            }
        }
    }

    /// Reads every committed message above the last id this node has seen.
    async fn catch_up(&self) -> Result<(), DbError> {
        self.feed.catch_up(self.client).await?;
        (self.on_created)();
        Ok(())
    }

    async fn synced(&self, low: i64, high: i64, left: usize, commit: &str) -> Result<(), DbError> {
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id BETWEEN $1 AND $2 \
                     AND git_commit_hash = $3 AND deleted_at IS NULL ORDER BY id"
                ),
                &[&low, &high, &commit],
            )
            .await?;
        let messages: Vec<_> = rows.iter().map(|r| message(r, 0)).collect();
        self.live.unqueued(left);
        self.live.synced(&messages);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_parse_and_unknown_ones_do_not() {
        assert_eq!(Note::parse("c:42"), Some(Note::Created(42)));
        assert_eq!(
            Note::parse("d:ff:7:1"),
            Some(Note::Deleted {
                node: 255,
                id: 7,
                requeued: true
            })
        );
        assert_eq!(
            Note::parse("s:a:3:9:4:abc123"),
            Some(Note::Synced {
                node: 10,
                low: 3,
                high: 9,
                left: 4,
                commit: "abc123".into()
            })
        );
        assert_eq!(
            Note::parse("y:1:{\"a\":1}"),
            Some(Note::SyncState {
                node: 1,
                json: "{\"a\":1}".into()
            })
        );
        for bad in ["", "c", "c:x", "d:zz:1:1", "s:1:2", "q:1", "y:nothex:{}"] {
            assert_eq!(Note::parse(bad), None, "{bad}");
        }
    }
}
