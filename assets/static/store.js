// BookChat browser storage: the remembered author name, this tab's own message ids, and
// when the tab last reloaded for a refused session. Storage throws in some private modes;
// never let that break the app.

const AUTHOR_KEY = "bookchat.author";
const OWN_KEY = "bookchat.own";
const REAUTH_KEY = "bookchat.reauth";

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

export const storeAuthor = (name) => safely(() => localStorage.setItem(AUTHOR_KEY, name));
export const storedAuthor = () => safely(() => localStorage.getItem(AUTHOR_KEY) || "", "");

export const lastReauth = () => safely(() => Number(sessionStorage.getItem(REAUTH_KEY)) || 0, 0);
export const noteReauth = (at) => safely(() => sessionStorage.setItem(REAUTH_KEY, String(at)));
