// state.js — everything the client knows, in one place: the signed-in user, rooms (DMs and
// groups), draft DMs not created yet, messages per room (keyed by id and by seq) and each room's
// position in its event log, messages waiting for the server (pending / failed), unread counts,
// who has read how far ("Seen by"), people's names, groups' members, mentions of us and muted
// rooms, who is online and typing, the connection status. Views subscribe to topics and
// re-render; changes are batched per task.

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
    this.roomEpoch = 0; // counts room summaries merged (see setRooms)
    /** @type {Map<number, object>} other user's id -> user, for DMs with no room yet */
    this.drafts = new Map();
    /** @type {Map<number, RoomMessages>} */
    this.messages = new Map();
    /** @type {Map<string, object>} client_id -> {client_id, room_id, recipient_id, content, status, error, created_at, …}
     *  (see Chat.send; the unsent ones are also saved in localStorage, see outbox.js) */
    this.pending = new Map();
    /** @type {Set<number>} user ids */
    this.online = new Set();
    /** @type {Map<number, Map<number, {username: string, until: number}>>} */
    this.typing = new Map();
    /** @type {Map<number, Map<number, number>>} room_id -> (user_id -> last_read_seq), once loaded */
    this.reads = new Map();
    /** @type {Map<number, {id: number, username: string, full_name: string|null}>} names by user id */
    this.people = new Map();
    /** @type {Map<number, number[]>} group room_id -> its members' user ids, once loaded */
    this.members = new Map();
    /** @type {Map<number, number>} group room_id -> how many room_changed frames changed it here
     *  (a members answer asked for before one of them is not taken: chat.loadMembers) */
    this.groupChanges = new Map();
    /** @type {Map<number, object[]>} room_id -> the notices (system lines) held, oldest first (live-rooms.js) */
    this.notices = new Map();
    /** @type {null | {type: 'room', id: number} | {type: 'draft', userId: number}} */
    this.current = null;
    /** 'idle' | 'connecting' | 'online' | 'reconnecting' | 'unreachable' | 'offline' */
    this.connection = 'idle';
    this.connectionRetryAt = null; // when the next attempt is due (unreachable, offline)
    this.roomsLoaded = false;
    this.notify('all');
  }

  // ---- pub/sub -------------------------------------------------------------------------

  /** fn(topics: Set<string>) is called after changes; returns an unsubscribe function. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Topics: 'rooms', 'messages', 'reads', 'members', 'current', 'typing', 'presence',
   *  'connection', 'me', 'all'. */
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
    // `learned`: when we last heard of it, so a list fetched before then cannot remove it.
    const room = { ...old, ...summary, removed: false, learned: ++this.roomEpoch };
    // Back in a room we had been removed from: the cached messages, members and notices have a
    // gap; drop them (fetched again when it is opened).
    if (old?.removed) {
      this.messages.delete(id);
      this.members.delete(id);
      this.notices.delete(id);
    }
    if (old) {
      room.last_seq = Math.max(old.last_seq || 0, summary.last_seq || 0);
      if ((old.last_message?.seq || 0) > (summary.last_message?.seq || 0)) {
        room.last_message = old.last_message;
        room.last_message_time = old.last_message_time;
      }
      // A read we sent may not have reached the server when it wrote this summary.
      room.last_read_seq = Math.max(old.last_read_seq || 0, summary.last_read_seq || 0);
      if (room.last_read_seq >= room.last_seq) {
        room.unread_count = 0;
        room.mention_count = 0;
      }
    }
    if (summary.other_user) {
      this.learnPerson(summary.other_user);
      if (summary.other_user.online) this.online.add(summary.other_user.id);
      else this.online.delete(summary.other_user.id);
    }
    this.rooms.set(id, room);
    this.notify('rooms', 'presence');
    return room;
  }

  /**
   * Replace the room list with the server's, fetched when roomEpoch was `since` (rooms we were
   * removed from stay, marked). A room we heard of after that (a `room_added` frame racing the
   * request) is not in the list but not gone either.
   */
  setRooms(list, since = Infinity) {
    const seen = new Set();
    for (const r of list) {
      seen.add(r.room_id);
      this.upsertRoom(r);
    }
    for (const [id, room] of this.rooms) if (!seen.has(id) && !(room.learned > since)) room.removed = true;
    this.roomsLoaded = true;
    this.notify('rooms');
  }

  markRemoved(roomId) {
    const room = this.rooms.get(roomId);
    if (!room) return;
    room.removed = true;
    room.unread_count = 0;
    room.mention_count = 0;
    this.typing.delete(roomId);
    this.notify('rooms', 'current', 'typing');
  }

  forgetRoom(roomId) {
    this.rooms.delete(roomId);
    this.messages.delete(roomId);
    this.reads.delete(roomId);
    this.members.delete(roomId);
    this.notices.delete(roomId);
    this.typing.delete(roomId);
    for (const [cid, p] of this.pending) if (p.room_id === roomId) this.pending.delete(cid);
    if (this.current?.type === 'room' && this.current.id === roomId) this.current = null;
    this.notify('rooms', 'current', 'messages');
  }

  /** Our setting for a room changed (here, or on another device: a `room_settings` frame). */
  setMuted(roomId, muted) {
    const room = this.rooms.get(roomId);
    if (!room || Boolean(room.muted) === Boolean(muted)) return;
    room.muted = Boolean(muted);
    this.notify('rooms');
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
   * A room whose history is shown gives its position in the room's event log (see
   * RoomMessages.position): everything up to it is applied. Message seqs alone cannot say
   * that: edits, deletions and reactions take seqs of their own, and our own REST-sent message
   * may land past events we have not seen. Any other room gives its last known seq: its newest
   * page is fetched when it is opened.
   */
  positions() {
    if (!this.roomsLoaded) return null;
    const out = {};
    for (const [id, room] of this.rooms) {
      if (room.removed) continue;
      const rm = this.messages.get(id);
      out[String(id)] = rm?.historyLoaded ? rm.position : Math.max(room.last_seq || 0, rm ? rm.position : 0);
    }
    return out;
  }

  /**
   * Everything up to `seq` in this room's event log has been applied (`sync_complete`, or the
   * newest page of history). With `live` (a `new_message` or `message_updated` frame on the
   * socket) the log must continue where we are: a frame past the next seq means entries were
   * missed (the server had trouble delivering them), so the position stays before the gap and
   * this returns false — the caller asks for a `sync`, which fills it (what we hold twice is
   * harmless: every entry carries its whole message).
   */
  advance(roomId, seq, { live = false } = {}) {
    if (typeof seq !== 'number' || !Number.isFinite(seq)) return true;
    const rm = this.roomMessages(roomId);
    if (live && rm.historyLoaded && rm.position > 0 && seq > rm.position + 1) return false;
    if (seq > rm.position) rm.position = seq;
    return true;
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
   * Add server messages (from history, sync, new_message, ack or a REST answer). A message
   * carrying the client_id of one of our pending messages replaces it. Duplicates (same id, or
   * same room + seq) are ignored, unless `replace`: a frame from the room's event log, which
   * arrives in order and carries the message as it is now, replaces the copy we hold. (History
   * pages and REST answers may be older than frames already applied, so they never do.)
   * Returns the messages that were new.
   */
  addMessages(roomId, list, { replace = false } = {}) {
    const rm = this.roomMessages(roomId);
    const added = [];
    let changed = false;
    for (const m of list) {
      if (!m || typeof m.id !== 'number') continue;
      // Our pending copy goes (a change of the saved outbox too, even if the server's copy is
      // already held: subscribers are told).
      if (m.client_id && this.isMine(m) && this.pending.delete(m.client_id)) changed = true;
      this.learnSender(m);
      const stored = rm.add(m);
      if (stored) added.push(stored);
      else if (replace && rm.byId.has(m.id) && rm.replace(m)) changed = true;
    }
    if (added.length || changed) this.notify('messages', 'rooms');
    return added;
  }

  /**
   * A message's new state (an edit, a deletion, reactions): replaces the copy we hold, and the
   * room's last message if it is that one. One we do not hold is remembered, so a history page
   * fetched before the change cannot bring back its old state. Returns the copy replaced.
   */
  applyMessage(roomId, m) {
    if (!m || typeof m.id !== 'number') return null;
    const rm = this.roomMessages(roomId);
    const old = rm.replace(m);
    const room = this.rooms.get(roomId);
    if (room?.last_message?.id === m.id) room.last_message = m;
    this.notify('messages', 'rooms');
    return old;
  }

  /** The message with this id in a room, if held. */
  message(roomId, id) {
    return this.messages.get(roomId)?.byId.get(id) || null;
  }

  isMine(m) {
    return this.me != null && m.sender_id === this.me.id;
  }

  /** Whether a message calls us by name (`@username`: the server lists whom in `mentions`). */
  mentionsMe(m) {
    return this.me != null && Array.isArray(m?.mentions) && m.mentions.includes(this.me.id);
  }

  // ---- people and read positions ---------------------------------------------------------

  /** Remember a user's names ({id, username, full_name} or {user_id, …}). */
  learnPerson(u) {
    const id = u?.id ?? u?.user_id;
    if (typeof id !== 'number' || !u.username) return;
    const old = this.people.get(id);
    if (old && old.username === u.username && old.full_name === (u.full_name ?? null)) return;
    this.people.set(id, { id, username: u.username, full_name: u.full_name ?? null });
  }

  learnSender(m) {
    if (typeof m.sender_id === 'number' && m.sender_username && !this.people.has(m.sender_id)) {
      this.people.set(m.sender_id, { id: m.sender_id, username: m.sender_username, full_name: m.sender_full_name ?? null });
    }
  }

  /** A person's name to show: "You" for ourselves, else full name or username. */
  nameOf(userId) {
    if (this.me && userId === this.me.id) return 'You';
    const p = this.people.get(userId);
    return p ? (p.full_name && p.full_name.trim()) || p.username : 'Someone';
  }

  /** A group's members (GET /groups/{id}/members): their names, and who is in it. */
  setMembers(roomId, list) {
    const ids = [];
    for (const m of list || []) {
      if (typeof m?.user_id !== 'number') continue;
      this.learnPerson(m);
      ids.push(m.user_id);
    }
    this.members.set(roomId, ids);
    this.notify('members');
  }

  /**
   * The people of a conversation other than us, as {id, username, full_name}: a DM's other
   * person, or a group's members once loaded (null until then).
   */
  othersIn(conv) {
    const person = (id) => this.people.get(id) || null;
    if (!conv) return [];
    if (conv.type === 'draft') {
      const u = this.drafts.get(conv.userId);
      return u ? [{ id: u.id, username: u.username, full_name: u.full_name ?? null }] : [];
    }
    const room = this.rooms.get(conv.id);
    if (!room || room.removed) return [];
    if (room.room_type === 'direct') return room.other_user ? [person(room.other_user.id) || room.other_user] : [];
    const ids = this.members.get(conv.id);
    if (!ids) return null;
    return ids.filter((id) => id !== this.me?.id).map(person).filter(Boolean);
  }

  /** Every member's read position (GET /rooms/{id}/reads). Positions never move back, so a
   *  live `read` frame that overtook this answer is kept. */
  setReads(roomId, list) {
    const old = this.reads.get(roomId);
    const map = new Map();
    for (const r of list || []) {
      if (typeof r?.user_id !== 'number') continue;
      this.learnPerson(r);
      map.set(r.user_id, Math.max(r.last_read_seq || 0, old?.get(r.user_id) || 0));
    }
    this.reads.set(roomId, map);
    this.notify('reads');
  }

  /** Someone's read position moved (a `read` frame). Ignored until the room's reads are loaded. */
  setReadPosition(roomId, userId, seq) {
    const map = this.reads.get(roomId);
    if (!map || typeof seq !== 'number') return;
    if ((map.get(userId) || 0) >= seq) return;
    map.set(userId, seq);
    this.notify('reads');
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

  /** Whether a user is online, as far as we know: null (unknown) while we are not connected —
   *  what we knew may be stale by now; it is fetched again on reconnecting (the room list, the
   *  open group's members) and kept current by presence frames. */
  presenceOf(userId) {
    return this.connection === 'online' ? this.online.has(userId) : null;
  }

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
      else names.push(this.typingName(uid, t.username));
    }
    if (!m.size) this.typing.delete(roomId);
    return names;
  }

  /** Who is typing, by the name we know them by now (full name), else the frame's username. */
  typingName(userId, username) {
    const p = this.people.get(userId);
    return (p && ((p.full_name && p.full_name.trim()) || p.username)) || username || 'Someone';
  }

  setConnection(status, retryAt = null) {
    if (this.connection === status && this.connectionRetryAt === retryAt) return;
    this.connection = status;
    this.connectionRetryAt = retryAt;
    this.notify('connection');
  }

  setCurrent(conv) {
    this.current = conv;
    this.notify('current', 'rooms');
  }
}

/** Newest states remembered for messages not held yet (a bound: they are only a safeguard). */
const MAX_REMEMBERED_UPDATES = 500;

/** One room's messages, by id and by seq, sorted on demand, and the room's log position. */
export class RoomMessages {
  constructor() {
    this.byId = new Map();
    this.bySeq = new Map();
    this.sortedCache = null;
    // The room's event log is applied up to here: what `sync` asks to continue from. Moved by
    // frames on the socket (which arrive in order, without gaps), `sync_complete`, and the
    // newest page of history — never by a REST answer, which may land past events not seen.
    this.position = 0;
    this.updates = new Map(); // message id -> newest state from a frame, for messages not held
    this.historyLoaded = false; // the newest page was fetched
    this.loading = false; // the newest page is being fetched
    this.loadError = null; // why the newest page could not be fetched
    this.hasOlder = true; // older pages may exist
    this.loadingOlder = false;
    this.olderError = null; // why the last older page could not be fetched
  }

  /** Hold a message not held yet (in its newest known state); returns it, or null if held. */
  add(m) {
    if (this.byId.has(m.id) || (typeof m.seq === 'number' && this.bySeq.has(m.seq))) return null;
    const newer = this.updates.get(m.id);
    if (newer) {
      this.updates.delete(m.id);
      m = newer;
    }
    this.byId.set(m.id, m);
    if (typeof m.seq === 'number') this.bySeq.set(m.seq, m);
    this.sortedCache = null;
    return m;
  }

  /** A held message's new state: returns the copy replaced. One not held is remembered for
   *  add(), and null returned. */
  replace(m) {
    const old = this.byId.get(m.id);
    if (!old) {
      this.updates.delete(m.id);
      this.updates.set(m.id, m);
      if (this.updates.size > MAX_REMEMBERED_UPDATES) this.updates.delete(this.updates.keys().next().value);
      return null;
    }
    this.byId.set(m.id, m);
    if (typeof old.seq === 'number' && this.bySeq.get(old.seq) === old) this.bySeq.delete(old.seq);
    if (typeof m.seq === 'number') this.bySeq.set(m.seq, m);
    this.sortedCache = null;
    return old;
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
