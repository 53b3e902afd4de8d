// api.js — the REST client. Same-origin relative URLs, bearer auth, and a silent refresh on
// 401: the refresh token rotates, so the new pair is stored every time, and concurrent
// refreshes (in this tab, and across tabs through a Web Lock) share one request. Every failure
// becomes an ApiError whose message is a sentence for people, never raw JSON.

import { session, accessTokenTtl } from './session.js';

const TIMEOUT_MS = 20000;

const FIELD_LABELS = {
  username: 'Username',
  email: 'Email',
  password: 'Password',
  full_name: 'Full name',
  current_password: 'Current password',
  old_password: 'Current password',
  new_password: 'New password',
  content: 'Message',
  name: 'Group name',
  member_ids: 'Members',
  user_ids: 'Members',
  user_id: 'Member',
  recipient_id: 'Recipient',
  reply_to_id: 'Reply',
  attachment_ids: 'Files',
  q: 'Search',
};

export class ApiError extends Error {
  /** @param {string} message a sentence for people
   *  @param {{status?: number, fields?: Record<string,string>, network?: boolean}} info */
  constructor(message, { status = 0, fields = {}, network = false } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.fields = fields; // field name -> message, for inline display
    this.network = network;
  }
}

export const NETWORK_MESSAGE = "Can't reach the server. Check your connection and try again.";
const SESSION_ENDED = 'Your session has ended. Please log in again.';

function sentence(s) {
  const t = String(s).trim();
  if (!t) return t;
  const cap = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(cap) ? cap : cap + '.';
}

/** Pydantic-style messages, said plainly. */
function humanizeFieldMessage(msg) {
  const m = String(msg || 'Invalid value');
  const rules = [
    [/^String should have at least (\d+) characters?$/i, (_, n) => `Must be at least ${n} character${n === '1' ? '' : 's'} long`],
    [/^String should have at most (\d+) characters?$/i, (_, n) => `Must be at most ${n} characters long`],
    [/^Field required$/i, () => 'Required'],
    [/^value is not a valid email address:?\s*(.*)$/i, () => 'Enter a valid email address'],
    [/^Value error, (.*)$/i, (_, rest) => rest],
  ];
  for (const [re, fn] of rules) if (re.test(m)) return sentence(m.replace(re, fn));
  return sentence(m);
}

function fieldOf(loc) {
  if (!Array.isArray(loc)) return '';
  const parts = loc.filter((p) => p !== 'body' && p !== 'query' && p !== 'path' && typeof p === 'string');
  return parts[parts.length - 1] || '';
}

/** Turn an error response into an ApiError with a human sentence (and per-field messages). */
export function errorFrom(status, body) {
  const detail = body && typeof body === 'object' ? body.detail : undefined;
  if (Array.isArray(detail)) {
    const fields = {};
    const lines = [];
    for (const d of detail) {
      const field = fieldOf(d?.loc);
      const msg = humanizeFieldMessage(d?.msg);
      if (field && !fields[field]) fields[field] = msg;
      const label = FIELD_LABELS[field] || (field ? field.replace(/_/g, ' ') : '');
      lines.push(label ? `${label}: ${msg}` : msg);
    }
    return new ApiError(lines.join(' ') || 'Please check the form and try again.', { status, fields });
  }
  if (typeof detail === 'string' && detail && status < 500) return new ApiError(sentence(detail), { status });
  const byStatus = {
    401: SESSION_ENDED,
    403: "You don't have permission to do that.",
    404: 'That no longer exists.',
    413: 'That is too large to send.',
    429: 'Too many requests. Please wait a moment and try again.',
    503: 'The server is temporarily unavailable. Please try again shortly.',
  };
  if (byStatus[status]) return new ApiError(byStatus[status], { status });
  if (status >= 500) return new ApiError('The server ran into a problem. Please try again.', { status });
  return new ApiError(`Something went wrong (error ${status}). Please try again.`, { status });
}

async function readJson(res) {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export class Api {
  /** @param {{onSessionEnded?: (reason: string) => void}} hooks */
  constructor(hooks = {}) {
    this.onSessionEnded = hooks.onSessionEnded || (() => {});
    this.refreshing = null; // the in-flight refresh, shared by every caller
    this.sessionChange = null; // an in-flight password change (it revokes then renews the session)
  }

  async raw(method, path, body, token) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      return await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
        signal: AbortSignal.timeout ? AbortSignal.timeout(TIMEOUT_MS) : undefined,
      });
    } catch {
      throw new ApiError(NETWORK_MESSAGE, { network: true });
    }
  }

  /** One REST call. `auth: false` for the endpoints that take no bearer token. */
  async request(method, path, { body, auth = true } = {}) {
    // Whose request this is: it never goes out with another user's token (someone else may log
    // in on this browser while it waits, e.g. an outbox send on a slow network).
    const who = auth ? session.user?.id : undefined;
    const sameUser = () => {
      if (who != null && session.user?.id !== who) throw new ApiError(SESSION_ENDED, { status: 401 });
    };
    if (auth) await this.ensureFreshToken();
    sameUser();
    const token = auth ? session.access : null;
    if (auth && !token && !session.refresh) throw this.endSession('expired');
    let res = await this.raw(method, path, body, token);
    if (res.status === 401 && auth) {
      await this.refresh(token);
      sameUser();
      res = await this.raw(method, path, body, session.access);
      if (res.status === 401) throw this.endSession('expired');
    }
    const data = await readJson(res);
    if (!res.ok) {
      const err = errorFrom(res.status, data);
      if (res.status === 429) {
        const s = Number(res.headers.get('Retry-After'));
        if (s > 0) err.retryAfterMs = s * 1000;
      }
      throw err;
    }
    return data;
  }

  /** Refresh ahead of time when the access token is about to expire. */
  async ensureFreshToken() {
    const ttl = accessTokenTtl();
    if (session.refresh && (session.access === null || (ttl !== null && ttl < 30))) {
      await this.refresh(session.access);
    }
  }

  /**
   * Trade the refresh token for a new pair, once, however many callers ask at the same time.
   * `staleAccess` is the access token the caller found wanting: if the stored one differs,
   * someone (maybe another tab) already refreshed and nothing needs doing.
   */
  refresh(staleAccess) {
    if (!this.refreshing) {
      this.refreshing = this.refreshLocked(staleAccess).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async refreshLocked(staleAccess) {
    const run = async () => {
      if (staleAccess !== undefined && session.access && session.access !== staleAccess) return;
      const refreshToken = session.refresh;
      if (!refreshToken) throw this.endSession('expired');
      const res = await this.raw('POST', '/auth/refresh', { refresh_token: refreshToken }, null);
      const data = await readJson(res);
      if (res.ok && data?.access_token) {
        session.setTokens(data);
        return;
      }
      if (res.status === 401 || res.status === 400 || res.status === 422) {
        if (session.refresh && session.refresh !== refreshToken) return; // another tab won the race
        throw this.endSession('expired');
      }
      throw errorFrom(res.status, data);
    };
    if (navigator.locks?.request) return navigator.locks.request('banter-token-refresh', run);
    return run();
  }

  /** Forget the session locally (with the user's unsent messages: a session that ended —
   *  expired, logged out everywhere, the password changed, the account deleted — leaves nothing
   *  of theirs behind) and tell the app. Returns the error to throw. */
  endSession(reason) {
    const wasLoggedIn = session.loggedIn;
    session.clear();
    if (wasLoggedIn) this.onSessionEnded(reason);
    return new ApiError(SESSION_ENDED, { status: 401 });
  }

  /** Resolves once no password change is in flight (see realtime's 4003 handling). */
  async settled() {
    if (this.sessionChange) {
      try {
        await this.sessionChange;
      } catch {
        /* the caller decides from the tokens */
      }
    }
  }

  // ---- accounts -------------------------------------------------------------------------

  /** Who may register here: 'open', 'invite' or 'closed'. */
  async registrationMode() {
    const data = await this.request('GET', '/auth/registration', { auth: false });
    return data.mode;
  }

  async register({ username, email, password, full_name, invite_code }) {
    const body = { username, email, password };
    if (full_name) body.full_name = full_name;
    if (invite_code) body.invite_code = invite_code;
    const data = await this.request('POST', '/auth/register', { body, auth: false });
    session.setTokens(data.tokens);
    session.setUser(data.user);
    return data.user;
  }

  async login(username, password) {
    const data = await this.request('POST', '/auth/login', { body: { username, password }, auth: false });
    session.setTokens(data.tokens);
    let user = data.user;
    if (!user) user = await this.me();
    session.setUser(user);
    return user;
  }

  async me() {
    const user = await this.request('GET', '/auth/me');
    session.setUser(user);
    return user;
  }

  /** End this device's session. Local state is cleared even if the server can't be reached. */
  async logout() {
    const refreshToken = session.refresh;
    session.clear();
    if (refreshToken) {
      try {
        await this.request('POST', '/auth/logout', { body: { refresh_token: refreshToken }, auth: false });
      } catch {
        /* the local session is gone either way */
      }
    }
  }

  async logoutAll() {
    await this.request('POST', '/auth/logout-all');
    session.clear();
  }

  async changePassword(old_password, new_password) {
    const p = this.request('POST', '/auth/change-password', { body: { old_password, new_password } }).then(
      (data) => {
        if (data?.tokens) session.setTokens(data.tokens);
        return data;
      },
    );
    this.sessionChange = p;
    try {
      return await p;
    } finally {
      if (this.sessionChange === p) this.sessionChange = null;
    }
  }

  /** Change our profile (`full_name`: null or "" clears it); answers us as GET /auth/me does. */
  async updateProfile(fullName) {
    const user = await this.request('PATCH', '/auth/me', { body: { full_name: fullName } });
    session.setUser(user);
    return user;
  }

  async deleteAccount(password) {
    await this.request('DELETE', '/auth/me', { body: { password } });
    session.clear();
  }

  // ---- conversations --------------------------------------------------------------------

  rooms() {
    return this.request('GET', '/rooms');
  }

  roomMessages(roomId, { before, limit = 50 } = {}) {
    // mark_read=false: fetching is not reading; the read position moves only for what has been
    // on screen (reads.js, POST /rooms/{id}/read or the socket's `read`).
    const q = new URLSearchParams({ limit: String(limit), mark_read: 'false' });
    if (before) q.set('before', String(before));
    return this.request('GET', `/rooms/${encodeURIComponent(roomId)}/messages?${q}`);
  }

  /** A group's notices (system lines), oldest first: the newest `limit`, or those before the
   *  notice id `before`. */
  roomNotices(roomId, { before, limit = 100 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set('before', String(before));
    return this.request('GET', `/rooms/${encodeURIComponent(roomId)}/notices?${q}`);
  }

  markRead(roomId, upTo) {
    return this.request('POST', `/rooms/${encodeURIComponent(roomId)}/read`, { body: { up_to: upTo } });
  }

  sync(positions) {
    return this.request('POST', '/sync', { body: { rooms: positions } });
  }

  /** History with one user: [] when no DM room exists yet. */
  chatWith(userId) {
    // mark_read=false, as for room history: only what has been on screen is read.
    return this.request('GET', `/messages/chat/${encodeURIComponent(userId)}?limit=50&mark_read=false`);
  }

  /** Send to a user (the DM room is made by the first message). `replyToId`: the message this
   *  one answers, in the same room; `attachmentIds`: our uploads it carries. */
  async sendDirect(recipientId, content, clientId, replyToId, attachmentIds) {
    const body = { recipient_id: recipientId, content, client_id: clientId };
    if (replyToId != null) body.reply_to_id = replyToId;
    if (attachmentIds?.length) body.attachment_ids = attachmentIds;
    const data = await this.request('POST', '/messages/send', { body });
    return data.data;
  }

  async sendGroup(groupId, content, clientId, replyToId, attachmentIds) {
    const body = { group_id: groupId, content, client_id: clientId };
    if (replyToId != null) body.reply_to_id = replyToId;
    if (attachmentIds?.length) body.attachment_ids = attachmentIds;
    const data = await this.request('POST', '/groups/send', { body });
    return data.data;
  }

  // ---- changing messages (each answers the message's whole new state) ----------------------

  editMessage(messageId, content) {
    return this.request('PATCH', `/messages/${encodeURIComponent(messageId)}`, { body: { content } });
  }

  /** Delete for everyone: the answer is the tombstone. */
  deleteMessage(messageId) {
    return this.request('DELETE', `/messages/${encodeURIComponent(messageId)}`);
  }

  addReaction(messageId, emoji) {
    return this.request('PUT', `/messages/${encodeURIComponent(messageId)}/reactions/${encodeURIComponent(emoji)}`);
  }

  removeReaction(messageId, emoji) {
    return this.request('DELETE', `/messages/${encodeURIComponent(messageId)}/reactions/${encodeURIComponent(emoji)}`);
  }

  /** Every member's read position in a room: [{user_id, username, full_name, last_read_seq}]. */
  roomReads(roomId) {
    return this.request('GET', `/rooms/${encodeURIComponent(roomId)}/reads`);
  }

  // ---- search and per-room settings --------------------------------------------------------

  /**
   * Messages of our rooms containing every word of `q` (any case, any accents), newest first:
   * {results: [{message, room_id, highlight: [{text, match}]}], next_before}. `roomId` limits
   * it to one room; `before` (a message id: the previous answer's next_before) pages on.
   */
  searchMessages(q, { roomId, before, limit = 20 } = {}) {
    const qs = new URLSearchParams({ q, limit: String(limit) });
    if (roomId != null) qs.set('room_id', String(roomId));
    if (before != null) qs.set('before', String(before));
    return this.request('GET', `/search/messages?${qs}`);
  }

  /** Our own settings for a room: {room_id, muted}. */
  roomSettings(roomId) {
    return this.request('GET', `/rooms/${encodeURIComponent(roomId)}/settings`);
  }

  /** Change our settings for a room ({muted}); answers them as they are now. */
  setRoomSettings(roomId, settings) {
    return this.request('PUT', `/rooms/${encodeURIComponent(roomId)}/settings`, { body: settings });
  }

  // ---- groups ---------------------------------------------------------------------------

  async createGroup(name, memberIds) {
    const data = await this.request('POST', '/groups/create', { body: { name, member_ids: memberIds } });
    return data.group;
  }

  groupMembers(groupId) {
    return this.request('GET', `/groups/${encodeURIComponent(groupId)}/members`);
  }

  addMembers(groupId, userIds) {
    return this.request('POST', `/groups/${encodeURIComponent(groupId)}/members`, { body: { user_ids: userIds } });
  }

  removeMember(groupId, userId) {
    return this.request('DELETE', `/groups/${encodeURIComponent(groupId)}/members`, { body: { user_id: userId } });
  }

  /** Rename a group (its creator only): answers the group {id, name, created_by, member_count, …}. */
  renameGroup(groupId, name) {
    return this.request('PATCH', `/groups/${encodeURIComponent(groupId)}`, { body: { name } });
  }

  // ---- people ---------------------------------------------------------------------------

  searchUsers(q, limit = 20) {
    const qs = new URLSearchParams({ q, limit: String(limit) });
    return this.request('GET', `/users/search?${qs}`);
  }

  user(id) {
    return this.request('GET', `/users/${encodeURIComponent(id)}`);
  }

  onlineUsers() {
    return this.request('GET', '/ws/online-users');
  }
}
