// outbox.js — our messages on their way to the server. Each is in one state:
//
// - pending: an attempt is on its way — a `message` frame on the socket waiting for its `ack`
//   (ACK_TIMEOUT_MS, then the same message over REST), or a REST request;
// - failed: no attempt on its way; the bubble says why, with Retry and Discard. `auto` ones
//   failed only because the server could not be reached (or the browser is offline): they go
//   again by themselves, oldest first, as soon as the socket is connected again;
// - sent: the server's copy (ack, new_message, sync or the REST answer, matched by client_id in
//   the store) replaced it, and it left the outbox;
// - discarded: it left the outbox and is never sent again.
//
// Nothing is sent twice: every attempt carries the message's client_id, and the server answers
// a client_id it has seen with the message it stored the first time.
//
// Discard is offered only while no attempt is on its way (the state is 'failed'), so it never
// races a send it cannot call back. Nothing is ever written into a socket that is not
// connected, and the socket is dropped as soon as the browser says it is offline (realtime.js):
// a message written offline is only in this outbox. One case stays open by nature: a socket
// that dies after a frame went out and before its `ack` leaves that message's fate unknown
// (the frame may have reached the server). It is sent again at once over REST (same
// client_id), which settles it — or, if the server cannot be reached either, it is shown as
// failed. Discarded then, and found on the server after all (it comes with the catch-up after
// reconnecting), it is shown as sent: it exists for everyone, so hiding it would be a lie.
//
// Rate limits: a send the server refused for going too fast (REST 429, or an `error` frame with
// code `rate_limited` and `retry_after_ms`) is not a failure: it waits (still "Sending…") in a
// queue, and the queue goes one message at a time — the next only once the previous one is
// settled (acked, stored, or failed) — starting after the wait the server asked for. While the
// queue is not empty, new messages join it (order kept). A backlog (what failed for want of a
// connection) drains the same way when the socket is back, rather than all at once.
//
// Durable: the unsent messages (pending and failed: what a resend needs, never a token) are
// also kept in localStorage under the user's id (session.outboxKey), rewritten whenever that
// set changes and gone once sent or discarded — so a reload, a closed tab or a crash loses
// nothing written offline. At most MAX_SAVED messages and MAX_SAVED_CHARS of them (the oldest
// first; the rest wait in memory only). A session that starts (a reload, a new tab) puts them
// back as failed-auto, and they go as above once the socket is connected: oldest first, same
// client_id — one the server stored already comes back as that copy and is shown once. A session
// that ends here (a logout; or found ended: run out, logged out everywhere, the password
// changed, the account deleted) wipes the user's key, and a login wipes every other user's
// (what a session that ended elsewhere while this browser was closed left behind; session.js):
// nothing is ever sent as someone else, nothing is sent unless the browser's session is still
// this user's, and a request started as one user never goes out with another's token (api.js).
//
// Several tabs of one user share the key: each writes its own messages into it and removes only
// those it held, so nothing of another tab's is lost. A tab that starts takes in what the others
// hold unsent, so both may send one message: the client_id makes that one stored message, and
// each tab shows it once (the server's copy replaces the pending one by client_id). A Discard
// is written down (the `discarded` ids, bounded) so another tab holding the same message drops
// it too (the `storage` event) and never writes it back.

import { session, outboxKey } from './session.js';

const ACK_TIMEOUT_MS = 8000; // no ack over the socket by then: send the same message over REST
const RATE_WAIT_MS = 1000; // a rate limit that did not say how long to wait
const RATE_WAIT_MAX_MS = 60000;

export const OFFLINE_NOTE = "Not sent: you're offline. It will be sent when you're back online.";
export const UNREACHABLE_NOTE = "Not sent: can't reach the server. It will be sent when the connection is back.";
export const RESTORED_NOTE = 'Not sent yet. It will be sent when the connection is back.';

const MAX_SAVED = 200; // unsent messages kept across reloads, oldest first
const MAX_SAVED_CHARS = 512 * 1024; // and their size (characters of JSON)
const MAX_TOMBSTONES = 100; // discarded client_ids remembered for the user's other tabs

export class Outbox {
  /** @param {import('./chat.js').Chat} chat */
  constructor(chat) {
    this.chat = chat;
    this.ackTimers = new Map(); // client_id -> timer
    this.discarded = new Set(); // client_ids never to send again (this session)
    this.queue = []; // client_ids waiting for their turn (paced), oldest first
    this.pacedId = null; // the queued message on its way now
    this.slowUntil = 0; // no queued message goes before then (the server's retry_after)
    this.pumpTimer = null;
    this.userId = null; // whose saved outbox this session reads and writes
    this.savedIds = new Set(); // our messages in the saved outbox as we last wrote (or read) it
    this.savedSig = null; // what we last wrote of ours
    this.tombstones = []; // client_ids discarded here, still to be written down
    this.onStorage = (e) => this.otherTabWrote(e);
    chat.store.subscribe((topics) => {
      if (topics.has('messages') || topics.has('all')) this.persist();
    });
  }

  /** Messages are going one at a time (a rate limit, or a backlog draining). */
  get pacing() {
    return this.queue.length > 0 || this.pacedId !== null;
  }

  get store() {
    return this.chat.store;
  }

  /** A new session (or none): nothing of the previous one goes on. */
  reset() {
    for (const t of this.ackTimers.values()) clearTimeout(t);
    this.ackTimers.clear();
    this.discarded.clear();
    clearTimeout(this.pumpTimer);
    this.pumpTimer = null;
    this.queue = [];
    this.pacedId = null;
    this.slowUntil = 0;
    window.removeEventListener('storage', this.onStorage);
    this.userId = null;
    this.savedIds.clear();
    this.savedSig = null;
    this.tombstones = [];
  }

  // ---- the saved outbox (see the top) -------------------------------------------------------

  /** A session of `userId` begins: any other user's saved messages go; this user's come back as
   *  failed-auto, to go by themselves once the socket is connected. */
  resume(userId) {
    const { store } = this;
    this.userId = userId;
    session.forgetOutboxesExcept(userId);
    const note = navigator.onLine === false ? OFFLINE_NOTE : RESTORED_NOTE;
    for (const e of readSaved(userId).messages) {
      if (store.pending.has(e.client_id)) continue;
      // To someone with no conversation yet: theirs is a draft again (listed, see sidebar.js).
      const to = e.recipient;
      if (e.room_id === null && to && to.id === e.recipient_id && !store.drafts.has(to.id)) {
        store.drafts.set(to.id, { id: to.id, username: to.username, full_name: to.full_name });
      }
      store.addPending({ ...e, status: 'failed', error: note, auto: true, via: null, restored: true });
      this.savedIds.add(e.client_id);
    }
    window.addEventListener('storage', this.onStorage);
  }

  /** Whether the browser's session is still ours: nothing goes as someone else, or after a
   *  logout has begun (it clears the session before this session is stopped). */
  ours() {
    const me = this.store.me;
    return me != null && me.id === this.userId && session.user?.id === me.id;
  }

  /** Write our unsent messages into the saved outbox if they changed (after every store change
   *  that may touch them), keeping the other tabs' ones. */
  persist() {
    if (this.userId == null || !this.ours()) return;
    const { store } = this;
    const own = [...store.pending.values()].sort(byAge).map((p) => savedEntry(p, store));
    const sig = JSON.stringify(own);
    if (sig === this.savedSig && !this.tombstones.length) return;
    const saved = readSaved(this.userId);
    const discarded = [...saved.discarded.filter((id) => !this.tombstones.includes(id)), ...this.tombstones].slice(-MAX_TOMBSTONES);
    const gone = new Set(discarded);
    const ownIds = new Set(own.map((e) => e.client_id));
    // Another tab's messages stay; ours that left the outbox (sent, discarded) go.
    const kept = saved.messages.filter((e) => !ownIds.has(e.client_id) && !this.savedIds.has(e.client_id));
    const list = bounded([...kept, ...own].filter((e) => !gone.has(e.client_id)).sort(byAge));
    writeSaved(this.userId, list.length || discarded.length ? JSON.stringify({ v: 1, messages: list, discarded }) : null);
    this.savedIds = new Set(list.map((e) => e.client_id).filter((id) => ownIds.has(id)));
    this.savedSig = sig;
    this.tombstones = [];
  }

  /** Another tab of ours changed the saved outbox: what it discarded we drop too (unless an
   *  attempt is on its way here: it cannot be called back, and stores the message once). */
  otherTabWrote(e) {
    if (this.userId == null || e.key !== outboxKey(this.userId)) return;
    const saved = parseSaved(e.newValue);
    let dropped = false;
    for (const id of saved.discarded) {
      if (this.store.pending.get(id)?.status !== 'failed') continue;
      this.discarded.add(id);
      this.store.pending.delete(id);
      dropped = true;
    }
    if (dropped) this.store.notify('messages', 'rooms');
    // Its write raced one of ours (read, change, write: no lock between tabs) and lost some of
    // our messages: write them again.
    const present = new Set(saved.messages.map((m) => m.client_id));
    if ([...this.savedIds].some((id) => !present.has(id) && this.store.pending.has(id))) {
      this.savedSig = null;
      this.persist();
    }
  }

  /** The room list is in: restored messages for a room we are no longer in can never go. */
  dropOrphans() {
    const { store } = this;
    let dropped = false;
    for (const [id, p] of store.pending) {
      if (!p.restored || p.room_id == null || store.rooms.has(p.room_id) || p.status !== 'failed') continue;
      store.pending.delete(id);
      dropped = true;
    }
    if (dropped) store.notify('messages', 'rooms');
  }

  // ---- sending ------------------------------------------------------------------------------

  /** Send a new message (already described by `p`, see Chat.send). */
  add(p) {
    this.store.addPending(p);
    if (this.pacing) this.enqueue(p);
    else this.deliver(p);
  }

  /** Wait for a turn in the queue (shown as "Sending…": nothing is on its way yet). */
  enqueue(p) {
    const { store } = this;
    this.clearAckTimer(p.client_id);
    if (!this.queue.includes(p.client_id)) this.queue.push(p.client_id);
    const created = (id) => store.pending.get(id)?.created_at ?? 0;
    this.queue.sort((a, b) => created(a) - created(b));
    store.updatePending(p.client_id, { status: 'pending', error: null, auto: false, via: 'queue' });
    this.pump();
  }

  /** The next queued message goes, once the one before it is settled and the wait is over. */
  pump() {
    const { store } = this;
    clearTimeout(this.pumpTimer);
    this.pumpTimer = null;
    if (this.pacedId !== null) {
      const cur = store.pending.get(this.pacedId);
      if (cur && cur.status === 'pending' && cur.via !== 'queue') return; // still on its way
      this.pacedId = null;
    }
    this.queue = this.queue.filter((id) => store.pending.get(id)?.via === 'queue' && !this.discarded.has(id));
    if (!this.queue.length) return;
    const wait = this.slowUntil - Date.now();
    if (wait > 0) {
      this.pumpTimer = setTimeout(() => this.pump(), wait);
      return;
    }
    const id = this.queue.shift();
    this.pacedId = id;
    this.deliver(store.pending.get(id));
  }

  /** The server has our message (its copy arrived): the queue moves on. */
  settled(clientId) {
    if (clientId === this.pacedId) {
      this.pacedId = null;
      this.pump();
    }
  }

  /** The server refused `p` for going too fast: try again after `waitMs`, paced. */
  rateLimited(p, waitMs) {
    const ms = Math.min(RATE_WAIT_MAX_MS, Number(waitMs) > 0 ? Number(waitMs) : RATE_WAIT_MS);
    this.slowUntil = Math.max(this.slowUntil, Date.now() + ms);
    if (this.pacedId === p.client_id) this.pacedId = null;
    this.enqueue(p);
  }

  /** One attempt: on the socket if it is connected and the room exists, else over REST. */
  deliver(p) {
    const { store } = this;
    if (this.discarded.has(p.client_id) || store.pending.get(p.client_id) !== p || !this.ours()) return;
    this.clearAckTimer(p.client_id);
    // The socket's word first: connected, it works whatever navigator.onLine says.
    if (navigator.onLine === false && !this.chat.realtime.ready) {
      this.fail(p, OFFLINE_NOTE, true);
      return;
    }
    store.updatePending(p.client_id, { status: 'pending', error: null, auto: false });
    const frame = { type: 'message', room_id: p.room_id, content: p.content, client_id: p.client_id };
    if (p.reply_to_id != null) frame.reply_to_id = p.reply_to_id;
    if (p.attachment_ids?.length) frame.attachment_ids = p.attachment_ids;
    const realtime = this.chat.realtime;
    if (p.room_id != null && realtime.send(frame)) {
      p.via = 'ws';
      p.socket = realtime.serial;
      this.ackTimers.set(
        p.client_id,
        setTimeout(() => {
          this.ackTimers.delete(p.client_id);
          if (this.inFlightOnSocket(p)) this.deliverRest(p);
        }, ACK_TIMEOUT_MS),
      );
    } else {
      this.deliverRest(p);
    }
  }

  inFlightOnSocket(p) {
    return this.store.pending.get(p.client_id) === p && p.status === 'pending' && p.via === 'ws';
  }

  async deliverRest(p) {
    const { chat, store } = this;
    const { api } = chat;
    const gen = chat.gen;
    this.clearAckTimer(p.client_id);
    if (store.pending.get(p.client_id) !== p || !this.ours()) return;
    if (navigator.onLine === false && !chat.realtime.ready) {
      this.fail(p, OFFLINE_NOTE, true);
      return;
    }
    p.via = 'rest';
    if (p.status !== 'pending') store.updatePending(p.client_id, { status: 'pending', error: null, auto: false });
    const room = p.room_id != null ? store.rooms.get(p.room_id) : null;
    // A restored message may go before the room list is in: the saved entry says which kind.
    const group = room ? room.room_type === 'group' : Boolean(p.group) && p.room_id != null;
    try {
      let m;
      const ids = p.attachment_ids;
      if (group) m = await api.sendGroup(p.room_id, p.content, p.client_id, p.reply_to_id, ids);
      else if (p.recipient_id != null) m = await api.sendDirect(p.recipient_id, p.content, p.client_id, p.reply_to_id, ids);
      else throw Object.assign(new Error('This conversation can no longer receive messages.'), { status: 410 });
      if (!chat.live(gen)) return;
      await chat.confirmSent(m, p);
    } catch (err) {
      if (!chat.live(gen) || store.pending.get(p.client_id) !== p || p.via !== 'rest') return;
      if (err?.status === 429) this.rateLimited(p, err.retryAfterMs);
      else if (transient(err)) this.fail(p, navigator.onLine === false ? OFFLINE_NOTE : UNREACHABLE_NOTE, true);
      else this.fail(p, err?.message || 'Not sent.', false);
    }
  }

  /** No attempt on its way any more. `auto`: go again by itself on the next connection. */
  fail(p, error, auto) {
    this.clearAckTimer(p.client_id);
    this.store.updatePending(p.client_id, { status: 'failed', error, auto, via: null });
    // The socket came back while this attempt was failing: go now (once; then the next
    // connection), rather than wait for a reconnect that already happened.
    if (auto && this.chat.realtime.ready && !p.retriedLive) {
      p.retriedLive = true;
      this.deliver(p);
      return;
    }
    this.settled(p.client_id);
  }

  /** The socket is connected (again): what failed for want of a connection goes, oldest first;
   *  what was sent on an earlier socket and never answered goes again (same client_id). */
  onConnected() {
    const list = [...this.store.pending.values()].sort((a, b) => a.created_at - b.created_at);
    const backlog = list.filter((p) => p.status === 'failed' && p.auto).length;
    for (const p of list) {
      p.retriedLive = false;
      if (p.status === 'failed' && p.auto) {
        // A backlog goes one at a time (a burst would meet the server's rate limit).
        if (backlog > 1 || this.pacing) this.enqueue(p);
        else this.deliver(p);
      }
      else if (p.status === 'pending' && p.via === 'ws' && p.socket !== this.chat.realtime.serial) this.deliver(p);
    }
  }

  /** The socket was lost: what waited for its ack is sent again over REST now (same client_id:
   *  stored once whether or not the frame got through), or fails visibly if that cannot work. */
  onDisconnected() {
    const list = [...this.store.pending.values()].sort((a, b) => a.created_at - b.created_at);
    for (const p of list) if (this.inFlightOnSocket(p)) this.deliverRest(p);
  }

  /** The socket refused a message (an `error` frame naming its client_id): REST says why in a
   *  sentence (and returns the original if it was stored after all) — unless it was only too
   *  fast (`rate_limited`): then it waits its turn (no REST attempt; see the top). */
  onError(frame) {
    const p = frame.client_id ? this.store.pending.get(frame.client_id) : null;
    if (frame.code === 'rate_limited') {
      // Without a client_id the server refused some frame unread: what is on its way on the
      // socket goes again, paced (the same client_id: stored once if it got through after all).
      const list = p ? [p] : [...this.store.pending.values()].sort((a, b) => a.created_at - b.created_at);
      for (const q of list) if (this.inFlightOnSocket(q)) this.rateLimited(q, frame.retry_after_ms);
      return;
    }
    if (p && this.inFlightOnSocket(p)) this.deliverRest(p);
  }

  /** Send a failed message again now (the Retry button). */
  retry(clientId) {
    const p = this.store.pending.get(clientId);
    if (!p || p.status !== 'failed') return;
    if (this.pacing) this.enqueue(p);
    else this.deliver(p);
  }

  /** Drop a failed message for good. Refused (false) while an attempt is on its way. */
  discard(clientId) {
    const p = this.store.pending.get(clientId);
    if (!p || p.status !== 'failed') return false;
    this.clearAckTimer(clientId);
    this.discarded.add(clientId);
    this.tombstones.push(clientId); // the user's other tabs drop it too
    this.store.pending.delete(clientId);
    this.store.notify('messages', 'rooms');
    return true;
  }

  /** The server has the message (its copy arrived). */
  clearAckTimer(clientId) {
    clearTimeout(this.ackTimers.get(clientId));
    this.ackTimers.delete(clientId);
  }
}

/** Whether a failed send may work later as it is: no answer, or the server was down or busy. */
function transient(err) {
  const status = err?.status || 0;
  return Boolean(err?.network) || status === 0 || status === 408 || status === 429 || status >= 500;
}

// ---- the saved outbox's format ----------------------------------------------------------------

const byAge = (a, b) => a.created_at - b.created_at;

/** What a resend (and the bubble until then) needs of a message; nothing secret. */
function savedEntry(p, store) {
  const room = p.room_id != null ? store.rooms.get(p.room_id) : null;
  // Who a message to someone with no conversation yet is for, by name (the draft, restored).
  const person = p.room_id == null && p.recipient_id != null ? store.drafts.get(p.recipient_id) || store.people.get(p.recipient_id) : null;
  return {
    recipient: person ? { id: person.id, username: person.username, full_name: person.full_name ?? null } : null,
    client_id: p.client_id,
    room_id: p.room_id ?? null,
    recipient_id: p.recipient_id ?? null,
    group: room ? room.room_type === 'group' : Boolean(p.group),
    content: p.content,
    created_at: p.created_at,
    reply_to_id: p.reply_to_id ?? null,
    attachment_ids: p.attachment_ids || [],
    attachments: (p.attachments || []).map((a) => ({
      id: a.id,
      filename: a.filename,
      content_type: a.content_type,
      size: a.size,
      url: a.url,
      width: a.width ?? null,
      height: a.height ?? null,
    })),
    reply_to: p.reply_to ?? null,
  };
}

/** The oldest entries that fit MAX_SAVED and MAX_SAVED_CHARS. */
function bounded(list) {
  const out = [];
  let chars = 0;
  for (const e of list) {
    chars += JSON.stringify(e).length;
    if (out.length >= MAX_SAVED || chars > MAX_SAVED_CHARS) break;
    out.push(e);
  }
  return out;
}

function readSaved(userId) {
  try {
    return parseSaved(localStorage.getItem(outboxKey(userId)));
  } catch {
    return parseSaved(null);
  }
}

function writeSaved(userId, text) {
  try {
    if (text === null) localStorage.removeItem(outboxKey(userId));
    else localStorage.setItem(outboxKey(userId), text);
  } catch {
    /* storage full or disabled: the messages wait in memory only */
  }
}

/** The saved outbox, with anything malformed left out (it is read back after any version). */
function parseSaved(text) {
  let rec = null;
  try {
    rec = JSON.parse(text || 'null');
  } catch {
    /* unreadable: as if empty */
  }
  const num = (v) => v === null || (typeof v === 'number' && Number.isFinite(v));
  const valid = (e) =>
    e &&
    typeof e.client_id === 'string' &&
    typeof e.content === 'string' &&
    typeof e.created_at === 'number' &&
    num(e.room_id) &&
    num(e.recipient_id) &&
    (e.room_id !== null || e.recipient_id !== null) &&
    Array.isArray(e.attachment_ids) &&
    Array.isArray(e.attachments) &&
    (e.recipient == null ||
      (typeof e.recipient.id === 'number' &&
        typeof e.recipient.username === 'string' &&
        (e.recipient.full_name === null || typeof e.recipient.full_name === 'string')));
  return {
    messages: Array.isArray(rec?.messages) ? rec.messages.filter(valid) : [],
    discarded: Array.isArray(rec?.discarded) ? rec.discarded.filter((id) => typeof id === 'string') : [],
  };
}
