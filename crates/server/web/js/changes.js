// changes.js — what happens to messages after they are sent: edits, deletions (a tombstone
// stays in their place), reactions, finding the message a reply quotes (paging back through
// history for it), and who has read how far ("Seen by"). Live changes arrive as
// `message_updated` frames carrying the message's whole new state; our own changes are also
// applied from the REST answer, unless a frame for that message overtook it (frames are in
// order, answers are not).

import { MAX_MESSAGE_CHARS } from './util.js';

// A reply quotes a message not loaded yet: older pages are fetched until it is found, at most
// this many (50 messages each).
const MAX_PAGES_TO_REVEAL = 40;

export class MessageChanges {
  /** @param {import('./chat.js').Chat} chat */
  constructor(chat) {
    this.chat = chat;
    this.store = chat.store;
    this.api = chat.api;
    this.reacting = new Set(); // `${messageId} ${emoji}` in flight, so a double click sends once
  }

  /** A `message_updated` frame: `seq` is the change's own place in the room's log. */
  applyFrame(f) {
    const { store } = this;
    const m = f.message;
    if (typeof f.room_id !== 'number' || !m) return;
    const room = store.rooms.get(f.room_id);
    if (!room || room.removed) return;
    if (!store.advance(f.room_id, f.seq, { live: true })) this.chat.realtime.resync();
    if (typeof f.seq === 'number') room.last_seq = Math.max(room.last_seq || 0, f.seq);
    const old = store.applyMessage(f.room_id, m);
    // A deleted message no longer counts as unread (the server leaves it out of unread_count).
    const newlyDeleted = m.deleted_at && !(old && old.deleted_at);
    const unread = !store.isMine(m) && m.seq > (room.last_read_seq || 0);
    if (newlyDeleted && unread && room.unread_count > 0) {
      room.unread_count -= 1;
    }
    // Mentions are worked out again on an edit (and gone once deleted): so is our count.
    if (unread && old && !old.deleted_at) {
      const change = Number(store.mentionsMe(m) && !m.deleted_at) - Number(store.mentionsMe(old));
      room.mention_count = Math.max(0, Math.min((room.mention_count || 0) + change, room.unread_count || 0));
    }
  }

  /** Our own change came back: apply it, unless the held copy changed meanwhile (a frame,
   *  which is at least as new). */
  applyAnswer(roomId, before, m) {
    if (!m || typeof m.id !== 'number') return;
    if (this.store.message(roomId, m.id) !== before) return;
    this.store.applyMessage(roomId, m);
  }

  /** Edit one of our messages. Throws an ApiError (or Error) with a sentence. */
  async edit(roomId, id, text) {
    const content = text.trim();
    if (!content) throw new Error('A message cannot be empty. To remove it, delete it instead.');
    if (Array.from(content).length > MAX_MESSAGE_CHARS) {
      throw new Error(`Messages can be at most ${MAX_MESSAGE_CHARS} characters long.`);
    }
    const before = this.store.message(roomId, id);
    if (before && before.content === content) return before; // nothing changed
    const gen = this.chat.gen;
    const m = await this.api.editMessage(id, content);
    if (this.chat.live(gen)) this.applyAnswer(roomId, before, m);
    return m;
  }

  /** Delete a message for everyone (ours, or anyone's in a group we created). */
  async remove(roomId, id) {
    const before = this.store.message(roomId, id);
    const gen = this.chat.gen;
    const m = await this.api.deleteMessage(id);
    if (this.chat.live(gen)) this.applyAnswer(roomId, before, m);
    return m;
  }

  /** Add our reaction with this emoji, or take it back if we had it. */
  async toggleReaction(roomId, id, emoji) {
    const before = this.store.message(roomId, id);
    if (!before || before.deleted_at) return;
    const key = `${id} ${emoji}`;
    if (this.reacting.has(key)) return;
    this.reacting.add(key);
    const gen = this.chat.gen;
    const mine = (before.reactions || []).some((r) => r.emoji === emoji && r.me);
    try {
      const m = mine ? await this.api.removeReaction(id, emoji) : await this.api.addReaction(id, emoji);
      if (this.chat.live(gen)) this.applyAnswer(roomId, before, m);
    } catch (err) {
      if (this.chat.live(gen)) this.chat.notifyUser(err.message);
    } finally {
      this.reacting.delete(key);
    }
  }

  /** Fetch every member's read position in a room (on opening it, and after a reconnect). */
  async loadReads(roomId) {
    const gen = this.chat.gen;
    try {
      const list = await this.api.roomReads(roomId);
      if (this.chat.live(gen) && Array.isArray(list) && this.store.rooms.has(roomId)) this.store.setReads(roomId, list);
    } catch {
      /* "Seen by" is a nicety: without it nothing else is missing */
    }
  }

  /**
   * Make sure a message is loaded, paging back through the room's history for it (a reply's
   * quote was clicked). Resolves true once it is held, false if it is not to be found.
   */
  async reveal(roomId, id) {
    const { store } = this;
    const gen = this.chat.gen;
    for (let pages = 0; ; pages += 1) {
      if (!this.chat.live(gen)) return false;
      if (store.message(roomId, id)) return true;
      const rm = store.roomMessages(roomId);
      if (!rm.historyLoaded || !rm.hasOlder || pages >= MAX_PAGES_TO_REVEAL) return false;
      const oldest = rm.minSeq();
      await this.chat.loadOlder(roomId, { force: true });
      if (rm.olderError || rm.minSeq() === oldest) return Boolean(store.message(roomId, id));
    }
  }
}
