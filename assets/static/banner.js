// BookChat sync banner: from the event stream's `sync` state, a quiet notice that saving
// to GitHub is paused, why, and until when. Server text (last_error) never becomes markup.
import { el } from "./render.js";

// The worker's states in which messages wait here instead of reaching GitHub.
const PAUSED = new Set(["failing", "rate_limited", "retrying"]);
// last_error quotes GitHub's status first ("GitHub answered 401 (…): Bad credentials").
const QUOTED_STATUS = /^GitHub answered (\d{3})\b/;
// Why a `failing` worker stopped, in the reader's words rather than the operator's.
const FAILING_BECAUSE = {
  401: "GitHub rejected the token",
  403: "GitHub refused access",
  404: "the repository or branch was not found",
};
const TIME = { hour: "2-digit", minute: "2-digit" };

// Always in the page, empty while all is well: a live region that already exists is
// the one screen readers reliably announce when the banner is added to it.
const region = document.getElementById("sync-status");
let expiry = 0; // drops the retry time from the text once that time has passed

export function followSync(source) {
  source.addEventListener("sync", (event) => {
    const sync = parse(event.data);
    if (sync) showSync(sync);
  });
}

function parse(data) {
  try {
    return JSON.parse(data);
  } catch (err) {
    return null;
  }
}

export function showSync(sync) {
  clearTimeout(expiry);
  if (!PAUSED.has(sync.state)) {
    region.replaceChildren();
    return;
  }
  render(sync);
  // The worker only announces changes, so a later retry's time never arrives; rather
  // than show a time already gone, say nothing about when.
  const wait = Date.parse(sync.next_attempt_at) - Date.now();
  if (wait > 0) expiry = setTimeout(() => render(sync), wait + 250);
}

// A stream that reconnects repeats the state; writing the same words again would make
// screen readers repeat them, so only a change is written.
function render(sync) {
  const text = describe(sync);
  const shown = region.firstElementChild;
  if (shown && shown.textContent === text) return;
  const banner = el("p", "sync-banner", text);
  banner.title = sync.last_error || ""; // the exact error, for whoever runs the server
  region.replaceChildren(banner);
}

function describe(sync) {
  return `Saving to GitHub is paused: ${reason(sync)}${retryClause(sync)}. `
    + "Messages are saved here and will be sent when it recovers.";
}

function reason(sync) {
  if (sync.state === "rate_limited") return "GitHub rate limit";
  if (sync.state === "retrying") return "GitHub is unreachable";
  const quoted = QUOTED_STATUS.exec(sync.last_error || "");
  return (quoted && FAILING_BECAUSE[quoted[1]]) || "GitHub reported an error";
}

// In the reader's own clock and format, like the message times.
function retryClause(sync) {
  const at = Date.parse(sync.next_attempt_at);
  if (!(at > Date.now())) return "";
  return `, retrying at ${new Date(at).toLocaleTimeString([], TIME)}`;
}
