// BookChat announcements: what screen readers are told without moving focus. New messages
// from others, once each and politely, through a visually hidden live region (the message
// list itself is not live, so prepended history and day separators are never read out);
// and the message's length, only when it crosses a threshold rather than on each keystroke.
import { el } from "./render.js";

const region = document.getElementById("announcer");
const lengthNote = document.getElementById("counter-note");
// A bigger batch (a catch-up after a reconnect) is summed up in one line, not read out.
const SPOKEN = 3;
// Lines kept in the region; older ones were read already.
const KEPT = 10;
const CLIP = 200; // characters of a message read out
const THRESHOLDS = [1800, 1900, 1950, 2000];

let level = 0; // the highest threshold passed since the composer was last empty
let over = false;

// `messages`: others' messages that just arrived, oldest first.
export function announceNew(messages) {
  if (messages.length === 0) return;
  const lines = messages.length > SPOKEN ? [`${messages.length} new messages`] : messages.map(spoken);
  for (const line of lines) region.append(el("p", null, line));
  while (region.childElementCount > KEPT) region.firstElementChild.remove();
}

function spoken(msg) {
  const text = [...msg.content];
  const clipped = text.length > CLIP ? `${text.slice(0, CLIP).join("")}…` : msg.content;
  return `${msg.author || "Anonymous"}: ${clipped}`;
}

// Called on every change of the composer. Speaks when the length climbs past a threshold
// not passed before (so hovering around one does not repeat it), and when it goes over
// the maximum or back within it; an emptied composer starts over.
export function announceLength(length, max) {
  const next = THRESHOLDS.filter((t) => length >= t).length;
  const nowOver = length > max;
  if (next > level || nowOver !== over) lengthNote.textContent = describeLength(length, max);
  if (length === 0) lengthNote.textContent = "";
  level = length === 0 ? 0 : Math.max(level, next);
  over = nowOver;
}

function describeLength(length, max) {
  const said = `${length.toLocaleString()} of ${max.toLocaleString()} characters`;
  return length > max ? `${said}: too long to send` : said;
}
