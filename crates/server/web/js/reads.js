// reads.js — our read positions. A message is read once it has been on screen while the page
// was visible and focused (the conversation view says what it shows: chat.readSource); the open
// room's position then moves to the newest message shown, on the socket or over REST. What does
// not get through (read while disconnected) stays ahead of what the server is known to hold and
// is sent once connected again (flush).

export class Reads {
  /** @param {import('./chat.js').Chat} chat */
  constructor(chat) {
    this.chat = chat;
    this.timer = null;
    // room_id -> the read position the server is known to hold (room list, `read` frames, REST
    // answers): a position of ours ahead of it (read while disconnected) is sent on reconnect.
    this.confirmed = new Map();
  }

  /** A new session: nothing is known to be held. */
  reset() {
    this.confirmed.clear();
  }

  stop() {
    clearTimeout(this.timer);
  }

  /** Soon, move the read position of the open room to the newest message on screen. */
  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.mark(), 150);
  }

  /**
   * Move the open room's read position to the newest message the view shows (see
   * chat.readSource), if the page is visible and focused. With the room's newest message on
   * screen, to the room's newest event.
   */
  mark() {
    const { chat } = this;
    const { store } = chat;
    const c = store.current;
    if (c?.type !== 'room' || !chat.isViewing(c.id) || !document.hasFocus()) return;
    const room = store.rooms.get(c.id);
    if (!room || room.removed) return;
    const shown = chat.readSource?.(c.id) || 0;
    if (shown <= 0) return;
    const rm = store.roomMessages(c.id);
    // Unread messages older than the oldest loaded (more unread than the first page): they were
    // never on screen, and a read position is one number — nothing moves until they are loaded.
    if (rm.hasOlder && rm.minSeq() > (room.last_read_seq || 0) + 1 && room.unread_count > 0) return;
    const newest = shown >= rm.maxSeq();
    const upTo = newest ? Math.max(room.last_seq || 0, shown) : shown;
    if (upTo <= (room.last_read_seq || 0) && !(newest && room.unread_count)) return;
    // What stays unread: the messages of others after it (all held: history is contiguous
    // from the oldest message loaded, and what is on screen is loaded).
    let unread = 0;
    let mentions = 0;
    for (const m of rm.sorted()) {
      if (m.seq <= upTo || m.deleted_at || store.isMine(m)) continue;
      unread += 1;
      if (store.mentionsMe(m)) mentions += 1;
    }
    room.last_read_seq = Math.max(room.last_read_seq || 0, upTo);
    room.unread_count = unread;
    room.mention_count = Math.min(room.mention_count || 0, mentions);
    store.notify('rooms');
    this.send(room.room_id, upTo);
  }

  /** Tell the server our read position: on the socket, else over REST (what does not get
   *  through stays ahead of `confirmed`, and flush() sends it once connected again). */
  send(roomId, upTo) {
    const { chat } = this;
    if (chat.realtime.send({ type: 'read', room_id: roomId, up_to: upTo })) return;
    const gen = chat.gen;
    chat.api
      .markRead(roomId, upTo)
      .then(() => {
        if (chat.live(gen)) this.confirm(roomId, upTo);
      })
      .catch(() => {});
  }

  /** The server holds this read position (or a later one). */
  confirm(roomId, seq) {
    if (typeof roomId !== 'number' || typeof seq !== 'number') return;
    if (seq > (this.confirmed.get(roomId) ?? -1)) this.confirmed.set(roomId, seq);
  }

  /** Send every read position of ours the server is not known to hold (reads made while
   *  disconnected). Only rooms whose server position is known (from the room list). */
  flush() {
    const { chat } = this;
    if (!chat.realtime.ready) return;
    for (const room of chat.store.rooms.values()) {
      if (room.removed || !this.confirmed.has(room.room_id)) continue;
      const mine = room.last_read_seq || 0;
      if (mine > this.confirmed.get(room.room_id)) this.send(room.room_id, mine);
    }
  }
}
