// BookChat history: older pages, loaded when the reader nears the top (or by the "Load
// older messages" button, the fallback for keyboards and screen readers) without moving
// what the reader is looking at; and the bound that keeps a page open for days from
// growing without limit: at the bottom, only the newest KEEP messages stay.
import { api, describeError } from "./api.js";
import { toast } from "./render.js";

const PAGE = 50;
// The newest messages a reader at the bottom keeps; what they scroll back to beyond it
// stays until they are back at the bottom and the list changes.
export const KEEP = 500;
// "Near the top": within this many px, or one screen, whichever is more.
const NEAR_TOP = 600;

// { scroller, list, button, state, merge(messages), tidy() } from app.js.
let hooks = null;
let loading = false;

export function startHistory(appHooks) {
  hooks = appHooks;
  hooks.button.addEventListener("click", loadOlder);
  hooks.scroller.addEventListener("scroll", onScroll, { passive: true });
}

function nearTop() {
  const { scroller, button } = hooks;
  return !button.hidden && scroller.scrollTop < Math.max(NEAR_TOP, scroller.clientHeight);
}

async function onScroll() {
  if (loading || !nearTop()) return;
  // A page shorter than the screen leaves the reader near the top: go on until it is not.
  if ((await loadOlder()) > 0) onScroll();
}

// Returns how many messages the page below the oldest shown brought.
async function loadOlder() {
  const { state, button, list } = hooks;
  const from = state.oldest;
  if (from == null || loading) return 0;
  loading = true;
  button.disabled = true;
  list.setAttribute("aria-busy", "true");
  try {
    const data = await api(`/api/messages?before=${from}&limit=${PAGE}`);
    // Trimmed or reloaded meanwhile: this page would now sit above a hole.
    if (state.oldest !== from) return 0;
    const messages = (data && data.messages) || [];
    const hadFocus = document.activeElement === button;
    keepReadingPosition(() => {
      hooks.merge(messages);
      button.hidden = messages.length < PAGE;
    });
    // The focused button may just have vanished; don't drop focus to <body>.
    if (hadFocus && button.hidden) list.focus({ preventScroll: true });
    return messages.length;
  } catch (err) {
    if (err.status >= 400 && err.status < 500) toast(describeError(err), "error");
    return 0;
  } finally {
    loading = false;
    button.disabled = false;
    list.removeAttribute("aria-busy");
  }
}

// Runs a change above the viewport without moving what the reader is looking at: the
// distance from the bottom is what stays put, since everything added is above.
function keepReadingPosition(change) {
  const s = hooks.scroller;
  const fromBottom = s.scrollHeight - s.scrollTop;
  change();
  hooks.tidy();
  s.scrollTop = s.scrollHeight - fromBottom;
}

// For a reader at the bottom: the oldest messages past KEEP leave the page and the memory
// of it, out of sight above; "load older" pages below the new oldest and so brings them
// back. A message holding keyboard focus stays, with everything newer.
export function trimHistory() {
  const { state, button } = hooks;
  if (state.byId.size <= KEEP) return;
  const ids = [...state.byId.keys()].sort((a, b) => a - b);
  let cut = 0;
  while (cut < ids.length - KEEP) {
    const { el } = state.byId.get(ids[cut]);
    if (el.contains(document.activeElement)) break;
    el.remove();
    state.byId.delete(ids[cut]);
    cut++;
  }
  if (cut === 0) return;
  state.oldest = ids[cut];
  button.hidden = false;
  hooks.tidy();
}
