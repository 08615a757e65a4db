// BookChat DOM building: message elements, their status marks, and toasts.
// User data only ever goes in via textContent / attributes / text nodes, never innerHTML.
import { fillLinked } from "./links.js";

const toasts = document.getElementById("toasts");

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

// ---------- toasts

export function toast(text, kind) {
  const node = el("div", `toast toast-${kind || "info"}`, text);
  node.setAttribute("role", kind === "error" ? "alert" : "status");
  node.addEventListener("click", () => dismiss(node));
  toasts.append(node);
  while (toasts.childElementCount > 3) toasts.firstElementChild.remove();
  setTimeout(() => dismiss(node), kind === "error" ? 6000 : 3500);
  return node;
}

export function dismiss(node) {
  if (!node.isConnected) return;
  node.classList.add("leaving");
  setTimeout(() => node.remove(), 300);
}

// ---------- messages

export function buildMessage(msg) {
  const root = el("div", "message");
  const meta = el("div", "message-meta");
  meta.append(el("span", "message-author"));
  const footer = el("div", "message-footer");
  const time = el("time", "message-time");
  // Focusable, so keyboard users get the full date that hovering shows (reading.css).
  time.tabIndex = 0;
  footer.append(time, el("span", "message-status"));
  root.append(meta, el("p", "message-content"), footer);
  fillMessage(root, msg);
  return root;
}

export function fillMessage(root, msg) {
  const author = root.querySelector(".message-author");
  author.textContent = msg.author || "Anonymous";
  author.classList.toggle("anonymous", !msg.author);
  fillLinked(root.querySelector(".message-content"), msg.content);
  fillTime(root.querySelector(".message-time"), msg.created_at);
}

function fillTime(node, iso) {
  const date = iso ? new Date(iso) : new Date();
  if (Number.isNaN(date.getTime())) return;
  node.dateTime = iso || date.toISOString();
  node.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  node.title = date.toLocaleString([], { dateStyle: "full", timeStyle: "medium" });
}

// ---------- status marks

export function setStatus(root, kind, msg) {
  const status = root.querySelector(".message-status");
  status.replaceChildren();
  status.dataset.status = kind;
  ["role", "aria-label", "title"].forEach((attr) => status.removeAttribute(attr));
  root.classList.toggle("failed", kind === "failed");
  if (kind === "sending") status.textContent = "Sending…";
  else if (kind === "failed") status.append("Failed — ", retryButton());
  else setSavedMark(status, kind === "synced", msg);
}

// "✓" once stored, "✓✓" once committed to Git; the label carries the meaning.
function setSavedMark(status, synced, msg) {
  const hash = synced && msg.git_commit_hash ? msg.git_commit_hash.slice(0, 7) : "";
  const label = synced ? "Synced to GitHub" : "Saved";
  status.textContent = synced ? "✓✓" : "✓";
  status.setAttribute("role", "img");
  status.setAttribute("aria-label", label);
  status.title = hash ? `${label} (commit ${hash})` : label;
}

function retryButton() {
  const button = el("button", "retry", "Retry");
  button.type = "button";
  button.setAttribute("aria-label", "Retry sending this message");
  return button;
}
