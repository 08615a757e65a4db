// BookChat unread: while the tab is hidden, others' new messages count in the title
// ("(3) BookChat") and a "New messages" line goes above the first of them. The count
// clears as soon as the reader is back; the line stays until the reader sends a message,
// or for MARKER_MS after coming back, so there is time to see where reading resumes.
import { el } from "./render.js";

const MARKER_MS = 3 * 60 * 1000;
const TITLE = document.title;

let count = 0;
let marker = null;
let expiry = 0;

export function startUnread(form) {
  document.addEventListener("visibilitychange", onVisibility);
  // Listened to here rather than in the send path: any message sent means "I've read up".
  form.addEventListener("submit", dropMarker);
}

// `nodes`: the elements of messages from others that just arrived, oldest first.
export function markUnread(nodes) {
  if (document.visibilityState !== "hidden" || nodes.length === 0) return;
  if (count === 0) placeMarker(nodes[0]);
  count += nodes.length;
  showCount();
}

// After the list changed: a line with no message below it any more (deleted, trimmed,
// reloaded) marks nothing.
export function tidyMarker() {
  if (!marker) return;
  let next = marker.nextElementSibling;
  while (next && !next.classList.contains("message")) next = next.nextElementSibling;
  if (!next) dropMarker();
}

function onVisibility() {
  clearTimeout(expiry);
  if (document.visibilityState === "hidden") return;
  count = 0;
  showCount();
  if (marker) expiry = setTimeout(dropMarker, MARKER_MS);
}

function showCount() {
  document.title = count > 0 ? `(${count}) ${TITLE}` : TITLE;
}

// A new absence starts a new line: the old one no longer marks where reading stopped.
function placeMarker(first) {
  dropMarker();
  marker = el("p", "unread-marker");
  marker.append(el("span", "unread-label", "New messages"));
  first.before(marker);
}

function dropMarker() {
  clearTimeout(expiry);
  if (marker) marker.remove();
  marker = null;
}
