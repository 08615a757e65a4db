//! What is new, in memory: the newest messages, the highest id, the message counts, and a
//! broadcast of every new message and sync change. The writer thread and the sync worker
//! feed it after their commits; polls, event streams and `/api/stats` read it without
//! touching SQLite.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::{broadcast, watch};

use crate::message::{Message, Page};

/// Messages kept in memory: one full page at the largest `limit`.
pub const CACHED: u32 = 200;
/// Events a slow stream may fall behind before it re-reads from the database.
const EVENT_BUFFER: usize = 1024;

#[derive(Debug, Clone)]
pub enum Event {
    Created(Arc<Message>),
    Synced(Arc<Message>),
    /// The sync state changed; the JSON of the `sync` object of `/api/stats`.
    Sync(Arc<str>),
    /// A moderator deleted the message with this id.
    Deleted(i64),
}

pub struct Live {
    last_id: AtomicI64,
    // Counted once when the database opens, then moved by whoever commits a change: SQLite
    // keeps no row count, and a `count(*)` per `/metrics` scrape walks the whole table.
    total: AtomicI64,
    pending: AtomicI64,
    // RwLock: every poll reads it, only the writer and the sync worker write it, each once
    // per commit; held for a copy of at most a page, never across I/O or an await.
    newest: RwLock<Newest>,
    events: broadcast::Sender<Event>,
    closing: watch::Sender<bool>,
    streams: AtomicUsize,
    // RwLock: read by each new stream, written by the sync worker when its state changes.
    sync: RwLock<Option<Arc<str>>>,
}

struct Newest {
    messages: VecDeque<Message>,
    /// True while `messages` holds every message there is (the database is small).
    complete: bool,
}

impl Live {
    /// Starts from the newest messages as stored (oldest first) and the counts of all
    /// messages and of those not yet synced, as stored.
    pub fn new(newest: Vec<Message>, total: i64, pending: i64) -> Live {
        let complete = newest.len() < CACHED as usize;
        let last_id = newest.last().map_or(0, |m| m.id);
        Live {
            last_id: AtomicI64::new(last_id),
            total: AtomicI64::new(total),
            pending: AtomicI64::new(pending),
            newest: RwLock::new(Newest {
                messages: newest.into(),
                complete,
            }),
            events: broadcast::channel(EVENT_BUFFER).0,
            closing: watch::channel(false).0,
            streams: AtomicUsize::new(0),
            sync: RwLock::new(None),
        }
    }

    /// The highest id committed: a poll above it has nothing to fetch.
    pub fn last_id(&self) -> i64 {
        self.last_id.load(Ordering::Acquire)
    }

    /// Records messages the writer has just committed, then announces them. Called before
    /// any POST in the batch is answered, so a 201 implies the message is visible here.
    pub fn created(&self, stored: &[Message]) {
        let top = stored.last().map_or(0, |m| m.id);
        self.created_upto(stored, top);
    }

    /// Records committed messages (oldest first) and that every id up to `top` is
    /// committed, then announces them. A message at or below the last id seen is skipped:
    /// on PostgreSQL both this node's writer and its listener may bring the same commit,
    /// in either order. The announcements go out under the lock, so every stream hears
    /// them in id order whoever brings them.
    pub fn created_upto(&self, stored: &[Message], top: i64) {
        let mut newest = self.newest.write().unwrap_or_else(PoisonError::into_inner);
        let last = self.last_id.load(Ordering::Acquire);
        let fresh: Vec<&Message> = stored.iter().filter(|m| m.id > last).collect();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.total.fetch_add(count(fresh.len()), Ordering::AcqRel);
        let unsynced = fresh.iter().filter(|m| !m.synced).count();
        self.pending.fetch_add(count(unsynced), Ordering::AcqRel);
        newest.messages.extend(fresh.iter().map(|m| (*m).clone()));
        while newest.messages.len() > CACHED as usize {
            newest.messages.pop_front();
            newest.complete = false;
        }
        if top > last {
            self.last_id.store(top, Ordering::Release);
        }
        for message in fresh {
            // No receivers is fine: nobody is streaming.
            let _ = self.events.send(Event::Created(Arc::new(message.clone())));
        }
    }

    /// Records messages the sync worker has just marked synced, then announces them.
    pub fn synced(&self, messages: &[Message]) {
        {
            let mut newest = self.newest.write().unwrap_or_else(PoisonError::into_inner);
            for message in messages {
                let found = newest.messages.binary_search_by_key(&message.id, |m| m.id);
                if let Ok(index) = found {
                    newest.messages[index] = message.clone();
                }
            }
        }
        for message in messages {
            let _ = self.events.send(Event::Synced(Arc::new(message.clone())));
        }
    }

    /// Counts rows that have left the sync queue (`rows` as the `UPDATE` changed them, not
    /// as planned: a row deleted meanwhile stays queued).
    pub fn unqueued(&self, rows: usize) {
        let n = i64::try_from(rows).unwrap_or(i64::MAX);
        self.pending.fetch_sub(n, Ordering::AcqRel);
    }

    /// Records a deletion the writer has just committed: the message leaves memory (so no
    /// listing shows it again), then every stream hears of it. `requeued` is true when the
    /// message had been synced and is queued again, for the removal of its file.
    pub fn deleted(&self, id: i64, requeued: bool) {
        if requeued {
            self.pending.fetch_add(1, Ordering::AcqRel);
        }
        {
            let mut newest = self.newest.write().unwrap_or_else(PoisonError::into_inner);
            if let Ok(index) = newest.messages.binary_search_by_key(&id, |m| m.id) {
                newest.messages.remove(index);
            }
        }
        let _ = self.events.send(Event::Deleted(id));
    }

    /// (all messages, those not yet synced), tombstones included, as committed. Each is
    /// exact; read together, a commit may fall between the two loads.
    pub fn counts(&self) -> (i64, i64) {
        let total = self.total.load(Ordering::Acquire);
        let pending = self.pending.load(Ordering::Acquire);
        (total, pending.clamp(0, total))
    }

    /// Announces a change of the sync state (`json` is the `sync` object of `/api/stats`)
    /// and keeps it for streams that open later.
    pub fn sync_changed(&self, json: String) {
        let json: Arc<str> = json.into();
        *self.sync.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&json));
        let _ = self.events.send(Event::Sync(json));
    }

    /// The latest sync state announced, if any.
    pub fn sync_state(&self) -> Option<Arc<str>> {
        self.sync
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Answers a listing from memory when memory holds the whole answer.
    pub fn page(&self, page: Page, limit: usize) -> Option<Vec<Message>> {
        let newest = self.newest.read().unwrap_or_else(PoisonError::into_inner);
        let all = &newest.messages;
        let oldest = all.front().map_or(i64::MAX, |m| m.id);
        match page {
            Page::Newest if newest.complete || limit <= all.len() => Some(
                all.iter()
                    .skip(all.len().saturating_sub(limit))
                    .cloned()
                    .collect(),
            ),
            Page::After(id) if newest.complete || id >= oldest - 1 => Some(
                all.iter()
                    .filter(|m| m.id > id)
                    .take(limit)
                    .cloned()
                    .collect(),
            ),
            Page::Before(id) => {
                let below: Vec<&Message> = all.iter().filter(|m| m.id < id).collect();
                (newest.complete || below.len() >= limit).then(|| {
                    below[below.len().saturating_sub(limit)..]
                        .iter()
                        .map(|m| (*m).clone())
                        .collect()
                })
            }
            _ => None,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Resolves once the server starts shutting down: event streams end so that
    /// connections can drain.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Counts an open event stream; `None` when `max` are open already.
    pub fn open_stream(self: &Arc<Self>, max: usize) -> Option<StreamSlot> {
        let taken = self.streams.fetch_add(1, Ordering::AcqRel);
        if taken >= max {
            self.streams.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(StreamSlot(Arc::clone(self)))
    }

    pub fn open_streams(&self) -> usize {
        self.streams.load(Ordering::Relaxed)
    }
}

/// Held by an open event stream; gives its slot back when dropped.
pub struct StreamSlot(Arc<Live>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64) -> Message {
        Message {
            id,
            content: format!("m{id}"),
            author: None,
            created_at: "2026-11-25T00:00:00.000Z".into(),
            git_commit_hash: None,
            synced: false,
        }
    }

    fn ids(messages: Option<Vec<Message>>) -> Option<Vec<i64>> {
        messages.map(|v| v.into_iter().map(|m| m.id).collect())
    }

    #[test]
    fn a_small_history_is_answered_entirely_from_memory() {
        let live = Live::new((1..=5).map(message).collect(), 5, 5);
        assert_eq!(live.last_id(), 5);
        assert_eq!(ids(live.page(Page::Newest, 3)), Some(vec![3, 4, 5]));
        assert_eq!(ids(live.page(Page::After(2), 2)), Some(vec![3, 4]));
        assert_eq!(ids(live.page(Page::After(5), 50)), Some(vec![]));
        assert_eq!(ids(live.page(Page::Before(4), 2)), Some(vec![2, 3]));
        assert_eq!(ids(live.page(Page::Before(2), 50)), Some(vec![1]));
    }

    #[test]
    fn the_same_commit_brought_twice_is_added_once_and_announced_once() {
        let live = Live::new(vec![message(1)], 1, 1);
        let mut events = live.subscribe();
        // The listener brings 2..=4; then the writer brings its own 3..=4 (late).
        live.created_upto(&[message(2), message(3), message(4)], 4);
        live.created(&[message(3), message(4)]);
        // A range that ended in a tombstone still moves the last id.
        live.created_upto(&[message(5)], 6);
        assert_eq!(live.last_id(), 6);
        assert_eq!(
            ids(live.page(Page::After(0), 50)),
            Some(vec![1, 2, 3, 4, 5])
        );
        assert_eq!(live.counts(), (5, 5));
        let mut announced = Vec::new();
        while let Ok(Event::Created(m)) = events.try_recv() {
            announced.push(m.id);
        }
        assert_eq!(announced, [2, 3, 4, 5]);
    }

    #[test]
    fn a_long_history_only_answers_what_memory_covers() {
        let live = Live::new((1..=i64::from(CACHED)).map(message).collect(), 200, 0);
        live.created(&[message(201), message(202)]);
        assert_eq!(live.last_id(), 202);
        // Memory now holds 3..=202.
        assert_eq!(ids(live.page(Page::Newest, 2)), Some(vec![201, 202]));
        assert_eq!(ids(live.page(Page::After(2), 1)), Some(vec![3]));
        assert_eq!(
            live.page(Page::After(1), 1),
            None,
            "message 2 is not in memory"
        );
        assert_eq!(live.page(Page::Before(10), 50), None);
        assert_eq!(ids(live.page(Page::Before(60), 50)).unwrap().len(), 50);
    }

    #[test]
    fn events_follow_commits_and_sync_updates_memory() {
        let live = Live::new(vec![message(1)], 1, 1);
        let mut events = live.subscribe();
        live.created(&[message(2)]);
        let mut synced = message(1);
        synced.synced = true;
        synced.git_commit_hash = Some("abc".into());
        live.synced(&[synced]);
        assert!(matches!(events.try_recv(), Ok(Event::Created(m)) if m.id == 2));
        assert!(matches!(events.try_recv(), Ok(Event::Synced(m)) if m.id == 1 && m.synced));
        let first = live.page(Page::Newest, 1).unwrap();
        assert_eq!(first[0].id, 2);
        assert!(live.page(Page::Before(2), 1).unwrap()[0].synced);
    }

    #[test]
    fn counts_follow_commits_syncs_and_deletions() {
        let live = Live::new(vec![message(1)], 1, 0);
        live.created(&[message(2), message(3)]);
        assert_eq!(live.counts(), (3, 2));
        live.unqueued(2);
        live.deleted(2, true);
        assert_eq!(live.counts(), (3, 1));
        live.deleted(3, false);
        assert_eq!(
            live.counts(),
            (3, 1),
            "a pending message was queued already"
        );
    }

    #[test]
    fn a_deleted_message_leaves_memory_and_is_announced() {
        let live = Live::new((1..=4).map(message).collect(), 4, 4);
        let mut events = live.subscribe();
        live.deleted(2, false);
        live.deleted(9, false);
        assert_eq!(ids(live.page(Page::Newest, 50)), Some(vec![1, 3, 4]));
        assert_eq!(ids(live.page(Page::After(1), 50)), Some(vec![3, 4]));
        assert!(matches!(events.try_recv(), Ok(Event::Deleted(2))));
        assert!(matches!(events.try_recv(), Ok(Event::Deleted(9))));
        assert_eq!(live.last_id(), 4, "ids are never reused");
    }

    #[test]
    fn stream_slots_are_capped_and_given_back() {
        let live = Arc::new(Live::new(vec![], 0, 0));
        let a = live.open_stream(2).unwrap();
        let _b = live.open_stream(2).unwrap();
        assert!(live.open_stream(2).is_none());
        drop(a);
        assert!(live.open_stream(2).is_some());
    }
}
