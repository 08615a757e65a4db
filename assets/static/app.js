// BookChat entry module: owns page state, the message list and the composer. Live updates
// (the event stream, its watchdog, polling) live in live.js, the outbox of unsent messages
// in outbox.js, network calls in api.js, DOM building in render.js (links in links.js),
// browser storage in store.js, the sync-trouble banner in banner.js, the reading of a
// stream's snapshot in snapshot.js, sign-in, sign-out and the moderator's delete controls in
// access.js; older pages and the DOM bound in history.js, day separators in days.js, the
// unread count and line in unread.js, notifications in notify.js, and what screen readers
// are told in announce.js.
import { addDeleteControl, handOverFocus, startAccess } from "./access.js";
import { announceLength, announceNew } from "./announce.js";
import { api } from "./api.js";
import { placeDays, startDays } from "./days.js";
import { startHistory, trimHistory } from "./history.js";
import { startLive } from "./live.js";
import { notifyNew, startNotify } from "./notify.js";
import { flushOutbox, sendMessage, startOutbox } from "./outbox.js";
import { readSnapshot } from "./snapshot.js";
import { buildMessage, fillMessage, setStatus } from "./render.js";
import { loadOwnIds, saveOwnIds, storeAuthor, storedAuthor } from "./store.js";
import { markUnread, startUnread, tidyMarker } from "./unread.js";

const PAGE = 50;
const POLL_LIMIT = 200;
const MAX_CHARS = 2000;
const WARN_CHARS = 1800;
const MAX_ROWS = 6;
const BOTTOM_SLACK = 48; // px from the end that still counts as "at the bottom"

const $ = (id) => document.getElementById(id);
const ui = {
  scroller: $("scroller"),
  list: $("messages"),
  loading: $("loading"),
  loadingText: $("loading-text"),
  empty: $("empty"),
  loadOlder: $("load-older"),
  pill: $("new-pill"),
  form: $("composer"),
  author: $("author"),
  content: $("content"),
  send: $("send"),
  counter: $("counter"),
};

const state = {
  byId: new Map(), // server id -> {el, msg}; the single source of "already shown"
  gone: new Set(), // ids deleted while this page was open; a late listing cannot bring them back
  // Highest id seen in a list response. Polls ask for ids above this rather
  // than above our own freshly posted id, so others' messages that landed
  // in between are not skipped.
  cursor: 0,
  oldest: null, // lowest id shown; "load older" (history.js) pages below it
  ownIds: loadOwnIds(),
  ready: false,
};

function rememberOwn(id) {
  state.ownIds.add(id);
  saveOwnIds(state.ownIds);
}

// ---------- message list

function isOwn(msg) {
  const name = ui.author.value.trim();
  return state.ownIds.has(msg.id) || (name !== "" && msg.author === name);
}

// Also true while the reader's own copy still waits for its 201: the stream can bring the
// message before the answer to the POST does.
function isMine(msg) {
  if (isOwn(msg)) return true;
  const pending = ui.list.querySelectorAll(".message[data-pending] .message-content");
  return [...pending].some((node) => node.textContent === msg.content);
}

// Turns an element into the rendering of a server-confirmed message.
function applyServer(root, msg) {
  root.dataset.id = String(msg.id);
  delete root.dataset.pending;
  fillMessage(root, msg);
  setStatus(root, msg.synced ? "synced" : "saved", msg);
  root.classList.toggle("own", isOwn(msg));
  state.byId.set(msg.id, { el: root, msg });
  addDeleteControl(root, msg);
  state.oldest = state.oldest == null ? msg.id : Math.min(state.oldest, msg.id);
}

function removeMessage(id) {
  const entry = state.byId.get(id);
  if (!entry) return;
  handOverFocus(entry.el, ui.list);
  entry.el.remove();
  state.byId.delete(id);
}

// A deletion, seen in the stream or made here: the message leaves at once.
function forget(id) {
  state.gone.add(id);
  removeMessage(id);
  tidyList();
  updateEmpty();
}

function updateExisting(msg) {
  const entry = state.byId.get(msg.id);
  const changed = entry.msg.synced !== msg.synced || entry.msg.git_commit_hash !== msg.git_commit_hash;
  entry.msg = msg;
  if (changed) setStatus(entry.el, msg.synced ? "synced" : "saved", msg);
}

// Server messages stay in id order, above any still-pending optimistic ones. A day
// separator or the unread line belongs to the message below it.
function insertInOrder(node, id) {
  let before = null;
  for (let n = ui.list.lastElementChild; n; n = n.previousElementSibling) {
    if (!n.classList.contains("message")) before = before && n;
    else if (n.dataset.pending || Number(n.dataset.id) > id) before = n;
    else break;
  }
  ui.list.insertBefore(node, before);
}

// Adds unseen messages and refreshes the marks of seen ones; returns how many were new.
// `animate` means they arrived just now (stream or poll), not as history.
function mergeMessages(messages, animate) {
  const fresh = [];
  for (const msg of messages) {
    if (state.gone.has(msg.id)) continue;
    if (state.byId.has(msg.id)) {
      updateExisting(msg);
      continue;
    }
    const node = buildMessage(msg);
    if (animate) node.classList.add("is-new");
    applyServer(node, msg);
    insertInOrder(node, msg.id);
    fresh.push(msg);
  }
  if (animate) arrived(fresh);
  return fresh.length;
}

// Others' new messages are counted while the tab is hidden, notified and announced.
function arrived(messages) {
  const others = messages.filter((msg) => !isMine(msg));
  markUnread(others.map((msg) => state.byId.get(msg.id).el));
  notifyNew(others);
  announceNew(others);
}

// Day separators and the unread line follow every change of the list.
function tidyList() {
  placeDays(ui.list);
  tidyMarker();
}

function noteCursor(messages) {
  for (const msg of messages) state.cursor = Math.max(state.cursor, msg.id);
}

function updateEmpty() {
  ui.empty.hidden = !(state.ready && ui.list.querySelector(".message") === null);
}

// ---------- scrolling

function isAtBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight <= BOTTOM_SLACK;
}

function scrollToBottom() {
  tidyList();
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
  ui.pill.hidden = true;
}

// Runs a DOM change; follows it to the bottom only if the reader was already there, where
// the oldest messages out of sight may leave (history.js keeps the page bounded).
function keepBottom(change) {
  const stick = isAtBottom();
  const added = change();
  if (stick) {
    trimHistory();
    scrollToBottom(); // which tidies the list first
  } else {
    tidyList();
    if (added > 0) ui.pill.hidden = false;
  }
}

// ---------- loading

async function loadInitial() {
  try {
    const data = await api("/api/messages");
    const messages = (data && data.messages) || [];
    mergeMessages(messages, false);
    noteCursor(messages);
    ui.loadOlder.hidden = messages.length < PAGE;
    ui.loading.hidden = true;
    ui.list.removeAttribute("aria-busy");
    state.ready = true;
    updateEmpty();
    scrollToBottom();
    document.body.dataset.ready = "1";
  } catch (err) {
    ui.loadingText.textContent = "Can't reach the server — retrying…";
  }
}

// `synced` flips later for messages already on screen; re-read the newest
// window that still contains unsynced ones and update their marks in place.
async function refreshUnsynced() {
  let lowest = Infinity;
  for (const [id, entry] of state.byId) if (!entry.msg.synced && id < lowest) lowest = id;
  if (lowest === Infinity) return;
  // With sync disabled everything stays unsynced; only re-check the newest window.
  const after = Math.max(lowest - 1, state.cursor - POLL_LIMIT);
  if (after >= state.cursor) return;
  const data = await api(`/api/messages?after=${after}&limit=${POLL_LIMIT}`);
  for (const msg of (data && data.messages) || []) {
    if (state.byId.has(msg.id)) updateExisting(msg);
  }
}

// ---------- live arrivals (live.js calls these)

// New messages from the stream or a poll: the one way they enter the list.
function receive(messages) {
  keepBottom(() => mergeMessages(messages, true));
  noteCursor(messages);
  updateEmpty();
}

function onSynced(msg) {
  if (state.byId.has(msg.id)) updateExisting(msg);
}

// Sent first on every (re)connection: deletions leave, and marks that may have turned
// synced while the page was away are read again.
function applySnapshot(snapshot) {
  const { remove, stale } = readSnapshot(snapshot, state.byId);
  remove.forEach(forget);
  if (stale) refreshUnsynced().catch(() => {});
}

// Starts over from the newest page, so the list never shows a hole where the skipped
// messages were; "load older" reaches them again.
async function reloadHistory() {
  const data = await api("/api/messages");
  const messages = (data && data.messages) || [];
  for (const entry of state.byId.values()) entry.el.remove();
  state.byId.clear();
  state.oldest = null;
  mergeMessages(messages, false);
  noteCursor(messages);
  ui.loadOlder.hidden = messages.length < PAGE;
  updateEmpty();
  scrollToBottom();
}

// ---------- sending

function contentLength(text) {
  return [...text.trim()].length; // code points, like the server counts
}

function onSubmit(event) {
  event.preventDefault();
  const content = ui.content.value.trim();
  const length = contentLength(content);
  if (length === 0 || length > MAX_CHARS) return;
  const author = ui.author.value.trim();
  sendMessage({ content, author: author || null }); // kept in the outbox until confirmed
  ui.content.value = "";
  updateComposer();
}

// An unsent message (outbox.js) joins the list below every confirmed one.
function showPending(node) {
  ui.list.append(node);
  updateEmpty();
  scrollToBottom();
}

// An unsent message that, the server says, was stored and then deleted meanwhile.
function dropPending(node) {
  handOverFocus(node, ui.list);
  node.remove();
  updateEmpty();
}

// The poll may already have rendered this id (it can race the 201); never show it twice.
function confirmSent(node, msg) {
  rememberOwn(msg.id);
  keepBottom(() => {
    node.remove();
    const existing = state.byId.get(msg.id);
    if (existing) {
      existing.el.classList.add("own");
      updateExisting(msg);
      return 0;
    }
    node.classList.remove("is-new"); // it is already visible; don't replay the entrance
    applyServer(node, msg);
    insertInOrder(node, msg.id);
    return 0;
  });
}

// ---------- composer

function updateComposer() {
  const length = contentLength(ui.content.value);
  ui.send.disabled = length === 0 || length > MAX_CHARS;
  ui.counter.hidden = length <= WARN_CHARS;
  ui.counter.textContent = `${length} / ${MAX_CHARS}`;
  ui.counter.classList.toggle("over", length > MAX_CHARS);
  announceLength(length, MAX_CHARS);
  keepBottom(() => {
    autoGrow();
    return 0;
  });
}

// Grows via the rows attribute rather than inline styles (CSP-friendly).
function autoGrow() {
  const box = ui.content;
  let rows = 1;
  box.rows = rows;
  while (box.scrollHeight > box.clientHeight && rows < MAX_ROWS) box.rows = ++rows;
}

function onKeyDown(event) {
  // keyCode 229 covers IMEs that don't set isComposing on the confirming Enter.
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  if (ui.send.disabled) return;
  if (ui.form.requestSubmit) ui.form.requestSubmit();
  else ui.send.click();
}

function onAuthorChange() {
  storeAuthor(ui.author.value.trim());
  for (const entry of state.byId.values()) entry.el.classList.toggle("own", isOwn(entry.msg));
}

// ---------- start

function init() {
  // Signed out of a members-only chat, the sign-in form is the page: nothing is fetched.
  if (!startAccess({ list: ui.list, forget, chatShown: scrollToBottom })) return;
  ui.author.value = storedAuthor();
  ui.form.addEventListener("submit", onSubmit);
  ui.content.addEventListener("input", updateComposer);
  ui.content.addEventListener("keydown", onKeyDown);
  ui.author.addEventListener("input", () => storeAuthor(ui.author.value.trim()));
  ui.author.addEventListener("change", onAuthorChange);
  const merge = (messages) => mergeMessages(messages, false);
  startHistory({ scroller: ui.scroller, list: ui.list, button: ui.loadOlder, state, merge, tidy: tidyList });
  startDays(ui.list);
  startUnread(ui.form);
  startNotify();
  ui.pill.addEventListener("click", scrollToBottom);
  ui.scroller.addEventListener("scroll", () => {
    if (isAtBottom()) ui.pill.hidden = true;
  }, { passive: true });
  updateComposer();
  startOutbox({
    list: ui.list,
    composer: ui.content,
    place: showPending,
    confirm: confirmSent,
    drop: dropPending,
  });
  startLive({
    ready: () => state.ready,
    cursor: () => state.cursor,
    loadInitial,
    refreshUnsynced,
    receive,
    synced: onSynced,
    snapshot: applySnapshot,
    deleted: forget,
    reset: reloadHistory,
    back: flushOutbox,
  });
}

init();
