// session.js — the tokens and the signed-in user, kept in localStorage so a reload stays
// logged in. Values are read from storage every time (never cached) because another tab may
// have rotated the refresh token; presenting a spent refresh token would end the session.
// A logout also wipes the user's saved outbox (outbox.js: messages not sent yet, one key per
// user), so nothing written by one person is ever sent after they logged out.

const KEYS = { access: 'banter.access', refresh: 'banter.refresh', user: 'banter.user' };
const OUTBOX_PREFIX = 'banter.outbox.';

/** Where a user's unsent messages are kept (outbox.js). */
export function outboxKey(userId) {
  return OUTBOX_PREFIX + userId;
}

function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* storage full or disabled: the session lasts until reload */
  }
}

export const session = {
  get access() {
    return read(KEYS.access);
  },
  get refresh() {
    return read(KEYS.refresh);
  },
  get user() {
    try {
      return JSON.parse(read(KEYS.user) || 'null');
    } catch {
      return null;
    }
  },
  get loggedIn() {
    return Boolean(read(KEYS.refresh) || read(KEYS.access));
  },
  /** Store a token pair (login, register, refresh, password change). */
  setTokens({ access_token, refresh_token }) {
    if (access_token) write(KEYS.access, access_token);
    if (refresh_token) write(KEYS.refresh, refresh_token);
  },
  setUser(user) {
    write(KEYS.user, user ? JSON.stringify(user) : null);
  },
  /** The session ends (a logout here or everywhere, the account deleted, the session revoked or
   *  run out): the tokens, the user and that user's unsent messages go. */
  clear() {
    const userId = this.user?.id;
    write(KEYS.access, null);
    write(KEYS.refresh, null);
    write(KEYS.user, null);
    if (userId != null) write(outboxKey(userId), null);
  },
  /** Someone logs in on this browser: any other user's unsent messages go, never to be sent as
   *  someone else. */
  forgetOutboxesExcept(userId) {
    try {
      const keys = [];
      for (let i = 0; i < localStorage.length; i++) keys.push(localStorage.key(i));
      for (const key of keys) if (key?.startsWith(OUTBOX_PREFIX) && key !== outboxKey(userId)) localStorage.removeItem(key);
    } catch {
      /* storage disabled: nothing was kept */
    }
  },
  /** Calls fn() when another tab logs out (the refresh token disappears). */
  onExternalLogout(fn) {
    window.addEventListener('storage', (e) => {
      if ((e.key === KEYS.refresh && e.newValue === null) || e.key === null) {
        if (!read(KEYS.refresh)) fn();
      }
    });
  },
};

/** Seconds until the JWT access token expires (negative if past), or null if unreadable. */
export function accessTokenTtl(token = session.access) {
  if (!token) return null;
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const payload = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
    return typeof payload.exp === 'number' ? payload.exp - Date.now() / 1000 : null;
  } catch {
    return null;
  }
}
