// live-rooms.js — groups and people changing while you look at them. Listens to the session's
// WebSocket frames (chat.on('frame')):
// - `room_changed` (someone was added, left, was removed; the group was renamed; its creator
//   deleted their account and it has a new owner): the group's name, owner and member count are
//   updated at once (header, sidebar, the members dialog and the controls only the owner has),
//   its member list too, and a system line says what happened in its timeline;
// - `user_updated` (someone changed their name, or deleted their account): their name is updated
//   wherever it shows; a deleted account becomes "Deleted User", offline for good, and a DM with
//   it is read-only (see conversation.js);
// - `sync_complete` after a reconnect: the open group's members are fetched again (changes
//   while disconnected are not replayed; the room list, fetched again by chat.js, has the rest).
// System lines are not stored by the server: they are shown for changes seen live, placed after
// the newest message the room had when they happened (store.notices).

import { session } from './session.js';
import { DELETED_USER, personName } from './people.js';

const MAX_NOTICES_PER_ROOM = 100;

/**
 * @param {{store: import('./state.js').Store, chat: import('./chat.js').Chat}} deps
 * @returns {() => void} stops listening
 */
export function installLiveRooms({ store, chat }) {
  let counter = 0;

  /** "you" for ourselves, else the person's name as known now. */
  const who = (id, fallback) => (store.me && id === store.me.id ? 'you' : personName(store, id, fallback));
  const capital = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);

  function addNotice(roomId, text) {
    const room = store.rooms.get(roomId);
    const rm = store.messages.get(roomId);
    const afterSeq = Math.max(room?.last_seq || 0, rm ? rm.maxSeq() : 0);
    let list = store.notices.get(roomId);
    if (!list) {
      list = [];
      store.notices.set(roomId, list);
    }
    list.push({ id: ++counter, afterSeq, time: new Date(), text: capital(text) });
    if (list.length > MAX_NOTICES_PER_ROOM) list.splice(0, list.length - MAX_NOTICES_PER_ROOM);
  }

  function roomChanged(f) {
    const room = store.rooms.get(f.room_id);
    // A group we are not in (any more), or not known yet: `room_added` brings its summary.
    if (!room || room.removed || room.room_type !== 'group') {
      if (!room) chat.reloadRooms().catch(() => {});
      return;
    }
    const users = Array.isArray(f.users) ? f.users.filter((u) => typeof u?.id === 'number') : [];
    const accountDeleted = f.change === 'member_left' && f.actor_id == null && users.every((u) => u.username === DELETED_USER);
    // Names as they were, before this frame teaches anything (a deleted account's old name).
    const names = joinNames(users.map((u) => who(u.id, u.full_name || u.username)));
    // The frame names the actor (`actor`, newer servers); else by id, as known here.
    const a = f.actor && typeof f.actor.id === 'number' ? f.actor : null;
    const actorId = a ? a.id : f.actor_id;
    const actor = actorId != null ? who(actorId, a ? (a.full_name && a.full_name.trim()) || a.username : undefined) : null;
    if (!accountDeleted) for (const u of users) store.learnPerson(u);
    if (a && a.username !== DELETED_USER) store.learnPerson(a);

    if (typeof f.name === 'string' && f.name) room.name = f.name;
    if ('created_by' in f) room.created_by = f.created_by;
    if (typeof f.member_count === 'number') room.member_count = f.member_count;

    const ids = store.members.get(f.room_id);
    if (ids) {
      let next = ids;
      if (f.change === 'members_added') next = [...ids, ...users.map((u) => u.id).filter((id) => !ids.includes(id))];
      else if (f.change === 'member_left' || f.change === 'member_removed') {
        const gone = new Set(users.map((u) => u.id));
        next = ids.filter((id) => !gone.has(id));
      }
      store.members.set(f.room_id, next);
    }

    let text = '';
    switch (f.change) {
      case 'members_added':
        text = actor ? `${actor} added ${names}` : `${names} joined`;
        break;
      case 'member_left':
        text = accountDeleted ? `${names || 'A member'} left (account deleted)` : `${names} left`;
        break;
      case 'member_removed':
        text = actor ? `${actor} removed ${names}` : `${names} ${users.length === 1 ? 'was' : 'were'} removed`;
        break;
      case 'renamed':
        text = actor ? `${actor} renamed the group to “${room.name}”` : `The group was renamed to “${room.name}”`;
        break;
      case 'owner_changed': {
        const owner = users[0];
        if (owner) text = owner.id === store.me?.id ? 'You are now the owner of this group' : `${names} is now the owner of this group`;
        break;
      }
      default:
        break; // a change this client does not know: the fields above are still applied
    }
    if (text) addNotice(f.room_id, text);
    store.notify('rooms', 'current', 'members', 'messages');
  }

  function userUpdated(f) {
    const u = f.user;
    if (!u || typeof u.id !== 'number') return;
    if (f.deleted) {
      store.people.set(u.id, { id: u.id, username: DELETED_USER, full_name: null });
      store.setOnline(u.id, false);
      for (const room of store.rooms.values()) {
        if (room.room_type === 'direct' && room.other_user?.id === u.id) {
          room.other_user = null;
          room.name = DELETED_USER;
        }
      }
      store.typing.forEach((m) => m.delete(u.id));
      store.reads.forEach((m) => m.delete(u.id)); // no "Seen by" from an account that is gone
      store.drafts.delete(u.id);
      if (store.current?.type === 'draft' && store.current.userId === u.id) store.setCurrent(null);
    } else {
      store.learnPerson(u);
      const fullName = u.full_name ?? null;
      for (const room of store.rooms.values()) {
        if (room.room_type === 'direct' && room.other_user?.id === u.id) {
          room.other_user = { ...room.other_user, username: u.username, full_name: fullName };
          room.name = u.username;
        }
      }
      const draft = store.drafts.get(u.id);
      if (draft) store.drafts.set(u.id, { ...draft, username: u.username, full_name: fullName });
      if (store.me && u.id === store.me.id) {
        // Ourselves, changed on another device (or this one: same values again).
        store.me = { ...store.me, username: u.username, full_name: fullName };
        session.setUser(store.me);
      }
    }
    store.notify('rooms', 'current', 'members', 'messages', 'typing', 'presence', 'me');
  }

  return chat.on('frame', (f) => {
    switch (f.type) {
      case 'room_changed':
        roomChanged(f);
        break;
      case 'user_updated':
        userUpdated(f);
        break;
      case 'sync_complete': {
        // Who joined or left while we were away: the open group's members again.
        const c = store.current;
        const room = c?.type === 'room' ? store.rooms.get(c.id) : null;
        if (room && room.room_type === 'group' && !room.removed && store.members.has(c.id)) chat.loadMembers(c.id).catch(() => {});
        break;
      }
      default:
        break;
    }
  });
}

/** The system lines of a room, oldest first (see conversation.js). */
export function noticesOf(store, roomId) {
  return store.notices.get(roomId) || [];
}

/** "A", "A and B", "A, B and C". */
function joinNames(names) {
  if (names.length <= 1) return names[0] || '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
