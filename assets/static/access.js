// BookChat access: reads the page's access tag (members-only, moderation, who is signed in)
// and owns the sign-in form, "Moderator sign-in", "Sign out", the moderator's delete
// controls with their inline confirmation, and the reload when a session ends.
import { api, describeError, onUnauthorized } from "./api.js";
import { el, toast } from "./render.js";
import { lastReauth, noteReauth, storedAuthor } from "./store.js";

const JSON_HEADERS = { "Content-Type": "application/json", Accept: "application/json" };
// The parts of the page that belong to the chat, hidden while the sign-in form shows.
const CHAT_PARTS = ".skip-link, .chat-wrap, .composer";
// A second reload for a refused session within this time would be a loop, not a fix.
const REAUTH_GAP_MS = 10000;
const SVG = "http://www.w3.org/2000/svg";
const TRASH_PATH = "M9 3h6l1 2h4v2H4V5h4l1-2zm-3 6h12l-1 12H7L6 9zm4 2v8h1.5v-8H10zm3.5 0v8H15v-8h-1.5z";

const $ = (id) => document.getElementById(id);
const ui = {
  section: $("sign-in"),
  form: $("sign-in-form"),
  title: $("sign-in-title"),
  intro: $("sign-in-intro"),
  codeLabel: $("sign-in-code-label"),
  code: $("sign-in-code"),
  name: $("sign-in-name"),
  hint: $("sign-in-hint"),
  error: $("sign-in-error"),
  submit: $("sign-in-submit"),
  cancel: $("sign-in-cancel"),
  moderatorButton: $("moderator-sign-in"),
  signOut: $("sign-out"),
  badge: $("role-badge"),
};

// The server writes the tag into the page: the session cookie itself is out of scripts' reach.
const access = readAccess();

let hooks = null; // { list, forget(id), chatShown() } from app.js

function readAccess() {
  const meta = document.querySelector('meta[name="bookchat-access"]');
  const words = new Set(((meta && meta.content) || "").split(/\s+/).filter(Boolean));
  const signedIn = words.has("signed-in");
  return {
    membersOnly: words.has("private"),
    moderation: words.has("moderation"),
    signedIn,
    moderator: signedIn && words.has("moderator"),
  };
}

// Sets up the header and the form; returns false when the chat must stay closed (signed
// out of a members-only chat), so that nothing is fetched and no stream is opened.
export function startAccess(appHooks) {
  hooks = appHooks;
  ui.form.addEventListener("submit", onSignIn);
  ui.form.addEventListener("keydown", onFormKeyDown);
  ui.cancel.addEventListener("click", closeSignIn);
  ui.moderatorButton.addEventListener("click", () => openSignIn("moderator"));
  ui.signOut.addEventListener("click", signOut);
  showHeaderControls();
  if (access.membersOnly && !access.signedIn) {
    openSignIn("member");
    return false;
  }
  if (access.membersOnly) onUnauthorized(reloadToSignIn);
  if (access.moderator) {
    hooks.list.addEventListener("click", onListClick);
    hooks.list.addEventListener("keydown", onListKeyDown);
  }
  return true;
}

function showHeaderControls() {
  // A members-only page's form already takes the admin token, so the button is for open chats.
  ui.moderatorButton.hidden = !(access.moderation && !access.signedIn && !access.membersOnly);
  ui.signOut.hidden = !access.signedIn;
  ui.badge.hidden = !access.moderator;
}

// ---------- the sign-in form

function openSignIn(mode) {
  const moderator = mode === "moderator";
  ui.title.textContent = moderator ? "Moderator sign-in" : "Sign in";
  ui.intro.textContent = moderator
    ? "Sign in as moderator to delete messages."
    : "This chat is private. Enter the access code.";
  ui.codeLabel.textContent = moderator ? "Admin token" : "Access code";
  ui.hint.hidden = moderator || !access.moderation;
  ui.cancel.hidden = !moderator;
  ui.moderatorButton.hidden = true;
  if (!ui.name.value) ui.name.value = storedAuthor();
  showError("");
  setChatShown(false);
  ui.section.hidden = false;
  ui.code.focus();
}

// Only the moderator's form in an open chat can close: the members-only one is the page.
function closeSignIn() {
  if (ui.cancel.hidden) return;
  ui.section.hidden = true;
  ui.code.value = "";
  setChatShown(true);
  showHeaderControls();
  hooks.chatShown();
  ui.moderatorButton.focus();
}

function setChatShown(shown) {
  for (const part of document.querySelectorAll(CHAT_PARTS)) part.hidden = !shown;
}

function onFormKeyDown(event) {
  if (event.key === "Escape" && !ui.cancel.hidden) {
    event.preventDefault();
    closeSignIn();
  }
}

async function onSignIn(event) {
  event.preventDefault();
  const code = ui.code.value;
  if (code === "") {
    showError(`Enter the ${ui.codeLabel.textContent.toLowerCase()} first.`);
    ui.code.focus();
    return;
  }
  const name = ui.name.value.trim();
  // Cleared first, so the same words said again are announced again.
  showError("");
  ui.submit.disabled = true;
  try {
    const body = JSON.stringify(name ? { code, name } : { code });
    await api("/api/session", { method: "POST", headers: JSON_HEADERS, body });
    location.reload(); // the server now fills the access tag for a signed-in visitor
  } catch (err) {
    ui.submit.disabled = false;
    showError(signInError(err));
    ui.code.select();
    ui.code.focus();
  }
}

function signInError(err) {
  const wait = Number(err.retryAfter);
  if (err.status === 401) return "That code is not right.";
  if (err.status === 429) return `Too many tries. Try again in ${wait > 0 ? wait : 60} s.`;
  // The toasts live in the hidden chat, so an outage is said here.
  if (err.status === 0 || err.status >= 500) return "Can't reach the server. Try again.";
  return err.message;
}

function showError(text) {
  ui.error.textContent = text;
  if (text) ui.code.setAttribute("aria-invalid", "true");
  else ui.code.removeAttribute("aria-invalid");
}

// ---------- signing out, and sessions that end

async function signOut() {
  ui.signOut.disabled = true;
  try {
    await api("/api/session", { method: "DELETE" });
    location.reload();
  } catch (err) {
    ui.signOut.disabled = false;
    if (err.status >= 400 && err.status < 500) toast(describeError(err), "error");
  }
}

// A members-only page's session ended (it expired, or the code changed): the reload
// shows the sign-in form. Not twice in a row, so a server that keeps refusing a session
// it calls valid cannot make the page reload in a loop.
function reloadToSignIn() {
  const now = Date.now();
  if (now - lastReauth() < REAUTH_GAP_MS) return;
  noteReauth(now);
  location.reload();
}

// ---------- the moderator's delete controls

// Called for every confirmed message; a no-op unless a moderator is signed in.
export function addDeleteControl(root, msg) {
  if (!access.moderator) return;
  let button = root.querySelector(".delete");
  if (!button) {
    button = el("button", "delete");
    button.type = "button";
    button.title = "Delete message";
    button.append(trashIcon());
    root.querySelector(".message-meta").append(button);
  }
  button.setAttribute("aria-label", `Delete message ${msg.id} by ${msg.author || "Anonymous"}`);
}

function trashIcon() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", TRASH_PATH);
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

function onListClick(event) {
  const button = event.target.closest("button");
  const root = button && button.closest(".message");
  if (!root || root.dataset.deleting) return;
  if (button.classList.contains("delete")) askToDelete(root);
  else if (button.classList.contains("delete-no")) cancelDelete(root);
  else if (button.classList.contains("delete-yes")) confirmDelete(root);
}

function onListKeyDown(event) {
  if (event.key !== "Escape") return;
  const box = event.target.closest(".delete-confirm");
  const root = box && box.closest(".message");
  if (!root || root.dataset.deleting) return;
  event.preventDefault();
  cancelDelete(root);
}

// An inline question rather than window.confirm, which blocks the page and cannot be
// styled. Focus starts on Cancel, the choice that loses nothing.
function askToDelete(root) {
  if (root.querySelector(".delete-confirm")) return;
  const button = root.querySelector(".delete");
  const box = el("div", "delete-confirm");
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", `${button.getAttribute("aria-label")}?`);
  const no = confirmButton("delete-no", "Cancel");
  const choices = el("span", "delete-choices"); // the pair wraps together on a phone
  choices.append(confirmButton("delete-yes", "Delete"), no);
  box.append(el("span", "delete-question", "Delete this message?"), choices);
  root.append(box);
  button.hidden = true;
  no.focus();
}

function confirmButton(className, text) {
  const button = el("button", className, text);
  button.type = "button";
  return button;
}

function cancelDelete(root) {
  const box = root.querySelector(".delete-confirm");
  if (box) box.remove();
  delete root.dataset.deleting;
  const button = root.querySelector(".delete");
  button.hidden = false;
  button.focus();
}

async function confirmDelete(root) {
  const id = Number(root.dataset.id);
  root.dataset.deleting = "1"; // later clicks wait for this answer
  root.querySelector(".delete-question").textContent = "Deleting…";
  try {
    await api(`/api/messages/${id}`, { method: "DELETE" });
    hooks.forget(id);
  } catch (err) {
    // 404 and 410: gone already, which is what the moderator wanted.
    if (err.status === 404 || err.status === 410) hooks.forget(id);
    else deleteFailed(root, err);
  }
}

function deleteFailed(root, err) {
  cancelDelete(root);
  if (err.status === 401 || err.status === 403) {
    toast("Your moderator session has ended. Sign in again to delete messages.", "error");
  } else if (err.status >= 400 && err.status < 500) {
    toast(describeError(err), "error");
  }
}

// A message is leaving the page while focus is inside it (its own deletion, or another
// moderator's): keyboard users would drop to the top of the page, so the neighbouring
// message's delete button, or else the list, takes focus.
export function handOverFocus(root, list) {
  if (!root.contains(document.activeElement)) return;
  const neighbour = nearMessage(root, "nextElementSibling") || nearMessage(root, "previousElementSibling");
  const next = neighbour && neighbour.querySelector(".delete:not([hidden])");
  (next || list).focus({ preventScroll: true });
}

// The closest message that way, past day separators and the unread line.
function nearMessage(root, way) {
  let node = root[way];
  while (node && !node.classList.contains("message")) node = node[way];
  return node;
}
