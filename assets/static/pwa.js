// BookChat installable app, page side: registers the service worker (/sw.js) and, when
// the worker opened its saved copy of the page because the server could not be reached,
// says so until the server answers again. The chat itself (app.js) retries on its own.
const HEALTH_MS = 5000;
const OFFLINE_TEXT = "You are offline: this is the saved copy of BookChat. "
  + "Messages load when the server can be reached again.";

// Workers need a secure context: https, or http on localhost and 127.0.0.1.
function register() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  // The page works without a worker; a refused registration changes nothing else.
  navigator.serviceWorker.register("/sw.js").catch(() => {});
}

// The worker marks the saved page it serves in place of the server's (see /sw.js).
function servedOffline() {
  return document.querySelector('meta[name="bookchat-offline"]') !== null;
}

function accessWords(doc) {
  const meta = doc.querySelector('meta[name="bookchat-access"]');
  return (meta && meta.content) || "";
}

// Always in the page before it speaks, so that screen readers announce the words.
function showOffline() {
  const region = document.createElement("div");
  region.id = "offline-status";
  region.className = "sync-status";
  region.setAttribute("role", "status");
  document.querySelector(".app-header").after(region);
  requestAnimationFrame(() => {
    const banner = document.createElement("p");
    banner.className = "sync-banner";
    banner.textContent = OFFLINE_TEXT;
    region.append(banner);
  });
  setTimeout(() => watchServer(region), HEALTH_MS);
}

// The saved page may be stale about who is signed in: once the server answers, a page
// it would now write differently is reloaded; otherwise the banner just goes.
async function watchServer(region) {
  try {
    const health = await fetch("/api/health", { cache: "no-store" });
    if (!health.ok) throw new Error(`HTTP ${health.status}`);
    const page = await fetch("/", { cache: "no-store" });
    const fresh = new DOMParser().parseFromString(await page.text(), "text/html");
    if (accessWords(fresh) !== accessWords(document)) {
      location.reload();
      return;
    }
    region.replaceChildren();
  } catch (err) {
    setTimeout(() => watchServer(region), HEALTH_MS);
  }
}

if (servedOffline()) showOffline();
if (document.readyState === "complete") register();
else window.addEventListener("load", register, { once: true });
