// mentions.js — `@username` in message text, read as the server reads it: an `@` followed by
// a member's username in any case, the longest that fits, ending where a name cannot go on (not
// a letter, digit or `_`). The server lists whom a message mentions (`mentions`, user ids);
// these helpers find where in the text, and which `@name` is being typed in the composer.

const NAME_CHAR = /[\p{L}\p{N}_]/u;
const MAX_NAME = 50; // the longest username

/** `s` folded for matching what people type: no accents, lower case ("José" ~ "jose"). */
export function fold(s) {
  return String(s || '')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase();
}

/** The character at `i` (a whole code point), or ''. */
function charAt(s, i) {
  const cp = s.codePointAt(i);
  return cp === undefined ? '' : String.fromCodePoint(cp);
}

/**
 * Cut `content` into pieces: plain text, and each `@name` of the people it mentions.
 * @param {string} content
 * @param {{id: number, username: string}[]} people whom the message mentions (names known)
 * @returns {({text: string} | {text: string, userId: number})[]}
 */
export function splitMentions(content, people) {
  const text = String(content || '');
  const names = people
    .filter((p) => p && p.username)
    .map((p) => ({ id: p.id, name: p.username, lower: p.username.toLowerCase() }))
    .sort((a, b) => b.name.length - a.name.length);
  if (!names.length || !text.includes('@')) return [{ text }];
  const out = [];
  let from = 0;
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    if (at < from) continue;
    const rest = text.slice(at + 1, at + 1 + MAX_NAME + 2);
    const hit = names.find((n) => rest.slice(0, n.name.length).toLowerCase() === n.lower && !NAME_CHAR.test(charAt(rest, n.name.length)));
    if (!hit) continue;
    if (at > from) out.push({ text: text.slice(from, at) });
    const end = at + 1 + hit.name.length;
    out.push({ text: text.slice(at, end), userId: hit.id });
    from = end;
  }
  if (from < text.length) out.push({ text: text.slice(from) });
  return out;
}

/**
 * The `@name` being typed just before the caret: {start (the index of the `@`), query}, or
 * null. Not inside a word (an email address), not across a line, not longer than a name.
 */
export function mentionQueryAt(text, caret) {
  const before = String(text || '').slice(0, caret);
  const at = before.lastIndexOf('@');
  if (at < 0) return null;
  const query = before.slice(at + 1);
  if (query.length > MAX_NAME || /[\r\n]/.test(query) || /^\s/.test(query)) return null;
  if (at > 0 && NAME_CHAR.test(before[at - 1])) return null;
  return { start: at, query };
}

/**
 * People whose username or name starts with `query` (or a word of their name does), best
 * first: a username match before a name match, then alphabetically.
 * @param {{id: number, username: string, full_name?: string|null}[]} people
 */
export function matchPeople(people, query, limit = 8) {
  const q = fold(query);
  const scored = [];
  for (const p of people) {
    if (!p?.username) continue;
    const user = fold(p.username);
    const full = fold(p.full_name || '');
    let score = -1;
    if (user.startsWith(q)) score = 0;
    else if (full.startsWith(q)) score = 1;
    else if (q && !/\s/.test(q) && full.split(/\s+/).some((w) => w.startsWith(q))) score = 2;
    if (score >= 0) scored.push({ p, score, key: user });
  }
  scored.sort((a, b) => a.score - b.score || a.key.localeCompare(b.key));
  return scored.slice(0, limit).map((x) => x.p);
}

/**
 * The text with the `@query` before the caret replaced by `@username ` (no second space if one
 * follows already): {text, caret}.
 */
export function insertMention(text, caret, start, username) {
  const after = text.slice(caret);
  const insert = `@${username}${after.startsWith(' ') ? '' : ' '}`;
  const next = text.slice(0, start) + insert + after;
  return { text: next, caret: start + insert.length + (after.startsWith(' ') ? 1 : 0) };
}
