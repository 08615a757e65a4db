// BookChat browser storage: the remembered author name and this tab's own
// message ids. Storage throws in some private modes; never let that break the app.

const AUTHOR_KEY = "bookchat.author";
const OWN_KEY = "bookchat.own";

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
