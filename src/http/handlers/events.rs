//! `GET /api/events`: Server-Sent Events. Every new message (with an `id:` to resume from),
//! every sync change and every deletion is pushed to each open stream as it happens;
//! `Last-Event-ID` resumes without gaps or repeats, across restarts too, because the
//! backlog comes from the database; a named heartbeat keeps idle streams alive. Each client may
//! hold a few streams, and a reader that stops reading is dropped with its connection.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame};
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::StatusCode;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::SendTimeoutError;

use crate::client_counts::ClientSlot;
use crate::db::{rfc3339, Page};
use crate::http::client_ip;
use crate::http::hangup::Hangup;
use crate::http::query::parse_id;
use crate::http::{ApiError, Request, Response};
use crate::live::{Event, Live, StreamSlot, CACHED};
use crate::message::Message;
use crate::state::AppState;
use crate::store::Store;

const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache, no-transform");
/// Tells nginx not to buffer the stream.
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// How many of the newest messages a stream's `snapshot` covers.
const SNAPSHOT_WINDOW: u32 = 500;
/// The most messages a stream replays after `Last-Event-ID` or after falling behind.
const MAX_REPLAY: i64 = 1000;
/// Frames queued for a slow client before its task waits (and, if it lags far enough
/// behind the broadcast, re-reads the backlog from the database).
const QUEUE: usize = 64;

pub async fn stream(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let live = state.store.live();
    let limits = &state.config.connections;
    // The client's share first: one greedy client is told so, and takes no global slot.
    let client = state
        .client_streams
        .acquire(client_ip::key_of(&req), limits.max_streams_per_client)
        .ok_or(ApiError::TooManyOpen(
            "too many open event streams from this client; close one first",
        ))?;
    let slot = live
        .open_stream(limits.max_event_streams)
        .ok_or(ApiError::Busy(
            "too many open event streams; try again later",
        ))?;
    let cursor = start_after(&req, live.last_id())?;
    let (frames, body) = mpsc::channel(QUEUE);
    let feed = Feed {
        store: state.store.clone(),
        live: Arc::clone(live),
        cursor,
        frames,
        reader_deadline: limits.slow_reader_deadline,
        hangup: req.extensions().get::<Hangup>().cloned(),
        _slots: (slot, client),
    };
    tokio::spawn(feed.run(limits.heartbeat));
    let mut response = Response::new(ChannelBody(body).boxed());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, EVENT_STREAM);
    headers.insert(CACHE_CONTROL, NO_CACHE);
    headers.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
    Ok(response)
}

/// Where the stream starts: after `Last-Event-ID` (what a reconnecting browser sends),
/// else after `?after=ID` (what the page sends first), else after the newest message. An
/// id above the newest (a page from before a restore) means "from now": otherwise every
/// new message up to that id would be skipped as already seen.
fn start_after(req: &Request, newest: i64) -> Result<i64, ApiError> {
    requested_start(req, newest).map(|after| after.min(newest))
}

fn requested_start(req: &Request, newest: i64) -> Result<i64, ApiError> {
    if let Some(value) = req.headers().get(LAST_EVENT_ID) {
        let text = value.to_str().unwrap_or("").trim();
        return parse_id(text)
            .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be a message id".into()));
    }
    let after = req.uri().query().unwrap_or("").split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "after").then_some(value)
    });
    match after {
        Some(value) => parse_id(value)
            .ok_or_else(|| ApiError::BadRequest("`after` must be a message id".into())),
        None => Ok(newest),
    }
}

/// One stream's task: the backlog, then live events, heartbeats, and an end at shutdown.
struct Feed {
    store: Store,
    live: Arc<Live>,
    /// The id of the last message sent: nothing at or below it is sent again.
    cursor: i64,
    frames: mpsc::Sender<Bytes>,
    /// How long a full queue may wait for the reader before the stream is dropped.
    reader_deadline: Duration,
    /// Closes the connection of a reader that stopped reading.
    hangup: Option<Hangup>,
    _slots: (StreamSlot, ClientSlot),
}

impl Feed {
    async fn run(mut self, heartbeat: Duration) {
        // Subscribe before reading the backlog: whatever commits in between arrives twice
        // at worst, and the cursor drops the second copy.
        let mut events = self.live.subscribe();
        let mut closing = self.live.closing();
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        if *closing.borrow_and_update() {
            return;
        }
        if !self.send(Bytes::from_static(b"retry: 2000\n\n")).await
            || !self.snapshot().await
            || !self.backlog().await
        {
            return;
        }
        if let Some(sync) = self.live.sync_state() {
            if !self.send(sync_frame(&sync)).await {
                return;
            }
        }
        loop {
            let going = tokio::select! {
                event = events.recv() => match event {
                    Ok(Event::Created(message)) => self.created(&message).await,
                    Ok(Event::Synced(message)) => self.send(frame("synced", None, &message)).await,
                    Ok(Event::Sync(json)) => self.send(sync_frame(&json)).await,
                    Ok(Event::Deleted(id)) => {
                        self.send(Bytes::from(format!("event: deleted\ndata: {{\"id\":{id}}}\n\n"))).await
                    }
                    // Fell behind the broadcast: the `synced` events it missed are covered
                    // by a fresh snapshot, the messages by the backlog.
                    Err(RecvError::Lagged(_)) => self.snapshot().await && self.backlog().await,
                    Err(RecvError::Closed) => false,
                },
                // A named event, not a comment: a page's EventSource can see it and so tell a
                // live stream from one that died silently.
                _ = beat.tick() => self.send(Bytes::from_static(b"event: heartbeat\ndata: {}\n\n")).await,
                // The only change is to "closing"; a dropped sender means the same.
                _ = closing.changed() => false,
                () = self.frames.closed() => false,
            };
            if !going {
                break;
            }
        }
    }

    async fn created(&mut self, message: &Message) -> bool {
        if message.id <= self.cursor {
            return true;
        }
        self.cursor = message.id;
        self.send(frame("message", Some(message.id), message)).await
    }

    /// The first event of every stream: the newest id, which of the newest messages are
    /// still unsynced and which were deleted in the last day, so a page that was away
    /// learns what changed without a reload (replaying `synced` events would cost more).
    async fn snapshot(&mut self) -> bool {
        let newest = self.live.last_id();
        let since = rfc3339(chrono::Utc::now() - chrono::Duration::hours(24));
        let read = self.store.snapshot(SNAPSHOT_WINDOW, since).await;
        let (unsynced, deleted) = match read {
            Ok(found) => found,
            Err(err) => {
                log::warn!("event stream could not read its snapshot: {err}");
                return false;
            }
        };
        let data = serde_json::json!({
            "newest_id": newest,
            "unsynced": unsynced,
            "deleted": deleted,
        });
        self.send(Bytes::from(format!("event: snapshot\ndata: {data}\n\n")))
            .await
    }

    /// Sends every message after the cursor, from memory or the database, page by page.
    /// A backlog longer than `MAX_REPLAY` is not replayed (one token must not buy the whole
    /// history): the stream says `reset` and carries on from the newest message.
    async fn backlog(&mut self) -> bool {
        let newest = self.live.last_id();
        if newest - self.cursor > MAX_REPLAY {
            self.cursor = newest;
            let reason = format!(
                "more than {MAX_REPLAY} messages since this stream's start; \
                 reload the history with GET /api/messages"
            );
            let data = serde_json::json!({ "reason": reason });
            return self
                .send(Bytes::from(format!("event: reset\ndata: {data}\n\n")))
                .await;
        }
        loop {
            let read = self.store.list(Page::After(self.cursor), CACHED).await;
            let messages = match read {
                Ok(messages) => messages,
                Err(err) => {
                    log::warn!("event stream could not read its backlog: {err}");
                    return false;
                }
            };
            let full = messages.len() == CACHED as usize;
            for message in &messages {
                if !self.created(message).await {
                    return false;
                }
            }
            if !full {
                return true;
            }
        }
    }

    /// False once the client has gone, or has taken nothing for `reader_deadline` while
    /// the queue was full: a reader that stopped reading would otherwise hold its slot,
    /// its connection and the queued frames for as long as it liked.
    async fn send(&self, bytes: Bytes) -> bool {
        match self.frames.send_timeout(bytes, self.reader_deadline).await {
            Ok(()) => true,
            Err(SendTimeoutError::Closed(_)) => false,
            Err(SendTimeoutError::Timeout(_)) => {
                log::info!(
                    "an event stream's reader took nothing for {:?}; dropping the stream",
                    self.reader_deadline
                );
                if let Some(hangup) = &self.hangup {
                    hangup.hang_up();
                }
                false
            }
        }
    }
}

/// One SSE event. JSON has no raw newlines, so `data` is one line.
fn frame(event: &str, id: Option<i64>, message: &Message) -> Bytes {
    let data = serde_json::to_string(message).unwrap_or_default();
    let text = match id {
        Some(id) => format!("id: {id}\nevent: {event}\ndata: {data}\n\n"),
        None => format!("event: {event}\ndata: {data}\n\n"),
    };
    Bytes::from(text)
}

/// The sync state as an event named `sync`; `json` is already one line of JSON.
fn sync_frame(json: &str) -> Bytes {
    Bytes::from(format!("event: sync\ndata: {json}\n\n"))
}

/// A response body fed by a channel: each item is one chunk; the channel's end ends it.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_event_stream_format() {
        let message = Message {
            id: 7,
            content: "two\nlines".into(),
            author: None,
            created_at: "2026-11-25T00:00:00.000Z".into(),
            git_commit_hash: None,
            synced: false,
        };
        let text = String::from_utf8(frame("message", Some(7), &message).to_vec()).unwrap();
        assert!(text.starts_with("id: 7\nevent: message\ndata: {"), "{text}");
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 4, "data stays on one line");
        let synced = String::from_utf8(frame("synced", None, &message).to_vec()).unwrap();
        assert!(synced.starts_with("event: synced\ndata: "), "{synced}");
    }
}
