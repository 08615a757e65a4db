// BookChat day separators: a heading above the first message of each day, in the reader's
// local time ("Today", "Yesterday", then the date), kept right as history is prepended,
// messages arrive or leave, and midnight passes.
import { el } from "./render.js";

const DATE = new Intl.DateTimeFormat(undefined, {
  weekday: "long",
  day: "numeric",
  month: "long",
  year: "numeric",
});

// Relabels at every local midnight, and on return to the tab (a sleeping laptop runs
// timers late), so yesterday's "Today" never lingers.
export function startDays(list) {
  const relabelSoon = () => relabel(list);
  scheduleMidnight(relabelSoon);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) relabelSoon();
  });
}

function scheduleMidnight(run) {
  const now = new Date();
  const next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 0, 1);
  setTimeout(() => {
    run();
    scheduleMidnight(run);
  }, next - now);
}

// One pass over the list: every message whose day differs from the message before it gets
// a separator right above it (above the unread marker, if that sits there), and any other
// separator leaves. Existing separators are kept rather than rebuilt, so nothing moves
// that need not.
export function placeDays(list) {
  const keep = new Set();
  let previous = null;
  for (const message of list.querySelectorAll(":scope > .message")) {
    const day = dayOf(message);
    if (day === null || day === previous) continue;
    previous = day;
    keep.add(separatorFor(message, day));
  }
  for (const separator of list.querySelectorAll(":scope > .day-separator")) {
    if (!keep.has(separator)) separator.remove();
  }
  relabel(list);
}

function separatorFor(message, day) {
  let top = message;
  while (top.previousElementSibling && top.previousElementSibling.classList.contains("unread-marker")) {
    top = top.previousElementSibling;
  }
  const above = top.previousElementSibling;
  if (above && above.classList.contains("day-separator") && above.dataset.day === day) return above;
  const separator = el("h2", "day-separator");
  separator.dataset.day = day;
  separator.append(el("span", "day-label"));
  top.before(separator);
  return separator;
}

function relabel(list) {
  for (const separator of list.querySelectorAll(":scope > .day-separator")) {
    const text = label(separator.dataset.day);
    const span = separator.firstElementChild;
    if (span.textContent !== text) span.textContent = text;
  }
}

// A message's day, from the <time> render.js fills (a pending message's is "now"). The
// pass runs on every change of the list, keystrokes included, so days are remembered for
// as long as the time they were read from stays the same.
const known = new WeakMap(); // message element -> { iso, day }

function dayOf(message) {
  const time = message.querySelector("time.message-time");
  const iso = time ? time.dateTime : "";
  const seen = known.get(message);
  if (seen && seen.iso === iso) return seen.day;
  const date = new Date(iso);
  const day = iso && !Number.isNaN(date.getTime()) ? dayKey(date) : null;
  known.set(message, { iso, day });
  return day;
}

function dayKey(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function label(key) {
  const now = new Date();
  if (key === dayKey(now)) return "Today";
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (key === dayKey(yesterday)) return "Yesterday";
  const [year, month, day] = key.split("-").map(Number);
  return DATE.format(new Date(year, month - 1, day));
}
