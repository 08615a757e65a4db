//! The one way messages enter this node's live page on PostgreSQL. The writer (after its
//! own commits) and the listener (after other nodes') both come here, one at a time, and
//! the page only ever grows by whole id ranges read in order: since ids increase in commit
//! order, everything at or below a committed id is visible, so reading the range below it
//! leaves no hole that a poll or a stream could skip.

use std::sync::Arc;

use tokio_postgres::GenericClient;

use super::rows::{message, MESSAGE_COLUMNS};
use crate::db::DbError;
use crate::live::Live;
use crate::message::Message;

/// The most rows one read takes; a long catch-up reads again until it has all.
const PAGE: i64 = 1000;

pub(super) struct Feed {
    live: Arc<Live>,
    /// Held while a range is read and added, so two feeders never interleave.
    turn: tokio::sync::Mutex<()>,
}

impl Feed {
    pub(super) fn new(live: Arc<Live>) -> Feed {
        Feed {
            live,
            turn: tokio::sync::Mutex::new(()),
        }
    }

    pub(super) fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Adds every committed message above the page's last id.
    pub(super) async fn catch_up(&self, client: &impl GenericClient) -> Result<(), DbError> {
        let _turn = self.turn.lock().await;
        while self.read_range(client, i64::MAX).await? {}
        Ok(())
    }

    /// Adds everything up to `top`, where `known` holds the messages this node has just
    /// committed (ids ascending, ending at `top`): only the ids between the page's last
    /// and the first of `known`, committed by other nodes, are read. On one node there is
    /// no such gap, and nothing is read.
    pub(super) async fn through(
        &self,
        client: &impl GenericClient,
        known: &[Message],
        top: i64,
    ) -> Result<(), DbError> {
        let _turn = self.turn.lock().await;
        let first_known = known.first().map_or(top + 1, |m| m.id);
        while self.live.last_id() + 1 < first_known {
            if !self.read_range(client, first_known).await? {
                break;
            }
        }
        let last = self.live.last_id();
        let fresh: Vec<Message> = known.iter().filter(|m| m.id > last).cloned().collect();
        self.live.created_upto(&fresh, top);
        Ok(())
    }

    /// Reads one page of ids above the last one and below `below`, and adds it; answers
    /// whether a full page came (there may be more).
    async fn read_range(&self, client: &impl GenericClient, below: i64) -> Result<bool, DbError> {
        let after = self.live.last_id();
        let rows = client
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS}, deleted_at IS NOT NULL FROM messages \
                     WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3"
                ),
                &[&after, &below, &PAGE],
            )
            .await?;
        let Some(top) = rows.last().map(|r| r.get::<_, i64>(0)) else {
            return Ok(false);
        };
        // A tombstone is in no listing, but its id is counted as seen.
        let shown: Vec<Message> = rows
            .iter()
            .filter(|r| !r.get::<_, bool>(6))
            .map(|r| message(r, 0))
            .collect();
        self.live.created_upto(&shown, top);
        Ok(i64::try_from(rows.len()).unwrap_or(i64::MAX) == PAGE)
    }
}
