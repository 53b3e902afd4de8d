// chat.js — the client's behaviour, between the views and the server: opening conversations
// (rooms and draft DMs), loading history and older pages, sending with a client_id over the
// WebSocket (REST as fallback, same client_id so nothing is stored twice), replies, retrying,
// unread counts, groups and members, and every incoming WebSocket frame. Read positions are in
// reads.js, typing indicators in typing.js. Messages on their way (pending, failed, resent after
// reconnecting, discarded) are in outbox.js. Changes to sent messages (edits, deletions, reactions, "Seen by") are in changes.js;
// desktop notifications and muting (notify.js) and search (search.js) listen through on().
// Files to send are uploaded first (attachments.js); a message names them by attachment_ids.
// One Chat serves one signed-in session after another: every async continuation checks the
// session generation (`gen`), so an answer for the previous user never lands in the store.

import { Realtime } from './realtime.js';
import { Outbox } from './outbox.js';
import { MessageChanges } from './changes.js';
import { Files } from './attachments.js';
import { Reads } from './reads.js';
import { Typing } from './typing.js';
import { navigate } from './router.js';
import { newClientId, MAX_MESSAGE_CHARS } from './util.js';

const PAGE = 50;
const ROOMS_RETRY_MS = [2000, 5000, 15000]; // the first room list failed: try again this often

export class Chat {
  /**
   * @param {{store: import('./state.js').Store, api: import('./api.js').Api,
   *          onRevoked: () => void, notify: (msg: string) => void}} deps
   */
  constructor({ store, api, onRevoked, notify }) {
    this.store = store;
    this.api = api;
    this.notifyUser = notify;
    this.outbox = new Outbox(this);
    this.reads = new Reads(this); // our read positions
    this.ownTyping = new Typing(this); // our typing indicator (and others' expiring)
    this.roomsReload = null;
    this.roomsRetry = null;
    this.leaving = new Set();
    this.membersAsked = new Map(); // group id -> how many member lists were asked for
    this.membersApplied = new Map(); // group id -> the newest of them the store took
    this.gen = 0; // bumped by start() and stop()
    this.realtime = new Realtime({
      api,
      positions: () => store.positions(),
      onFrame: (f) => this.onFrame(f),
      onStatus: (s, retryAt) => store.setConnection(s, retryAt),
      onConnected: () => this.onConnected(),
      onDisconnected: () => this.outbox.onDisconnected(),
      onRevoked,
    });
    this.onVisibility = () => {
      if (document.visibilityState === 'visible') this.scheduleMarkRead();
    };
    // What the open conversation has on screen: (roomId) => the newest seq shown (0: none).
    // Set by the conversation view; marking read goes no further than that.
    this.readSource = null;
    this.changes = new MessageChanges(this);
    this.files = new Files(api); // uploads, and attachments as blob: URLs (this session's)
    /** @type {Map<string, Set<Function>>} */
    this.listeners = new Map();
  }

  /**
   * Listen to the session: 'message' (m, room|null) for each message someone else sent that
   * arrived live (not from history; room is null while its summary is on its way), 'frame' (f)
   * for every WebSocket frame. Returns an unsubscribe function.
   */
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event)?.delete(fn);
  }

  emit(event, ...args) {
    for (const fn of [...(this.listeners.get(event) || [])]) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`${event} listener failed`, err);
      }
    }
  }

  /** Begin a signed-in session (the same Chat serves one session after another). */
  async start(user) {
    this.stop(); // idempotent: nothing of a previous session survives
    const gen = ++this.gen;
    this.leaving.clear();
    this.roomsReload = null;
    this.ownTyping.start();
    this.reads.reset();
    this.store.me = user;
    this.store.notify('me');
    // What this user wrote and could not send before a reload (or a closed tab) is back, to go
    // once the socket is connected; before anything else can touch the saved outbox.
    this.outbox.resume(user.id);
    document.addEventListener('visibilitychange', this.onVisibility);
    window.addEventListener('focus', this.onVisibility);
    this.realtime.start();
    this.api
      .onlineUsers()
      .then((r) => {
        if (gen !== this.gen) return;
        for (const id of r?.online_users || []) this.store.setOnline(id, true);
      })
      .catch(() => {});
    await this.loadRoomsAndSync(gen, 0);
  }

  stop() {
    this.gen += 1;
    this.realtime.stop();
    document.removeEventListener('visibilitychange', this.onVisibility);
    window.removeEventListener('focus', this.onVisibility);
    this.outbox.reset();
    this.reads.stop();
    this.ownTyping.stop();
    clearTimeout(this.roomsRetry);
    this.roomsReload = null;
    this.files.clear(); // nothing of this user's files is left for the next one
  }

  /** Whether `gen` is still the running session. */
  live(gen) {
    return gen === this.gen && this.store.me != null;
  }

  /**
   * Load the room list, then send the socket's `sync` (it waits for the list: it needs the
   * positions). A failure is said once and retried a few times; a (re)connect retries too.
   */
  async loadRoomsAndSync(gen, failures) {
    try {
      await this.reloadRooms();
      if (this.live(gen)) this.realtime.sync();
    } catch (err) {
      if (!this.live(gen) || this.store.roomsLoaded) return;
      if (failures === 0) this.notifyUser(err.message);
      if (failures < ROOMS_RETRY_MS.length) {
        clearTimeout(this.roomsRetry);
        this.roomsRetry = setTimeout(() => this.loadRoomsAndSync(gen, failures + 1), ROOMS_RETRY_MS[failures]);
      }
    }
  }

  /** Connect again now (the "Reconnect" button when offline). */
  reconnect() {
    this.realtime.reconnectNow();
  }

  /** Fetch the room list (shared while in flight). */
  reloadRooms() {
    if (!this.roomsReload) {
      const gen = this.gen;
      const since = this.store.roomEpoch;
      const loading = this.api
        .rooms()
        .then((list) => {
          if (!this.live(gen)) return;
          if (Array.isArray(list)) {
            for (const r of list) this.reads.confirm(r.room_id, r.last_read_seq);
            this.store.setRooms(list, since);
            this.outbox.dropOrphans();
            this.reads.flush();
          }
          this.adoptDrafts();
          this.reloadCurrentIfNeeded();
          this.scheduleMarkRead();
        })
        .finally(() => {
          if (this.roomsReload === loading) this.roomsReload = null;
        });
      this.roomsReload = loading;
    }
    return this.roomsReload;
  }

  // ---- opening conversations ---------------------------------------------------------------

  /** Show a room. Loads its newest page of history once, and marks it read. */
  async openRoom(roomId) {
    const { store } = this;
    const gen = this.gen;
    if (!store.rooms.has(roomId)) {
      await this.reloadRooms().catch(() => {});
      if (!this.live(gen)) return;
      if (!store.rooms.has(roomId)) {
        this.notifyUser('That conversation was not found.');
        navigate('/', { replace: true });
        return;
      }
    }
    store.setCurrent({ type: 'room', id: roomId });
    const room = store.rooms.get(roomId);
    const rm = store.roomMessages(roomId);
    if (!rm.historyLoaded && !room.removed && !rm.loading) {
      rm.loading = true;
      rm.loadError = null;
      store.notify('messages');
      try {
        const list = await this.api.roomMessages(roomId, { limit: PAGE });
        if (!this.live(gen)) return;
        const page = Array.isArray(list) ? list : [];
        // Messages that arrived live before the room was opened may sit below a gap.
        if (page.length) rm.dropBelow(page[0].seq);
        rm.historyLoaded = true;
        rm.olderError = null;
        rm.hasOlder = page.length >= PAGE;
        this.ingest(page);
        // The newest page is the room as it is now, up to its newest message at least.
        if (page.length) store.advance(roomId, page[page.length - 1].seq);
      } catch (err) {
        rm.loadError = err.message;
      } finally {
        rm.loading = false;
        store.notify('messages');
      }
    }
    if (room.room_type === 'group' && !room.removed) this.loadMembers(roomId).catch(() => {});
    if (!room.removed) this.changes.loadReads(roomId);
    this.scheduleMarkRead();
  }

  /** The open room has no history loaded (a failed load, or we were added back): load it. */
  reloadCurrentIfNeeded() {
    const c = this.store.current;
    if (c?.type !== 'room') return;
    const room = this.store.rooms.get(c.id);
    const rm = this.store.messages.get(c.id);
    if (room && !room.removed && (!rm || !rm.historyLoaded) && !rm?.loading) this.openRoom(c.id);
  }

  /** Open the DM with a user: the existing room, or a draft until the first message. */
  async openUser(userId, knownUser) {
    const { store } = this;
    const gen = this.gen;
    const existing = store.dmWith(userId);
    if (existing) {
      navigate(`/room/${existing.room_id}`, { replace: true });
      return;
    }
    let user = knownUser || store.drafts.get(userId);
    if (!user) {
      try {
        user = await this.api.user(userId);
      } catch (err) {
        if (!this.live(gen)) return;
        this.notifyUser(err.message);
        navigate('/', { replace: true });
        return;
      }
    }
    if (!this.live(gen)) return;
    if (store.me && userId === store.me.id) {
      navigate('/', { replace: true });
      return;
    }
    store.drafts.set(userId, user);
    if (typeof user.online === 'boolean') store.setOnline(userId, user.online);
    store.setCurrent({ type: 'draft', userId });
    // A room may exist that our list does not know yet (e.g. created from another device).
    try {
      const history = await this.api.chatWith(userId); // mark_read=false (see api.js)
      if (!this.live(gen)) return;
      if (Array.isArray(history) && history.length) {
        const roomId = history[0].room_id;
        await this.reloadRooms().catch(() => {});
        if (!this.live(gen)) return;
        this.ingest(history);
        if (store.rooms.has(roomId)) {
          store.roomMessages(roomId).historyLoaded = true;
          store.roomMessages(roomId).hasOlder = history.length >= PAGE;
          this.adoptDraft(userId, roomId);
        }
      }
    } catch {
      /* stays a draft; sending will create or find the room */
    }
  }

  /** Drafts whose DM room now exists (we sent the first message, or they did). Messages to a
   *  draft restored from the saved outbox (no draft open for them) move to the room too. */
  adoptDrafts() {
    const { store } = this;
    for (const userId of [...store.drafts.keys()]) {
      const room = store.dmWith(userId);
      if (room) this.adoptDraft(userId, room.room_id);
    }
    let moved = false;
    for (const p of store.pending.values()) {
      const room = p.room_id == null && p.recipient_id != null ? store.dmWith(p.recipient_id) : null;
      if (!room) continue;
      p.room_id = room.room_id;
      moved = true;
    }
    if (moved) store.notify('rooms', 'messages');
  }

  /** A draft DM got its room: move pending messages over and show the room instead. */
  adoptDraft(userId, roomId) {
    const { store } = this;
    store.drafts.delete(userId);
    for (const p of store.pending.values()) if (p.room_id == null && p.recipient_id === userId) p.room_id = roomId;
    if (store.current?.type === 'draft' && store.current.userId === userId) navigate(`/room/${roomId}`, { replace: true });
    store.notify('rooms', 'messages');
  }

  closeConversation() {
    this.store.setCurrent(null);
  }

  /**
   * Load the page before the oldest message we have. After a failure only an explicit request
   * (`force`: the button) tries again, so scrolling or a short history does not loop. Resolves
   * when the page (or the one already on its way) is in.
   */
  loadOlder(roomId, { force = false } = {}) {
    const rm = this.store.roomMessages(roomId);
    if (rm.loadingOlder) return rm.olderLoad || Promise.resolve();
    if (!rm.hasOlder || !rm.historyLoaded) return Promise.resolve();
    if (rm.olderError && !force) return Promise.resolve();
    rm.olderLoad = this.fetchOlder(roomId, rm).finally(() => {
      rm.olderLoad = null;
    });
    return rm.olderLoad;
  }

  async fetchOlder(roomId, rm) {
    const gen = this.gen;
    const before = rm.minSeq();
    if (before <= 1) {
      rm.hasOlder = false;
      this.store.notify('messages');
      return;
    }
    rm.loadingOlder = true;
    rm.olderError = null;
    this.store.notify('messages');
    try {
      const list = await this.api.roomMessages(roomId, { before, limit: PAGE });
      if (!this.live(gen)) return;
      rm.hasOlder = Array.isArray(list) && list.length >= PAGE;
      this.ingest(list || []);
    } catch (err) {
      if (!this.live(gen)) return;
      rm.olderError = err.message;
    } finally {
      rm.loadingOlder = false;
      this.store.notify('messages');
    }
  }

  // ---- incoming messages --------------------------------------------------------------------

  /** Add messages from history (no unread counting). */
  ingest(list) {
    const byRoom = new Map();
    for (const m of list) {
      if (!byRoom.has(m.room_id)) byRoom.set(m.room_id, []);
      byRoom.get(m.room_id).push(m);
    }
    for (const [roomId, msgs] of byRoom) {
      this.store.addMessages(roomId, msgs);
      const room = this.store.rooms.get(roomId);
      const newest = msgs.reduce((a, b) => (b.seq > (a?.seq || 0) ? b : a), null);
      if (room && newest && newest.seq > (room.last_seq || 0)) this.bumpRoom(room, newest);
    }
  }

  bumpRoom(room, m) {
    room.last_seq = Math.max(room.last_seq || 0, m.seq);
    if (!room.last_message || m.seq >= (room.last_message.seq || 0)) {
      room.last_message = m;
      room.last_message_time = m.created_at;
    }
  }

  /** A live message (new_message, ack, sync, or a REST answer to our send). `replace`: it came
   *  from the room's event log (new_message), so it is the newest state of a copy we hold. */
  receive(m, { replace = false } = {}) {
    const { store } = this;
    if (!m || typeof m.room_id !== 'number') return;
    const room = store.rooms.get(m.room_id);
    if (room?.removed) return; // not a member any more: show nothing new
    const mine = store.isMine(m);
    if (mine && m.client_id) this.outbox.clearAckTimer(m.client_id);
    const added = store.addMessages(m.room_id, [m], { replace });
    if (mine && m.client_id) this.outbox.settled(m.client_id); // a paced queue moves on
    if (!room) {
      // A room we do not know yet (the room_added frame may still be on its way).
      this.reloadRooms().catch(() => {});
      if (added.length && !mine && !m.deleted_at) this.emit('message', m, null);
      return;
    }
    if (!added.length) return;
    const isNew = m.seq > (room.last_seq || 0);
    this.bumpRoom(room, m);
    if (mine) {
      room.last_read_seq = Math.max(room.last_read_seq || 0, m.seq);
    } else {
      if (m.sender_id != null) store.setTyping(m.room_id, m.sender_id, m.sender_username, false);
      if (isNew && !m.deleted_at && m.seq > (room.last_read_seq || 0)) {
        // Unread until it has been on screen, even in the open room (the reader may be
        // scrolled up, or away): reads.js moves past it once the view shows it.
        room.unread_count = (room.unread_count || 0) + 1;
        if (store.mentionsMe(m)) room.mention_count = (room.mention_count || 0) + 1;
        if (this.isViewing(m.room_id)) this.scheduleMarkRead();
      }
      if (isNew && !m.deleted_at) this.emit('message', m, room);
    }
    store.notify('rooms', 'messages');
  }

  onConnected() {
    // The room list never loaded: load it now; its positions are what `sync` needs.
    if (!this.store.roomsLoaded) this.loadRoomsAndSync(this.gen, ROOMS_RETRY_MS.length);
    // What could not be sent while disconnected goes now, by itself (same client_id).
    this.outbox.onConnected();
    this.reads.flush(); // reads made while disconnected (the room list, fetched again, too)
    for (const rm of this.store.messages.values()) rm.olderError = null; // worth another try
    this.reloadCurrentIfNeeded();
    // Read positions are not replayed by `sync`: whoever read meanwhile is fetched again.
    const c = this.store.current;
    if (c?.type === 'room' && this.store.rooms.get(c.id)?.removed === false) this.changes.loadReads(c.id);
    for (const roomId of [...this.store.reads.keys()]) if (!(c?.type === 'room' && c.id === roomId)) this.store.reads.delete(roomId);
  }

  onFrame(f) {
    const { store } = this;
    this.emit('frame', f);
    switch (f.type) {
      case 'new_message': {
        const m = f.message || seedMessage(f);
        this.receive(m, { replace: true });
        if (!store.advance(f.room_id, typeof f.seq === 'number' ? f.seq : m?.seq, { live: true })) this.realtime.resync();
        break;
      }
      case 'message_updated':
        this.changes.applyFrame(f);
        break;
      case 'ack':
        if (f.message) this.receive(f.message);
        break;
      case 'sync_complete':
        // Now the server and we agree on positions; refresh counts, names and presence.
        if (f.rooms && typeof f.rooms === 'object') {
          for (const [id, seq] of Object.entries(f.rooms)) store.advance(Number(id), seq);
        }
        this.reloadRooms().catch(() => {});
        break;
      case 'room_added':
        if (f.room) {
          this.reads.confirm(f.room.room_id, f.room.last_read_seq);
          store.upsertRoom(f.room);
          this.adoptDrafts();
          this.reloadCurrentIfNeeded();
        }
        break;
      case 'room_removed':
        this.roomGone(f.room_id);
        break;
      case 'presence':
        store.setOnline(f.user_id, Boolean(f.online));
        break;
      case 'user_typing':
        if (f.user_id !== store.me?.id) {
          // Newer servers send the full name too: someone not known yet is named by it at once.
          // Only then: the frame's name is the one their connection started with, which may be
          // older than what `user_updated` taught us.
          if ('full_name' in f && typeof f.user_id === 'number' && f.username && !store.people.has(f.user_id)) {
            store.learnPerson({ id: f.user_id, username: f.username, full_name: f.full_name });
          }
          store.setTyping(f.room_id, f.user_id, f.username, f.is_typing !== false);
        }
        break;
      case 'read':
        if (f.user_id === store.me?.id) {
          this.reads.confirm(f.room_id, f.last_read_seq);
          const room = store.rooms.get(f.room_id);
          if (room) {
            room.last_read_seq = Math.max(room.last_read_seq || 0, f.last_read_seq || 0);
            if (typeof f.unread_count === 'number') room.unread_count = f.unread_count;
            // The frame has no mention count: none can be left when nothing is unread.
            room.mention_count = Math.min(room.mention_count || 0, room.unread_count || 0);
            store.notify('rooms');
          }
        } else {
          store.setReadPosition(f.room_id, f.user_id, f.last_read_seq); // "Seen by"
        }
        break;
      case 'error':
        // The socket refused a frame. A message it refused goes again over REST (see outbox.js).
        // Errors about other frames (typing, read) change nothing on screen.
        this.outbox.onError(f);
        break;
      default:
        break; // connected, subscribed, pong, room_joined, user_joined…: nothing to show
    }
  }

  roomGone(roomId) {
    const { store } = this;
    if (this.leaving.has(roomId)) {
      store.forgetRoom(roomId);
      return;
    }
    store.markRemoved(roomId);
    for (const p of store.pending.values()) {
      if (p.room_id === roomId) store.updatePending(p.client_id, { status: 'failed', error: 'You are no longer a member.', auto: false });
    }
  }

  // ---- sending ------------------------------------------------------------------------------

  /** Send text to the current conversation; `replyTo`: the message it answers; `attachments`:
   *  files uploaded for it (the text may then be empty). Returns an error sentence, or null. */
  send(text, { replyTo = null, attachments = [] } = {}) {
    const { store } = this;
    const conv = store.current;
    const content = text.trim();
    if (!conv || (!content && !attachments.length)) return null;
    if (Array.from(content).length > MAX_MESSAGE_CHARS) {
      return `Messages can be at most ${MAX_MESSAGE_CHARS} characters long.`;
    }
    let roomId = null;
    let recipientId = null;
    if (conv.type === 'room') {
      const room = store.rooms.get(conv.id);
      if (!room || room.removed) return 'You are no longer a member of this conversation.';
      roomId = room.room_id;
      recipientId = room.room_type === 'direct' ? room.other_user?.id ?? null : null;
    } else {
      recipientId = conv.userId;
    }
    const p = {
      client_id: newClientId(),
      room_id: roomId,
      recipient_id: recipientId,
      content,
      created_at: Date.now(),
      status: 'pending',
      error: null,
      via: null,
      reply_to_id: replyTo ? replyTo.id : null,
      // Kept until the server has the message: a retry sends the same files.
      attachment_ids: attachments.map((a) => a.id),
      attachments,
      // Shown above the pending bubble until the server's copy (with its own reply_to) arrives.
      reply_to: replyTo
        ? {
            id: replyTo.id,
            sender_id: replyTo.sender_id ?? null,
            sender_username: replyTo.sender_username,
            content: Array.from(replyTo.content || '').slice(0, 200).join(''),
            deleted: Boolean(replyTo.deleted_at),
          }
        : null,
    };
    this.ownTyping.sent(roomId);
    this.outbox.add(p);
    return null;
  }

  /** Send a failed message again now. */
  retry(clientId) {
    this.outbox.retry(clientId);
  }

  /** Drop a failed message for good (see outbox.js). */
  discard(clientId) {
    this.outbox.discard(clientId);
  }

  /** The server stored our message (REST 201). Make sure its room is known, then show it. */
  async confirmSent(m, p) {
    const { store } = this;
    if (!m) return;
    const gen = this.gen;
    if (!store.rooms.has(m.room_id)) {
      await this.reloadRooms().catch(() => {});
      if (!this.live(gen)) return;
      // The room list could not be fetched: the DM is shown under the name we know the other
      // person by (never a guess: the next list brings it otherwise).
      const user = p.recipient_id != null ? store.drafts.get(p.recipient_id) || store.people.get(p.recipient_id) : null;
      if (!store.rooms.has(m.room_id) && user) {
        store.upsertRoom({
          room_id: m.room_id,
          room_type: 'direct',
          name: user.username,
          other_user: { ...user, online: store.online.has(user.id) },
          created_by: store.me?.id ?? null,
          member_count: 2,
          last_seq: 0,
          last_message: null,
          last_message_time: null,
          unread_count: 0,
          last_read_seq: 0,
          created_at: m.created_at,
        });
      }
    }
    this.receive(m);
    if (p.recipient_id != null && (store.drafts.has(p.recipient_id) || isDraftOf(store.current, p.recipient_id))) {
      this.adoptDraft(p.recipient_id, m.room_id);
    }
    const rm = store.roomMessages(m.room_id);
    if (!rm.historyLoaded && store.current?.type === 'room' && store.current.id === m.room_id) {
      rm.historyLoaded = true;
      rm.hasOlder = m.seq > 1;
    }
  }

  // ---- reading and typing (reads.js, typing.js) ---------------------------------------------

  isViewing(roomId) {
    const c = this.store.current;
    return c?.type === 'room' && c.id === roomId && document.visibilityState === 'visible';
  }

  /** Soon, move the read position of the open room to the newest message on screen. */
  scheduleMarkRead() {
    this.reads.schedule();
  }

  /** The user typed in the composer. */
  typing() {
    this.ownTyping.typed();
  }

  // ---- groups -------------------------------------------------------------------------------

  async createGroup(name, memberIds) {
    const { store } = this;
    const gen = this.gen;
    const g = await this.api.createGroup(name, memberIds);
    await this.reloadRooms().catch(() => {});
    if (!this.live(gen)) return g;
    if (!store.rooms.has(g.id)) {
      store.upsertRoom({
        room_id: g.id,
        room_type: 'group',
        name: g.name,
        other_user: null,
        created_by: g.created_by,
        member_count: g.member_count,
        last_seq: 0,
        last_message: null,
        last_message_time: null,
        unread_count: 0,
        last_read_seq: 0,
        created_at: g.created_at,
      });
    }
    const rm = store.roomMessages(g.id);
    rm.historyLoaded = true;
    rm.hasOlder = false;
    navigate(`/room/${g.id}`);
    return g;
  }

  /** A group's members, fetched: the store takes the answer unless a request made after this
   *  one has answered already (answers can cross; an older one would take the group back), and
   *  asks again if the group changed (a room_changed applied) while the answer was on its way:
   *  it may be from before that change. */
  async loadMembers(groupId, tries = 3) {
    const gen = this.gen;
    const n = (this.membersAsked.get(groupId) || 0) + 1;
    this.membersAsked.set(groupId, n);
    const changes = this.store.groupChanges.get(groupId) || 0;
    const list = await this.api.groupMembers(groupId);
    if (!this.live(gen)) return [];
    if ((this.membersApplied.get(groupId) || 0) > n) return list;
    if ((this.store.groupChanges.get(groupId) || 0) !== changes && tries > 1) return this.loadMembers(groupId, tries - 1);
    this.membersApplied.set(groupId, n);
    const room = this.store.rooms.get(groupId);
    if (room && Array.isArray(list)) {
      room.member_count = list.length;
      this.store.setMembers(groupId, list);
      for (const m of list) if (typeof m.online === 'boolean' && m.user_id !== this.store.me?.id) this.store.setOnline(m.user_id, m.online);
      this.store.notify('rooms', 'current');
    }
    return list;
  }

  async addMembers(groupId, userIds) {
    const r = await this.api.addMembers(groupId, userIds);
    return r;
  }

  async removeMember(groupId, userId) {
    await this.api.removeMember(groupId, userId);
  }

  async leaveGroup(groupId) {
    const gen = this.gen;
    this.leaving.add(groupId);
    try {
      await this.api.removeMember(groupId, this.store.me.id);
    } catch (err) {
      this.leaving.delete(groupId);
      throw err;
    }
    if (!this.live(gen)) return;
    this.store.forgetRoom(groupId);
    navigate('/', { replace: true });
  }

  /** Hide a room we are no longer a member of. */
  dismissRoom(roomId) {
    this.store.forgetRoom(roomId);
    navigate('/', { replace: true });
  }
}

function isDraftOf(conv, userId) {
  return conv?.type === 'draft' && conv.userId === userId;
}

/** A Message from the seed's new_message fields, for a server that sends no `message`. */
function seedMessage(f) {
  return {
    id: f.message_id,
    room_id: f.room_id,
    chat_room_id: f.room_id,
    seq: f.seq,
    sender_id: f.sender_id,
    sender_username: f.sender_username,
    sender_full_name: f.sender_full_name ?? null,
    content: f.content,
    client_id: f.client_id ?? null,
    is_read: false,
    created_at: f.created_at,
  };
}
