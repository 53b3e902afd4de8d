// notify.js — desktop notifications and muting. A message someone else sent notifies (the
// browser's Notification API) when it is in a DM, mentions us, or is in a group we have not
// muted — and only while we are not looking at its room (the tab is hidden, or another room is
// open); never for messages replayed by a catch-up. A muted room still counts unread; only a
// mention breaks through. Notifications are off until turned on in the settings (the browser
// asks for permission then, on that click); the choice is kept in this browser. A click on a
// notification brings the tab forward and opens its room; opening a room closes its
// notifications. Mute is our own per-room setting (PUT /rooms/{id}/settings), echoed to our
// other devices as `room_settings` frames.

import { messageSummary } from './attachments.js';

const PREF_KEY = 'banter.notifications';
const BODY_CHARS = 160;

function readPref() {
  try {
    return localStorage.getItem(PREF_KEY);
  } catch {
    return null;
  }
}

function writePref(value) {
  try {
    localStorage.setItem(PREF_KEY, value);
  } catch {
    /* storage disabled: the choice lasts until reload */
  }
}

function excerpt(text) {
  const flat = String(text || '').replace(/\s+/g, ' ').trim();
  const chars = Array.from(flat);
  return chars.length > BODY_CHARS ? `${chars.slice(0, BODY_CHARS - 1).join('')}…` : flat;
}

export class Notifier {
  /**
   * @param {{store: import('./state.js').Store, chat: import('./chat.js').Chat,
   *          api: import('./api.js').Api, onOpenRoom: (roomId: number) => void}} deps
   */
  constructor({ store, chat, api, onOpenRoom }) {
    this.store = store;
    this.chat = chat;
    this.api = api;
    this.onOpenRoom = onOpenRoom;
    /** @type {Map<number, Notification[]>} room_id -> notifications shown for it */
    this.shown = new Map();
    this.listeners = new Set();
    this.pref = readPref() === 'on';
    chat.on('message', (m, room) => this.onMessage(m, room));
    chat.on('frame', (f) => {
      if (f.type === 'room_settings' && typeof f.room_id === 'number' && typeof f.muted === 'boolean') {
        store.setMuted(f.room_id, f.muted);
      }
    });
    // Looking at a room makes its notifications old news.
    store.subscribe((topics) => {
      if (topics.has('current') || topics.has('all')) this.closeViewed();
    });
    document.addEventListener('visibilitychange', () => this.closeViewed());
    window.addEventListener('storage', (e) => {
      if (e.key === PREF_KEY) {
        this.pref = e.newValue === 'on';
        this.changed();
      }
    });
  }

  // ---- the setting ---------------------------------------------------------------------

  /** fn() after the setting or the permission changed; returns an unsubscribe function. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    for (const fn of [...this.listeners]) fn();
  }

  get supported() {
    return typeof window.Notification === 'function';
  }

  /** 'granted' | 'denied' | 'default' | 'unsupported' */
  get permission() {
    return this.supported ? Notification.permission : 'unsupported';
  }

  /** Turned on here, and allowed by the browser. */
  get enabled() {
    return this.pref && this.permission === 'granted';
  }

  /**
   * The settings switch. Turning on asks the browser for permission if it has not been asked
   * (so call this from the click). Resolves to whether notifications are on now.
   */
  async setEnabled(on) {
    if (!on) {
      this.pref = false;
      writePref('off');
      this.changed();
      return false;
    }
    if (!this.supported) return false;
    let permission = Notification.permission;
    if (permission === 'default') {
      try {
        // Older Safari takes a callback instead of returning a promise.
        permission = await new Promise((resolve) => {
          const p = Notification.requestPermission(resolve);
          if (p && typeof p.then === 'function') p.then(resolve, () => resolve(Notification.permission));
        });
      } catch {
        permission = Notification.permission;
      }
    }
    this.pref = permission === 'granted';
    writePref(this.pref ? 'on' : 'off');
    this.changed();
    return this.pref;
  }

  // ---- notifying -------------------------------------------------------------------------

  onMessage(m, room) {
    if (!this.enabled || this.chat.realtime.catchUp || this.store.isMine(m) || m.deleted_at) return;
    if (!room) {
      // Someone started a conversation with us: its summary is on its way.
      const gen = this.chat.gen;
      this.chat
        .reloadRooms()
        .then(() => {
          const known = this.store.rooms.get(m.room_id);
          if (known && gen === this.chat.gen) this.onMessage(m, known);
        })
        .catch(() => {});
      return;
    }
    if (room.removed || this.chat.isViewing(room.room_id)) return;
    const mention = this.store.mentionsMe(m);
    if (room.muted && !mention) return;
    this.show(room, m, mention);
  }

  show(room, m, mention) {
    const sender = m.sender_full_name || m.sender_username || 'Someone';
    const text = excerpt(messageSummary(m));
    let title;
    let body;
    if (room.room_type === 'group') {
      title = mention ? `${sender} mentioned you in ${room.name}` : room.name;
      body = mention ? text : `${sender}: ${text}`;
    } else {
      title = mention ? `${sender} mentioned you` : sender;
      body = text;
    }
    let n;
    try {
      // One notification per room on screen: a newer one takes the older one's place.
      n = new Notification(title, { body, tag: `banter-room-${room.room_id}`, icon: '/favicon.svg' });
    } catch {
      return; // e.g. a browser that only shows them from a service worker
    }
    const roomId = room.room_id;
    const list = this.shown.get(roomId) || [];
    list.push(n);
    this.shown.set(roomId, list);
    n.onclick = () => {
      window.focus();
      this.onOpenRoom(roomId);
      n.close();
    };
    n.onclose = () => {
      const left = (this.shown.get(roomId) || []).filter((x) => x !== n);
      if (left.length) this.shown.set(roomId, left);
      else this.shown.delete(roomId);
    };
  }

  /** Close the notifications of the room we are looking at. */
  closeViewed() {
    const c = this.store.current;
    if (c?.type === 'room' && this.chat.isViewing(c.id)) this.closeRoom(c.id);
  }

  closeRoom(roomId) {
    for (const n of this.shown.get(roomId) || []) n.close();
    this.shown.delete(roomId);
  }

  /** Signed out: nothing of that session stays on screen. */
  closeAll() {
    for (const roomId of [...this.shown.keys()]) this.closeRoom(roomId);
  }

  // ---- muting ----------------------------------------------------------------------------

  /** Mute or unmute a room for us (on every device). Shown at once; undone if refused. */
  async setMuted(roomId, muted) {
    const { store } = this;
    const room = store.rooms.get(roomId);
    if (!room || room.removed) return;
    const before = Boolean(room.muted);
    const gen = this.chat.gen;
    store.setMuted(roomId, muted);
    try {
      const answer = await this.api.setRoomSettings(roomId, { muted: Boolean(muted) });
      if (gen === this.chat.gen && typeof answer?.muted === 'boolean') store.setMuted(roomId, answer.muted);
    } catch (err) {
      if (gen !== this.chat.gen) return;
      store.setMuted(roomId, before);
      this.chat.notifyUser(err.message);
    }
  }
}
