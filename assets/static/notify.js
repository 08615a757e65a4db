// BookChat notifications, opt in: the bell in the header asks the browser for permission
// only when the reader clicks it (never on load), the choice is remembered in this browser,
// and while it is on and the tab is hidden each new message from someone else shows a
// notification.
import { toast } from "./render.js";
import { notifyWanted, storeNotifyWanted } from "./store.js";

const bell = document.getElementById("notify");
const ICON = "/static/favicon.svg";
// More at once (a catch-up after a reconnect) make one notification, not a pile.
const SHOWN = 3;
const CLIP = 200;
const TITLES = {
  on: "Notifications on: new messages are shown while this tab is hidden",
  off: "Notify me of new messages while this tab is hidden",
  denied: "Notifications are blocked for this site in the browser's settings",
  insecure: "Notifications need a secure (https) connection",
  unsupported: "This browser cannot show notifications",
};

const shown = new Set(); // open notifications, closed once the reader is back
let asking = false;

export function startNotify() {
  bell.hidden = false;
  bell.addEventListener("click", onClick);
  // The permission may have been changed in the browser's settings meanwhile.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") return;
    for (const notification of shown) notification.close();
    render();
  });
  watchPermission();
  render();
}

// A choice made in the browser's own settings (or by a test) shows at once where the
// browser reports it.
function watchPermission() {
  if (!navigator.permissions) return;
  navigator.permissions
    .query({ name: "notifications" })
    .then((status) => status.addEventListener("change", render))
    .catch(() => {});
}

function mode() {
  if (!window.isSecureContext) return "insecure";
  if (!("Notification" in window)) return "unsupported";
  if (window.Notification.permission === "denied") return "denied";
  return notifyWanted() && window.Notification.permission === "granted" ? "on" : "off";
}

// aria-disabled rather than disabled: the bell stays focusable, so keyboard and screen
// reader users can still learn why it does nothing.
function render() {
  const now = mode();
  bell.setAttribute("aria-pressed", String(now === "on"));
  if (now === "on" || now === "off") bell.removeAttribute("aria-disabled");
  else bell.setAttribute("aria-disabled", "true");
  bell.title = TITLES[now];
}

async function onClick() {
  if (asking) return; // one question at a time
  const now = mode();
  if (now === "on" || now === "off") {
    if (now === "off" && window.Notification.permission === "default") await ask();
    storeNotifyWanted(now === "off" && window.Notification.permission === "granted");
  } else {
    toast(TITLES[now], "info");
  }
  render();
}

// Not by disabling the bell: a disabled button would drop the keyboard focus.
async function ask() {
  asking = true;
  try {
    await window.Notification.requestPermission();
  } catch (err) {
    // Treated as not granted; the permission read afterwards says so.
  } finally {
    asking = false;
  }
}

// `messages`: others' messages that just arrived, oldest first.
export function notifyNew(messages) {
  if (messages.length === 0 || document.visibilityState !== "hidden" || mode() !== "on") return;
  if (messages.length > SHOWN) {
    show(`${messages.length} new messages`, { body: "BookChat", tag: "bookchat-batch" });
    return;
  }
  for (const msg of messages) {
    show(msg.author || "Anonymous", { body: clip(msg.content), tag: `bookchat-${msg.id}` });
  }
}

function show(title, options) {
  let notification;
  try {
    notification = new window.Notification(title, { ...options, icon: ICON });
  } catch (err) {
    return; // some mobile browsers show notifications only through a service worker
  }
  shown.add(notification);
  notification.addEventListener("close", () => shown.delete(notification));
  notification.addEventListener("click", () => {
    window.focus();
    notification.close();
  });
}

function clip(text) {
  const chars = [...text];
  return chars.length > CLIP ? `${chars.slice(0, CLIP).join("")}…` : text;
}
