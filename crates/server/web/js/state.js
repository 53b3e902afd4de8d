// state.js — everything the client knows, in one place: the signed-in user, rooms (DMs and
// groups), draft DMs not created yet, messages per room (keyed by id and by seq), messages
// waiting for the server (pending / failed), unread counts, who is online and typing, the
// connection status. Views subscribe to topics and re-render; changes are batched per task.

import { parseTime } from './util.js';

export class Store {
  constructor() {
    this.listeners = new Set();
    this.dirty = new Set();
    this.scheduled = false;
    this.reset();
  }

  reset() {
    this.me = null;
    /** @type {Map<number, object>} room_id -> Room summary (+ `removed` once we left it) */
    this.rooms = new Map();
    /** @type {Map<number, object>} other user's id -> user, for DMs with no room yet */
    this.drafts = new Map();
    /** @type {Map<number, RoomMessages>} */
    this.messages = new Map();
    /** @type {Map<string, object>} client_id -> {client_id, room_id, recipient_id, content, status, error, created_at} */
    this.pending = new Map();
    /** @type {Set<number>} user ids */
    this.online = new Set();
    /** @type {Map<number, Map<number, {username: string, until: number}>>} */
    this.typing = new Map();
    /** @type {null | {type: 'room', id: number} | {type: 'draft', userId: number}} */
    this.current = null;
    /** 'idle' | 'connecting' | 'online' | 'reconnecting' */
    this.connection = 'idle';
    this.roomsLoaded = false;
    this.notify('all');
  }

  // ---- pub/sub -------------------------------------------------------------------------

  /** fn(topics: Set<string>) is called after changes; returns an unsubscribe function. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Topics: 'rooms', 'messages', 'current', 'typing', 'presence', 'connection', 'me', 'all'. */
  notify(...topics) {
    for (const t of topics) this.dirty.add(t);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const topicsNow = new Set(this.dirty);
      this.dirty.clear();
      for (const fn of [...this.listeners]) {
        try {
          fn(topicsNow);
        } catch (err) {
          console.error('view update failed', err);
        }
      }
    });
  }

  // ---- rooms ---------------------------------------------------------------------------

  /** Merge a Room summary from the server. Keeps the larger of local and server positions. */
  upsertRoom(summary) {
    const id = summary.room_id;
    const old = this.rooms.get(id);
    const room = { ...old, ...summary, removed: false };
    // Back in a room we had been removed from: the cached messages have a gap; drop them.
    if (old?.removed) this.messages.delete(id);
    if (old) {
      room.last_seq = Math.max(old.last_seq || 0, summary.last_seq || 0);
      if ((old.last_message?.seq || 0) > (summary.last_message?.seq || 0)) {
        room.last_message = old.last_message;
        room.last_message_time = old.last_message_time;
      }
      // A read we sent may not have reached the server when it wrote this summary.
      room.last_read_seq = Math.max(old.last_read_seq || 0, summary.last_read_seq || 0);
      if (room.last_read_seq >= room.last_seq) room.unread_count = 0;
    }
    if (summary.other_user) {
      if (summary.other_user.online) this.online.add(summary.other_user.id);
      else this.online.delete(summary.other_user.id);
    }
    this.rooms.set(id, room);
    this.notify('rooms', 'presence');
    return room;
  }

  /** Replace the room list with the server's (rooms we were removed from stay, marked). */
  setRooms(list) {
    const seen = new Set();
    for (const r of list) {
      seen.add(r.room_id);
      this.upsertRoom(r);
    }
    for (const [id, room] of this.rooms) if (!seen.has(id)) room.removed = true;
    this.roomsLoaded = true;
    this.notify('rooms');
  }

  markRemoved(roomId) {
    const room = this.rooms.get(roomId);
    if (!room) return;
    room.removed = true;
    room.unread_count = 0;
    this.typing.delete(roomId);
    this.notify('rooms', 'current', 'typing');
  }

  forgetRoom(roomId) {
    this.rooms.delete(roomId);
    this.messages.delete(roomId);
    this.typing.delete(roomId);
    for (const [cid, p] of this.pending) if (p.room_id === roomId) this.pending.delete(cid);
    if (this.current?.type === 'room' && this.current.id === roomId) this.current = null;
    this.notify('rooms', 'current', 'messages');
  }

  /** The DM room with this user, if one exists. */
  dmWith(userId) {
    for (const room of this.rooms.values()) {
      if (room.room_type === 'direct' && room.other_user?.id === userId && !room.removed) return room;
    }
    return null;
  }

  /** Rooms newest activity first (a pending message counts as activity). */
  sortedRooms() {
    const when = (r) => {
      let t = parseTime(r.last_message_time || r.last_message?.created_at || r.created_at)?.getTime() || 0;
      for (const p of this.pending.values()) if (p.room_id === r.room_id) t = Math.max(t, p.created_at);
      return t;
    };
    return [...this.rooms.values()].sort((a, b) => when(b) - when(a) || b.room_id - a.room_id);
  }

  /**
   * The seq to catch up from per live room, for `sync`; null until the room list has loaded.
   * A room whose history is shown gives the end of the unbroken run of messages it holds, so a
   * gap (a drop, or our own REST-sent message landing past missed ones) is filled. Any other
   * room gives its last known seq: its newest page is fetched when it is opened.
   */
  positions() {
    if (!this.roomsLoaded) return null;
    const out = {};
    for (const [id, room] of this.rooms) {
      if (room.removed) continue;
      const rm = this.messages.get(id);
      out[String(id)] = rm?.historyLoaded ? rm.contiguousMax() : Math.max(room.last_seq || 0, rm ? rm.maxSeq() : 0);
    }
    return out;
  }

  // ---- messages ------------------------------------------------------------------------

  roomMessages(roomId) {
    let rm = this.messages.get(roomId);
    if (!rm) {
      rm = new RoomMessages();
      this.messages.set(roomId, rm);
    }
    return rm;
  }

  /**
   * Add server messages (from history, sync, new_message, ack or a REST answer). Duplicates
   * (same id, or same room + seq) are ignored. A message carrying the client_id of one of our
   * pending messages replaces it. Returns the messages that were new.
   */
  addMessages(roomId, list) {
    const rm = this.roomMessages(roomId);
    const added = [];
    for (const m of list) {
      if (!m || typeof m.id !== 'number') continue;
      if (m.client_id && this.pending.has(m.client_id) && this.isMine(m)) this.pending.delete(m.client_id);
      if (rm.add(m)) added.push(m);
    }
    if (added.length) this.notify('messages', 'rooms');
    return added;
  }

  isMine(m) {
    return this.me != null && m.sender_id === this.me.id;
  }

  addPending(p) {
    this.pending.set(p.client_id, p);
    this.notify('messages', 'rooms');
  }

  updatePending(clientId, changes) {
    const p = this.pending.get(clientId);
    if (!p) return null;
    Object.assign(p, changes);
    this.notify('messages', 'rooms');
    return p;
  }

  /** Pending messages of a conversation, oldest first. */
  pendingFor(conv) {
    const out = [];
    for (const p of this.pending.values()) {
      if (conv.type === 'room' && p.room_id === conv.id) out.push(p);
      else if (conv.type === 'draft' && p.room_id == null && p.recipient_id === conv.userId) out.push(p);
    }
    return out.sort((a, b) => a.created_at - b.created_at);
  }

  // ---- presence and typing --------------------------------------------------------------

  setOnline(userId, online) {
    if (online === this.online.has(userId)) return;
    if (online) this.online.add(userId);
    else this.online.delete(userId);
    for (const room of this.rooms.values()) {
      if (room.other_user?.id === userId) room.other_user = { ...room.other_user, online };
    }
    this.notify('presence', 'rooms');
  }

  setTyping(roomId, userId, username, isTyping, ttlMs = 6000) {
    let m = this.typing.get(roomId);
    if (!m) {
      m = new Map();
      this.typing.set(roomId, m);
    }
    if (isTyping) m.set(userId, { username, until: Date.now() + ttlMs });
    else if (!m.delete(userId)) return;
    if (!m.size) this.typing.delete(roomId);
    this.notify('typing');
  }

  /** Names typing in a room now (expired entries dropped). */
  typingIn(roomId) {
    const m = this.typing.get(roomId);
    if (!m) return [];
    const now = Date.now();
    const names = [];
    for (const [uid, t] of m) {
      if (t.until <= now) m.delete(uid);
      else names.push(t.username);
    }
    if (!m.size) this.typing.delete(roomId);
    return names;
  }

  setConnection(status) {
    if (this.connection === status) return;
    this.connection = status;
    this.notify('connection');
  }

  setCurrent(conv) {
    this.current = conv;
    this.notify('current', 'rooms');
  }
}

/** One room's messages, by id and by seq, sorted on demand. */
export class RoomMessages {
  constructor() {
    this.byId = new Map();
    this.bySeq = new Map();
    this.sortedCache = null;
    this.historyLoaded = false; // the newest page was fetched
    this.loading = false; // the newest page is being fetched
    this.loadError = null; // why the newest page could not be fetched
    this.hasOlder = true; // older pages may exist
    this.loadingOlder = false;
    this.olderError = null; // why the last older page could not be fetched
  }

  add(m) {
    if (this.byId.has(m.id) || (typeof m.seq === 'number' && this.bySeq.has(m.seq))) return false;
    this.byId.set(m.id, m);
    if (typeof m.seq === 'number') this.bySeq.set(m.seq, m);
    this.sortedCache = null;
    return true;
  }

  sorted() {
    if (!this.sortedCache) this.sortedCache = [...this.byId.values()].sort((a, b) => a.seq - b.seq || a.id - b.id);
    return this.sortedCache;
  }

  minSeq() {
    const s = this.sorted();
    return s.length ? s[0].seq : 0;
  }

  maxSeq() {
    const s = this.sorted();
    return s.length ? s[s.length - 1].seq : 0;
  }

  /** The last seq of the unbroken run that starts at the oldest message held (0 if none). */
  contiguousMax() {
    let seq = this.minSeq();
    if (!seq) return 0;
    while (this.bySeq.has(seq + 1)) seq += 1;
    return seq;
  }

  /** Forget messages older than `seq` (held before the newest page was fetched, maybe with a
   *  gap before it; scrolling up fetches them again). */
  dropBelow(seq) {
    for (const [s, m] of this.bySeq) {
      if (s < seq) {
        this.bySeq.delete(s);
        this.byId.delete(m.id);
      }
    }
    this.sortedCache = null;
  }

  get size() {
    return this.byId.size;
  }
}
