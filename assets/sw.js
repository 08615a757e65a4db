// BookChat service worker: keeps the page's shell (the page, its modules, styles, icons
// and manifest) in a cache so that an installed app opens with no network and says it is
// offline, instead of showing the browser's error page. Served at /sw.js, so its scope is
// the whole app.
//
// Strategy: network first for all it handles. Online, the app is exactly what the server
// sends: the page is filled per visitor (who is signed in) and asset names carry no
// version, so a cached copy could be stale; each fresh answer refreshes the cache, which
// is used only when the network fails. Nothing under /api/ is ever handled or stored: those
// requests go to the network untouched, and the page's own code deals with failures.
//
// The server replaces the next line with this build's version (a digest of every embedded
// file) and its shell (src/http/handlers/app.rs): any change to the page installs a new
// worker with a new cache, and activation deletes the old ones.
const BUILD = { version: "unbuilt", shell: [] };

const PREFIX = "bookchat-shell-";
const CACHE = PREFIX + BUILD.version;
// Added to the saved page when it stands in for the real one; /static/pwa.js reads it.
const OFFLINE_MARK = '<meta name="bookchat-offline" content="saved">';

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

// `reload` skips the HTTP cache, so a new cache never starts with an older build's files.
async function precache() {
  const cache = await caches.open(CACHE);
  await cache.addAll(BUILD.shell.map((url) => new Request(url, { cache: "reload" })));
}

self.addEventListener("activate", (event) => {
  event.waitUntil(dropOldCaches().then(() => self.clients.claim()));
});

async function dropOldCaches() {
  const names = await caches.keys();
  const old = names.filter((name) => name.startsWith(PREFIX) && name !== CACHE);
  await Promise.all(old.map((name) => caches.delete(name)));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (request.mode === "navigate") {
    // Only the chat page has a saved copy; other pages (/metrics) are the network's.
    if (url.pathname === "/") event.respondWith(openPage(event));
    return;
  }
  if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(networkFirst(event, url.pathname));
  }
});

async function openPage(event) {
  try {
    return await fetchAndKeep(event, "/");
  } catch (err) {
    const saved = await fromCache("/");
    return saved ? markOffline(saved) : Response.error();
  }
}

async function networkFirst(event, key) {
  try {
    return await fetchAndKeep(event, key);
  } catch (err) {
    return (await fromCache(key)) || Response.error();
  }
}

// Answers from the network at once; a full answer then refreshes the saved copy.
async function fetchAndKeep(event, key) {
  const response = await fetch(event.request);
  if (response.status === 200 && response.type === "basic") {
    event.waitUntil(keep(key, response.clone()));
  }
  return response;
}

// Writes only what changed: most answers are the same file, with the same ETag.
async function keep(key, response) {
  const cache = await caches.open(CACHE);
  const saved = await cache.match(key, { ignoreVary: true });
  const tag = response.headers.get("ETag");
  if (!saved || !tag || saved.headers.get("ETag") !== tag) await cache.put(key, response);
}

// The page varies by cookie; its saved copy is the one copy there is.
async function fromCache(key) {
  const cache = await caches.open(CACHE);
  return cache.match(key, { ignoreVary: true, ignoreSearch: true });
}

// The saved page, marked as such. Its headers (the CSP among them) are kept; the length
// is not, as the text grew.
async function markOffline(saved) {
  const text = await saved.text();
  const headers = new Headers(saved.headers);
  headers.delete("Content-Length");
  headers.delete("ETag");
  return new Response(text.replace(/<head>/i, `<head>\n  ${OFFLINE_MARK}`), {
    status: 200,
    headers,
  });
}
