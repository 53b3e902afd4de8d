// typing.js — typing indicators. Ours: announced when the user types in the open room, kept
// alive while they go on, ended when they stop, switch rooms or send. The server relays one
// start per user and room every 2 s and drops the others without a trace (docs/PROTOCOL.md): a
// start sooner than that (typing again right after sending, which ended the last one) waits
// until it will be relayed, plus a margin for the network. Others': their indicators
// (store.typing) expire by themselves, checked once a second.

const REPEAT_MS = 3000; // a start again while typing goes on (the server ends it after 5 s)
const IDLE_MS = 4000; // no keystroke for this long: typing ended
const THROTTLE_MS = 2000;
const THROTTLE_MARGIN_MS = 250;

export class Typing {
  /** @param {import('./chat.js').Chat} chat */
  constructor(chat) {
    this.chat = chat;
    this.sentAt = 0;
    this.room = null; // the room our typing start was relayed in (the server holds it)
    this.idle = null;
    this.waiting = null; // the room a start waits for (see THROTTLE_MS)
    this.again = null;
    this.relayed = new Map(); // room_id -> when we last sent a start the server relayed
    this.ticker = null;
  }

  /** A new session. */
  start() {
    this.stop();
    this.room = null;
    this.waiting = null;
    this.relayed.clear();
    const { store } = this.chat;
    this.ticker = setInterval(() => {
      if (!store.typing.size) return;
      for (const roomId of [...store.typing.keys()]) store.typingIn(roomId); // drop expired
      store.notify('typing');
    }, 1000);
  }

  stop() {
    clearInterval(this.ticker);
    this.ticker = null;
    clearTimeout(this.idle);
    clearTimeout(this.again);
  }

  /** The user typed in the composer. */
  typed() {
    const { chat } = this;
    const c = chat.store.current;
    if (c?.type !== 'room') return;
    const now = Date.now();
    const typingIn = this.room ?? this.waiting;
    if (typingIn !== null && typingIn !== c.id) this.end();
    if (this.room !== c.id) this.announce(c.id, now);
    else if (now - this.sentAt > REPEAT_MS) {
      // Keep it alive (the server ends it 5 s after the last start).
      if (chat.realtime.send({ type: 'typing', room_id: c.id, is_typing: true })) this.sentAt = now;
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.end(), IDLE_MS);
  }

  /** Announce typing in a room, now or as soon as the server will relay it. */
  announce(roomId, now) {
    const wait = (this.relayed.get(roomId) ?? -Infinity) + THROTTLE_MS - now;
    if (wait > 0) {
      if (this.waiting === roomId) return;
      this.waiting = roomId;
      clearTimeout(this.again);
      this.again = setTimeout(() => {
        this.waiting = null;
        this.announce(roomId, Date.now());
      }, wait + THROTTLE_MARGIN_MS);
      return;
    }
    if (!this.chat.realtime.send({ type: 'typing', room_id: roomId, is_typing: true })) return;
    this.room = roomId;
    this.sentAt = now;
    this.relayed.set(roomId, now);
  }

  /** Typing ended (idle, another room, or a message sent). */
  end() {
    clearTimeout(this.idle);
    clearTimeout(this.again);
    this.waiting = null;
    if (this.room !== null) {
      this.chat.realtime.send({ type: 'typing', room_id: this.room, is_typing: false });
      this.room = null;
      this.sentAt = 0;
    }
  }

  /** A message was sent in `roomId`: that ended our typing on the server, so the next
   *  keystroke announces it again at once. */
  sent(roomId) {
    this.end();
    if (roomId != null) this.relayed.delete(roomId);
  }
}
