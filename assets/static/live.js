// BookChat live updates: the event stream and the watch on its heartbeats, polling while
// the stream is down, resuming at once when the network or the tab comes back, and the
// small "Reconnecting…" state shown meanwhile. The message list stays in app.js, which
// hands this module the few calls it needs.
import { api } from "./api.js";
import { followSync } from "./banner.js";
import { el } from "./render.js";

const POLL_MS = 5000;
const POLL_LIMIT = 200;
// A stream that says nothing for this many heartbeat intervals is taken for dead: after a
// Wi-Fi switch or a laptop's sleep an EventSource can stay "open" on a dead connection.
const SILENT_BEATS = 3;
const DEFAULT_HEARTBEAT_S = 15; // the server's default, if the page was not told
// Every event the server sends; each is proof that the stream is alive.
const EVENTS = ["open", "heartbeat", "message", "synced", "snapshot", "deleted", "reset", "sync"];

// Always in the page, empty while all is well: a live region that already exists is the
// one screen readers reliably announce when text is added to it.
const region = document.getElementById("connection-status");

const conn = {
  page: null, // app.js's hooks, see startLive
  source: null, // the current EventSource; while it is open, polling stands down
  polling: false,
  pollTimer: 0,
  watchdog: 0,
  trouble: false, // "Reconnecting…" is shown
};

// `page`: ready(), cursor(), loadInitial(), refreshUnsynced(), receive(messages),
// synced(msg), snapshot(data), deleted(id), reset() and back() (the connection returned).
export function startLive(page) {
  conn.page = page;
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) resume();
  });
  window.addEventListener("online", resume);
  tick();
}

// ---------- polling

async function tick() {
  if (conn.polling) return;
  conn.polling = true;
  try {
    if (!conn.page.ready()) await conn.page.loadInitial();
    else if (!isLive()) await catchUp();
    if (conn.page.ready() && !conn.source) openStream();
  } catch (err) {
    // api() already reported the outage; the next tick simply tries again. A poll given up
    // on after the stream came back says nothing about the stream.
    if (!isLive()) setTrouble(true);
  } finally {
    // api() gives up on a request that hangs, so this always runs and polling goes on.
    conn.polling = false;
    clearTimeout(conn.pollTimer);
    conn.pollTimer = setTimeout(tick, POLL_MS);
  }
}

function pollSoon() {
  clearTimeout(conn.pollTimer);
  tick();
}

async function catchUp() {
  await pollNew();
  await conn.page.refreshUnsynced();
  if (conn.trouble) back(); // reachable again, if only by polling
}

async function pollNew() {
  // Loop so a burst bigger than one page is drained without waiting 5 s per page.
  for (let round = 0; round < 10; round++) {
    const data = await api(`/api/messages?after=${conn.page.cursor()}&limit=${POLL_LIMIT}`);
    const messages = (data && data.messages) || [];
    conn.page.receive(messages);
    if (messages.length < POLL_LIMIT) return;
  }
}

// ---------- the stream

function isLive() {
  return conn.source !== null && conn.source.readyState === EventSource.OPEN;
}

// New messages and sync marks arrive as they happen. The browser reconnects by itself
// and resumes with Last-Event-ID; the watchdog reopens a stream that went silent; if the
// stream is refused for good, polling carries on and the next tick tries it again.
function openStream() {
  if (!("EventSource" in window)) return;
  const source = new EventSource(`/api/events?after=${conn.page.cursor()}`);
  conn.source = source;
  let heard = false;
  watch(source); // a stream that never answers at all is dead too
  for (const name of EVENTS) {
    source.addEventListener(name, (event) => {
      if (conn.source !== source) return; // a late event of a stream already replaced
      heard = true;
      watch(source);
      handle(name, event);
    });
  }
  followSync(source);
  source.addEventListener("error", () => {
    if (conn.source !== source) return;
    delete region.dataset.stream; // live again once a snapshot opens the next connection
    // A stream that worked and broke: say so while the browser retries it.
    if (heard) setTrouble(true);
    if (source.readyState === EventSource.CLOSED) closeStream();
  });
}

function handle(name, event) {
  const page = conn.page;
  if (name === "reset") {
    // The server skipped a backlog too long to replay (the page was away a long time).
    page.reset().catch(pollSoon);
    return;
  }
  const data = parseEvent(event);
  if (!data) return;
  if (name === "message") page.receive([data]);
  else if (name === "synced") page.synced(data);
  else if (name === "deleted") page.deleted(data.id);
  else if (name === "snapshot") {
    // Sent first on every (re)connection: the page learns what changed while it was away.
    page.snapshot(data);
    region.dataset.stream = "live";
    back();
  }
}

function parseEvent(event) {
  try {
    return JSON.parse(event.data);
  } catch (err) {
    return null;
  }
}

function closeStream() {
  clearTimeout(conn.watchdog);
  if (conn.source) conn.source.close();
  conn.source = null;
  delete region.dataset.stream;
}

// Restarts the countdown that any event or heartbeat resets.
function watch(source) {
  clearTimeout(conn.watchdog);
  conn.watchdog = setTimeout(() => {
    if (conn.source !== source) return;
    setTrouble(true);
    reopen();
  }, silenceMs());
}

// The server names its heartbeat interval in the page (the bookchat-heartbeat tag).
function silenceMs() {
  const tag = document.querySelector('meta[name="bookchat-heartbeat"]');
  const seconds = Number(tag && tag.content);
  return SILENT_BEATS * 1000 * (seconds > 0 ? seconds : DEFAULT_HEARTBEAT_S);
}

// A fresh stream from the cursor (its backlog and snapshot catch up), and a poll meanwhile.
function reopen() {
  closeStream();
  if (conn.page.ready()) openStream();
  pollSoon();
}

// The network or the tab is back. Whatever the page believes about its stream, it may
// have died meanwhile: start a fresh one at once, and send what waits in the outbox.
function resume() {
  reopen();
  conn.page.back();
}

// ---------- the "Reconnecting…" state

function back() {
  setTrouble(false);
  conn.page.back();
}

function setTrouble(on) {
  if (on === conn.trouble) return;
  conn.trouble = on;
  if (!on) {
    region.replaceChildren();
    return;
  }
  const note = el("p", "connection-note");
  const spinner = el("span", "spinner");
  spinner.setAttribute("aria-hidden", "true");
  note.append(spinner, "Reconnecting…");
  region.replaceChildren(note);
}
