// BookChat browser storage: the remembered author name, this tab's own message ids, the
// outbox of unsent messages, the reader's choice about notifications, and when the tab last
// reloaded for a refused session. Storage throws in some private modes; never let that
// break the app.

const AUTHOR_KEY = "bookchat.author";
const OWN_KEY = "bookchat.own";
const OUTBOX_KEY = "bookchat.outbox";
const REAUTH_KEY = "bookchat.reauth";
const NOTIFY_KEY = "bookchat.notify";

function safely(fn, fallback) {
  try {
    return fn();
  } catch (err) {
    return fallback;
  }
}

export function loadOwnIds() {
  return safely(() => new Set(JSON.parse(sessionStorage.getItem(OWN_KEY) || "[]")), new Set());
}

export function saveOwnIds(ids) {
  safely(() => sessionStorage.setItem(OWN_KEY, JSON.stringify([...ids].slice(-500))));
}

// The outbox, oldest first: [{ key, body: { content, author }, at }]. In localStorage, so
// it outlives the tab; every change re-reads it, so tabs that share it keep each other's.
export function loadOutbox() {
  return safely(() => {
    const saved = JSON.parse(localStorage.getItem(OUTBOX_KEY) || "[]");
    return Array.isArray(saved) ? saved.filter(isOutboxEntry) : [];
  }, []);
}

export function keepInOutbox(entry) {
  const kept = loadOutbox().filter((saved) => saved.key !== entry.key);
  kept.push(entry);
  saveOutbox(kept);
}

export function dropFromOutbox(key) {
  saveOutbox(loadOutbox().filter((saved) => saved.key !== key));
}

function saveOutbox(entries) {
  safely(() => {
    if (entries.length === 0) localStorage.removeItem(OUTBOX_KEY);
    else localStorage.setItem(OUTBOX_KEY, JSON.stringify(entries));
  });
}

// What another version of the page, or a hand, left there is checked before it is sent.
function isOutboxEntry(entry) {
  if (entry === null || typeof entry !== "object" || typeof entry.key !== "string") return false;
  const body = entry.body;
  return body !== null && typeof body === "object" && typeof body.content === "string";
}

export const storeAuthor = (name) => safely(() => localStorage.setItem(AUTHOR_KEY, name));
export const storedAuthor = () => safely(() => localStorage.getItem(AUTHOR_KEY) || "", "");

// Notifications stay off until the reader turns them on, in this browser for this chat.
export const notifyWanted = () => safely(() => localStorage.getItem(NOTIFY_KEY) === "on", false);
export const storeNotifyWanted = (on) => safely(() => localStorage.setItem(NOTIFY_KEY, on ? "on" : "off"));

export const lastReauth = () => safely(() => Number(sessionStorage.getItem(REAUTH_KEY)) || 0, 0);
export const noteReauth = (at) => safely(() => sessionStorage.setItem(REAUTH_KEY, String(at)));
