// BookChat links: http(s) URLs in a message's text become links that open in a new tab;
// every other character stays a text node, so nothing in a message can become markup.

// Runs until whitespace or a character that cannot be in a URL typed into a sentence.
const URL_LIKE = /https?:\/\/[^\s<>"]+/gi;
// Punctuation that ends the sentence around a URL far more often than the URL itself.
const CLOSING_PUNCTUATION = ".,;:!?'*";
const PAIRS = { ")": "(", "]": "[", "}": "{" };

// Fills `node` with `text`, URLs as links.
export function fillLinked(node, text) {
  node.replaceChildren();
  let at = 0;
  for (const match of text.matchAll(URL_LIKE)) {
    const shown = trimEnd(match[0]);
    const href = safeHref(shown);
    if (!href) continue;
    appendText(node, text.slice(at, match.index));
    node.append(link(href, shown));
    at = match.index + shown.length;
  }
  appendText(node, text.slice(at));
}

function appendText(node, text) {
  if (text) node.append(document.createTextNode(text));
}

// "(see https://example.org/a)." links to https://example.org/a, while a closing bracket
// the URL itself opened stays: https://en.wikipedia.org/wiki/Ice_(disambiguation).
function trimEnd(url) {
  let end = url.length;
  for (;;) {
    const last = url[end - 1];
    if (CLOSING_PUNCTUATION.includes(last)) end--;
    else if (PAIRS[last] && count(url.slice(0, end), PAIRS[last]) < count(url.slice(0, end), last)) end--;
    else return url.slice(0, end);
  }
}

function count(text, char) {
  return text.split(char).length - 1;
}

// Only a URL the browser itself reads as http(s) with a host becomes a link; anything
// else ("https://" alone, a broken host) stays text.
function safeHref(text) {
  try {
    const url = new URL(text);
    const web = url.protocol === "http:" || url.protocol === "https:";
    return web && url.hostname ? url.href : null;
  } catch (err) {
    return null;
  }
}

function link(href, text) {
  const a = document.createElement("a");
  a.className = "message-link";
  a.href = href;
  // The chat must not be reachable from the opened page, nor tell it where the link was,
  // nor lend its reputation to whatever anyone posts.
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  a.textContent = text;
  return a;
}
