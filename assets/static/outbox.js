// BookChat outbox: the messages written here that the server has not confirmed yet. Each
// keeps its Idempotency-Key in localStorage (store.js), so a reload or a lost network loses
// none and a repeat can never store one twice; they are sent one at a time, in the order
// written, and shown as "sending", "failed — retry", then as the stored message.
import { api, describeError, newIdempotencyKey } from "./api.js";
import { buildMessage, setStatus, toast } from "./render.js";
import { dropFromOutbox, keepInOutbox, loadOutbox } from "./store.js";

// Longer than a read's: a slow 201 that is given up on is sent again, which is safe with the
// key but costs the server a second look.
const SEND_TIMEOUT_MS = 20000;
const JSON_POST = { "Content-Type": "application/json", Accept: "application/json" };

const box = {
  page: null, // app.js's hooks: list, composer, place(node), confirm(node, msg), drop(node)
  queue: [], // entries still to send, in the order written: { key, body, at, node, loud }
  byNode: new WeakMap(), // shown element -> entry, for Retry (a rejected one included)
  draining: false,
  again: false, // asked to send while sending: go round once more when done
  waitTimer: 0, // a rate-limited send goes again once the server's wait is over
};

// Shows what an earlier visit left unsent and sends it.
export function startOutbox(page) {
  box.page = page;
  page.list.addEventListener("click", onRetryClick);
  for (const saved of loadOutbox()) box.queue.push(show(saved, false));
  flushOutbox();
}

// A message from the composer: stored before anything is sent, so a reload keeps it.
export function sendMessage(body) {
  const entry = show({ key: newIdempotencyKey(), body, at: new Date().toISOString() }, true);
  entry.loud = true;
  box.queue.push(entry);
  keepInOutbox(stored(entry));
  flushOutbox();
}

// Sends whatever waits; called on load, when the network returns and when the stream
// reconnects. Safe to call at any time: one drain runs at once.
export function flushOutbox() {
  if (box.draining) {
    box.again = true;
    return;
  }
  drain();
}

async function drain() {
  box.draining = true;
  try {
    do {
      box.again = false;
      await sendInOrder();
    } while (box.again);
  } finally {
    box.draining = false;
  }
}

// Strictly one at a time: a later message never overtakes an earlier one that waits.
async function sendInOrder() {
  while (box.queue.length > 0) {
    const entry = box.queue[0];
    if (!(await post(entry))) {
      box.queue.forEach((waiting) => setStatus(waiting.node, "failed"));
      return;
    }
  }
}

// True once the entry has left the queue (stored, deleted or refused for good); false when
// it must wait for the network or the server.
async function post(entry) {
  setStatus(entry.node, "sending");
  try {
    const msg = await api("/api/messages", {
      method: "POST",
      // The same key on every try, on every visit: the server answers a repeat with the
      // first message.
      headers: Object.assign({ "Idempotency-Key": entry.key }, JSON_POST),
      body: JSON.stringify(entry.body),
      timeout: SEND_TIMEOUT_MS,
    });
    settle(entry);
    box.byNode.delete(entry.node);
    box.page.confirm(entry.node, msg);
    return true;
  } catch (err) {
    return failed(entry, err);
  }
}

function failed(entry, err) {
  if (err.status === 410) {
    // It was stored on an earlier try, then deleted by a moderator: nothing left to show.
    settle(entry);
    box.byNode.delete(entry.node);
    box.page.drop(entry.node);
    return true;
  }
  setStatus(entry.node, "failed");
  const waits = worthWaiting(err);
  const refused = err.status >= 400 && err.status < 500;
  if (spokenFor(entry, waits) && refused) toast(describeError(err), "error");
  if (err.status === 429) retryAfter(err.retryAfter);
  if (waits) return false;
  // Refused as it is (too long, say): it leaves the outbox rather than block the others,
  // and stays shown as failed; Retry puts it back.
  settle(entry);
  // 422: the key already names another message (never the page's doing); a retry needs a
  // fresh one, or it would be refused again.
  if (err.status === 422) entry.key = newIdempotencyKey();
  return true;
}

// Only a failure the writer just asked about (a send, a Retry) is told, once: this message's,
// or, when it holds up the rest, that of any behind it. Automatic resends stay quiet.
function spokenFor(entry, waits) {
  const asked = waits ? box.queue.some((waiting) => waiting.loud) : entry.loud;
  for (const waiting of waits ? box.queue : [entry]) waiting.loud = false;
  return asked;
}

function retryAfter(seconds) {
  const wait = Number(seconds);
  if (!(wait > 0)) return;
  clearTimeout(box.waitTimer);
  box.waitTimer = setTimeout(flushOutbox, wait * 1000);
}

// No answer, a server in trouble, a session to renew or a rate limit: later may work.
function worthWaiting(err) {
  return err.status === 0 || err.status >= 500 || [401, 408, 429].includes(err.status);
}

function settle(entry) {
  const at = box.queue.indexOf(entry);
  if (at >= 0) box.queue.splice(at, 1);
  dropFromOutbox(entry.key);
}

function onRetryClick(event) {
  const button = event.target.closest(".retry");
  if (!button) return;
  const entry = box.byNode.get(button.closest(".message"));
  if (!entry) return;
  box.page.composer.focus(); // the button is about to be replaced by "Sending…"
  entry.loud = true;
  if (!box.queue.includes(entry)) {
    box.queue.push(entry);
    keepInOutbox(stored(entry));
  }
  flushOutbox();
}

// The pending element, below every confirmed message; `fresh` ones make an entrance.
function show(saved, fresh) {
  const { content, author } = saved.body;
  const node = buildMessage({ content, author: author || null, created_at: saved.at || null });
  node.dataset.pending = "1";
  node.classList.add("own");
  if (fresh) node.classList.add("is-new");
  const body = { content, author: author || null };
  const entry = { key: saved.key, body, at: saved.at, node, loud: false };
  box.byNode.set(node, entry);
  setStatus(node, "sending");
  box.page.place(node);
  return entry;
}

function stored(entry) {
  return { key: entry.key, body: entry.body, at: entry.at };
}
