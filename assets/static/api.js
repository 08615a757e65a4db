// BookChat server access: the fetch wrapper and its timeout, HTTP error shaping, the
// online/offline state that decides the outage and "Reconnected" toasts, and the hook for a
// refused session.
import { toast, dismiss } from "./render.js";

// A request with no answer by then is given up: a connection that died silently (a Wi-Fi
// switch, a laptop's sleep) would otherwise hold its caller, and the polling, forever.
const TIMEOUT_MS = 15000;

let online = true;
let outageToast = null;
let unauthorized = null;

function httpError(status, message, retryAfter) {
  return Object.assign(new Error(message), { status, retryAfter });
}

// Every request goes through here so outage/recovery toasts are decided in
// exactly one place (one toast per outage, however many requests fail). `options` are
// fetch's, plus `timeout` (ms) for the whole exchange, body included.
export async function api(path, options = {}) {
  const { timeout = TIMEOUT_MS, ...init } = options;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  let res;
  let text;
  try {
    const defaults = { cache: "no-store", headers: { Accept: "application/json" } };
    res = await fetch(path, Object.assign(defaults, init, { signal: controller.signal }));
    text = await res.text();
  } catch (err) {
    setOnline(false);
    const late = controller.signal.aborted;
    throw httpError(0, late ? "The server did not answer in time." : "Can't reach the server.");
  } finally {
    clearTimeout(timer);
  }
  const body = parseJson(text);
  const message = (body && typeof body.error === "string" && body.error) || `Request failed (HTTP ${res.status}).`;
  if (res.status >= 500) {
    setOnline(false);
    throw httpError(res.status, message);
  }
  setOnline(true);
  if (res.status === 401 && unauthorized) unauthorized();
  if (!res.ok) throw httpError(res.status, message, res.headers.get("Retry-After"));
  return body;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    return null;
  }
}

// Called on every 401 answer: a members-only page whose session ended shows its sign-in
// form again (access.js registers this only for a signed-in page of a members-only chat).
export function onUnauthorized(handler) {
  unauthorized = handler;
}

function setOnline(next) {
  if (next === online) return;
  online = next;
  if (next) {
    if (outageToast) dismiss(outageToast); // stale now
    toast("Reconnected", "ok");
  } else {
    outageToast = toast("Can't reach the server — retrying…", "error");
  }
}

// Text for a 4xx shown to the user. A 429 gets a sentence of its own (the API's text
// already names the wait, so adding to it would say it twice).
export function describeError(err) {
  const wait = Number(err.retryAfter);
  if (err.status === 429 && wait > 0) return `Too many requests. Try again in ${wait} s.`;
  return err.message;
}

// A fresh Idempotency-Key for a message being composed; its retries reuse it, so a send
// whose 201 was lost cannot post the message twice. crypto.randomUUID exists only in
// secure contexts (https, localhost), not on a LAN address over plain http.
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
