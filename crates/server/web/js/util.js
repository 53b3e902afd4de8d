// util.js — small pure helpers: ids, names, dates and times for display.

/** A random idempotency key for a message. crypto.randomUUID needs a secure context, so a
 *  server reached over plain http on a LAN gets the getRandomValues fallback. */
export function newClientId() {
  if (globalThis.crypto?.randomUUID) {
    try {
      return 'c-' + crypto.randomUUID();
    } catch {
      /* insecure context: fall through */
    }
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The name to show for a user-like object: full name if any, else username. */
export function displayName(u) {
  if (!u) return 'Unknown';
  return (u.full_name && u.full_name.trim()) || u.username || 'Unknown';
}

/** One or two letters for an avatar. */
export function initials(name) {
  const parts = String(name || '?').trim().split(/[\s._-]+/).filter(Boolean);
  if (!parts.length) return '?';
  const first = Array.from(parts[0])[0] || '?';
  const second = parts.length > 1 ? Array.from(parts[1])[0] || '' : '';
  return (first + second).toUpperCase();
}

/** A stable hue (0–359) for a name, so avatars get consistent colours. */
export function hueFor(name) {
  let h = 0;
  for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

/**
 * A server time as a Date. The server writes UTC without an offset, as the seed did
 * (`2026-11-30T16:34:18.951466`); JavaScript would read that as local time, so say it is UTC.
 */
export function parseTime(iso) {
  if (!iso) return null;
  let s = String(iso).replace(' ', 'T');
  if (!/(Z|[+-]\d\d:?\d\d)$/.test(s)) s += 'Z';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A key for the local calendar day of a date, for day separators. */
export function dayKey(d) {
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** "Today", "Yesterday", or a date like "Monday, 3 March" (with the year if not this year). */
export function dayLabel(d, now = new Date()) {
  if (sameDay(d, now)) return 'Today';
  const y = new Date(now);
  y.setDate(y.getDate() - 1);
  if (sameDay(d, y)) return 'Yesterday';
  const opts = { weekday: 'long', month: 'long', day: 'numeric' };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return d.toLocaleDateString(LOCALES, opts);
}

/**
 * The languages the person asked their browser for (navigator.languages), for every date and
 * time shown: the default locale of Intl is the browser's own interface language, which may
 * differ. Tags the engine does not know are left out; none left: the default.
 */
export const LOCALES = (() => {
  try {
    const asked = navigator.languages?.length ? navigator.languages : navigator.language ? [navigator.language] : [];
    const ok = Intl.DateTimeFormat.supportedLocalesOf(asked);
    return ok.length ? ok : undefined;
  } catch {
    return undefined;
  }
})();

const TIME = new Intl.DateTimeFormat(LOCALES, { hour: 'numeric', minute: '2-digit' });
const FULL = new Intl.DateTimeFormat(LOCALES, { dateStyle: 'full', timeStyle: 'short' });

/** A time of day as the person's locale writes it: "4:55 PM", "16:55". */
export function timeLabel(d) {
  return TIME.format(d);
}

/** Date and time in full, for tooltips. */
export function fullTime(d) {
  return FULL.format(d);
}

/** Short time for the sidebar: a time today, a weekday this week, else a date. */
export function shortWhen(d, now = new Date()) {
  if (!d) return '';
  if (sameDay(d, now)) return timeLabel(d);
  const age = now - d;
  if (age < 6 * 24 * 3600 * 1000 && age > 0) return d.toLocaleDateString(LOCALES, { weekday: 'short' });
  const opts = { month: 'short', day: 'numeric' };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return d.toLocaleDateString(LOCALES, opts);
}

export function debounce(fn, ms) {
  let t = null;
  const wrapped = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(t);
  return wrapped;
}

/** The largest message the server accepts, in characters. */
export const MAX_MESSAGE_CHARS = 5000;
