// links.js — web addresses in message text become links. Only http: and https: addresses are
// ever linked (a `javascript:`, `data:` or any other scheme stays plain text); each link is
// built with DOM APIs (the text through a text node, the address checked by the URL parser and
// set as `href`), opens in a new tab, and carries rel="noopener noreferrer" so the page it opens
// gets neither a handle on this one nor the address of the conversation.

import { h } from './dom.js';

// "http://" or "https://", then anything up to whitespace or a character that cannot be part
// of an address written in running text. Trailing punctuation is trimmed below.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = new Set(['.', ',', ';', ':', '!', '?', "'", '"', '»', '”', '’', ')', ']', '}']);
const PAIRS = { ')': '(', ']': '[', '}': '{' };
const MAX_LINK_CHARS = 2048;

function count(s, ch) {
  return s.split(ch).length - 1;
}

/** Cut what ends a sentence off an address: "(see https://x.org/a)." → "https://x.org/a".
 *  A closing bracket stays when the address opened one ("…/Foo_(bar)"). */
function trimEnd(candidate) {
  let s = candidate;
  while (s && TRAILING.has(s[s.length - 1])) {
    const last = s[s.length - 1];
    const open = PAIRS[last];
    if (open && count(s, open) >= count(s, last)) break;
    s = s.slice(0, -1);
  }
  return s;
}

/** The address as a safe http(s) URL, or null. */
export function safeUrl(text) {
  if (text.length > MAX_LINK_CHARS) return null;
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    if (!url.hostname) return null;
    return url;
  } catch {
    return null;
  }
}

/** One link element for a checked address, its text exactly as written. */
export function linkElement(text, url) {
  return h('a.msg-link', {
    href: url.href,
    target: '_blank',
    rel: 'noopener noreferrer',
    dataset: { testid: 'message-link' },
    text,
  });
}

/**
 * Text with its http(s) addresses as links: an array of strings and <a> elements, in order
 * (just [text] when it has none). Never markup: strings stay text wherever they go.
 * @param {string} text @returns {(string|HTMLAnchorElement)[]}
 */
export function linkify(text) {
  const s = String(text ?? '');
  const out = [];
  let last = 0;
  URL_RE.lastIndex = 0;
  for (let m = URL_RE.exec(s); m; m = URL_RE.exec(s)) {
    const raw = trimEnd(m[0]);
    const url = raw && safeUrl(raw);
    if (!url) continue;
    if (m.index > last) out.push(s.slice(last, m.index));
    out.push(linkElement(raw, url));
    last = m.index + raw.length;
    URL_RE.lastIndex = last;
  }
  if (last < s.length) out.push(s.slice(last));
  return out.length ? out : [s];
}
