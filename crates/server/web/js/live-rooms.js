// live-rooms.js — groups and people changing while you look at them. Listens to the session's
// WebSocket frames (chat.on('frame')):
// - `room_changed` (someone was added, left, was removed; the group was renamed; its creator
//   deleted their account and it has a new owner): the group's name, owner and member count are
//   updated at once (header, sidebar, the members dialog and the controls only the owner has),
//   its member list too, and the frame's `notice` becomes a system line in its timeline;
// - `user_updated` (someone changed their name, or deleted their account): their name is updated
//   wherever it shows; a deleted account becomes "Deleted User", offline for good, and a DM with
//   it is read-only (see conversation.js);
// - `sync_complete` after a reconnect: the open group's members and notices are fetched again
//   (the room list, fetched again by chat.js, has the rest).
// System lines are the server's notices (GET /rooms/{id}/notices): the newest page is fetched
// when a group is opened, older pages as history is paged back past them; each is placed after
// the newest message the room had when it happened (`after_seq`). Their text is made when shown,
// from the names people have now (noticeText).

import { session } from './session.js';
import { DELETED_USER, personName } from './people.js';

const NOTICES_PAGE = 100;
const MAX_NOTICES_PER_ROOM = 1000;

/**
 * @param {{store: import('./state.js').Store, chat: import('./chat.js').Chat}} deps
 * @returns {() => void} stops listening
 */
export function installLiveRooms({ store, chat }) {
  /** room_id -> {complete: no older notices exist, loading, stale: fetch again when opened} */
  const loaded = new Map();
  /** room_id -> the newest notice id whose group state (name, owner, member count) is applied */
  const newestApplied = new Map();

  /** Notices (the server's, as from GET /rooms/{id}/notices) join the room's list, once each. */
  function keepNotices(roomId, list) {
    const known = store.notices.get(roomId) || [];
    const byId = new Map(known.map((n) => [n.id, n]));
    for (const n of list) if (n && typeof n.id === 'number' && typeof n.after_seq === 'number') byId.set(n.id, n);
    const all = [...byId.values()].sort((a, b) => a.id - b.id);
    store.notices.set(roomId, all.slice(-MAX_NOTICES_PER_ROOM));
  }

  /** Fetch the newest page of a group's notices (or, `older`, the page before those held). */
  async function loadNotices(roomId, { older = false } = {}) {
    const state = loaded.get(roomId) || { complete: false, loading: false, stale: false };
    if (state.loading) return;
    const held = store.notices.get(roomId) || [];
    const before = older && held.length ? held[0].id : undefined;
    state.loading = true;
    loaded.set(roomId, state);
    try {
      const list = await chat.api.roomNotices(roomId, { before, limit: NOTICES_PAGE });
      if (!Array.isArray(list) || !store.rooms.has(roomId)) return;
      const newestHeld = held.length ? held[held.length - 1].id : null;
      if (!older && newestHeld !== null && list.length >= NOTICES_PAGE && list[0]?.id > newestHeld) {
        // A page or more happened since (while we were away): what is held may not join up with
        // it. Start again from this page; older ones are paged in as before.
        store.notices.set(roomId, []);
        state.complete = false;
      }
      const count = (store.notices.get(roomId) || []).length;
      keepNotices(roomId, list);
      if (older || newestHeld === null) state.complete = list.length < NOTICES_PAGE;
      // An older page that brought nothing new (never expected): ask no more.
      if (older && (store.notices.get(roomId) || []).length === count) state.complete = true;
      // As many as a room keeps: older ones are not shown.
      if ((store.notices.get(roomId) || []).length >= MAX_NOTICES_PER_ROOM) state.complete = true;
      state.stale = false;
      store.notify('messages');
    } catch {
      // Not shown: the timeline works without its system lines, and the next open tries again.
      state.stale = true;
    } finally {
      state.loading = false;
    }
  }

  /** The open group's notices: fetched once per open (again after a reconnect), and older pages
   *  while the history held reaches back as far as they do (older notices would show). */
  function followCurrent() {
    const c = store.current;
    const room = c?.type === 'room' ? store.rooms.get(c.id) : null;
    if (!room || room.room_type !== 'group' || room.removed) return;
    const state = loaded.get(c.id);
    // Never fetched, fetched again after a reconnect, or forgotten since (left, or a new session).
    if (!state || (!state.loading && (state.stale || !store.notices.has(c.id)))) {
      loadNotices(c.id);
      return;
    }
    const held = store.notices.get(c.id) || [];
    const rm = store.messages.get(c.id);
    const reachesBack = rm && rm.historyLoaded && (!rm.hasOlder || (rm.size > 0 && rm.minSeq() <= held[0]?.after_seq));
    if (!state.complete && !state.loading && held.length && reachesBack) {
      loadNotices(c.id, { older: true });
    }
  }

  function roomChanged(f) {
    const room = store.rooms.get(f.room_id);
    // A group we are not in (any more), or not known yet: `room_added` brings its summary.
    if (!room || room.removed || room.room_type !== 'group') {
      if (!room) chat.reloadRooms().catch(() => {});
      return;
    }
    const users = Array.isArray(f.users) ? f.users.filter((u) => typeof u?.id === 'number') : [];
    const a = f.actor && typeof f.actor.id === 'number' ? f.actor : null;
    for (const u of users) if (u.username !== DELETED_USER) store.learnPerson(u);
    if (a && a.username !== DELETED_USER) store.learnPerson(a);

    // The group as it is after this change: changes to one group are committed one at a time,
    // in notice id order, and each frame reads the group after its own commit — so a frame with
    // an older notice than one applied already (frames can cross, e.g. from two nodes) would
    // take the group back in time: its notice is kept, its state is not (nor its change to the
    // member list: that list is fetched again instead).
    const noticeId = typeof f.notice?.id === 'number' ? f.notice.id : null;
    const newest = newestApplied.get(f.room_id) ?? -Infinity;
    const fresh = noticeId === null || noticeId > newest;
    if (fresh) {
      if (noticeId !== null) newestApplied.set(f.room_id, noticeId);
      store.groupChanges.set(f.room_id, (store.groupChanges.get(f.room_id) || 0) + 1);
      if (typeof f.name === 'string' && f.name) room.name = f.name;
      if ('created_by' in f) room.created_by = f.created_by;
      if (typeof f.member_count === 'number') room.member_count = f.member_count;
    }

    const ids = store.members.get(f.room_id);
    if (ids && !fresh) chat.loadMembers(f.room_id).catch(() => {});
    else if (ids) {
      let next = ids;
      if (f.change === 'members_added') next = [...ids, ...users.map((u) => u.id).filter((id) => !ids.includes(id))];
      else if (f.change === 'member_left' || f.change === 'member_removed') {
        const gone = new Set(users.map((u) => u.id));
        next = ids.filter((id) => !gone.has(id));
      }
      store.members.set(f.room_id, next);
    }

    if (f.notice && f.notice.room_id === f.room_id) keepNotices(f.room_id, [f.notice]);
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

  const unsubscribe = store.subscribe((topics) => {
    if (topics.has('current') || topics.has('messages') || topics.has('rooms') || topics.has('all')) followCurrent();
  });
  const unlisten = chat.on('frame', (f) => {
    switch (f.type) {
      case 'room_changed':
        roomChanged(f);
        break;
      case 'user_updated':
        userUpdated(f);
        break;
      case 'sync_complete': {
        // What happened while we were away: every group's notices are fetched again when next
        // opened, the open group's members and notices now.
        for (const state of loaded.values()) state.stale = true;
        const c = store.current;
        const room = c?.type === 'room' ? store.rooms.get(c.id) : null;
        if (room && room.room_type === 'group' && !room.removed && store.members.has(c.id)) chat.loadMembers(c.id).catch(() => {});
        followCurrent();
        break;
      }
      default:
        break;
    }
  });
  return () => {
    unsubscribe();
    unlisten();
  };
}

/** The system lines of a room, oldest first (see conversation.js). */
export function noticesOf(store, roomId) {
  return store.notices.get(roomId) || [];
}

/** What a notice says, with the names people have now ("you" for ourselves): "Carol added Dave
 *  and Erin", "Erin left", "Carol renamed the group to “Trip”", "You are now the owner of this
 *  group". Empty for a change this client does not know. */
export function noticeText(store, n) {
  const who = (u) => {
    if (!u || typeof u.id !== 'number') return null;
    if (store.me && u.id === store.me.id) return 'you';
    if (u.username === DELETED_USER) return DELETED_USER;
    return personName(store, u.id, (u.full_name && u.full_name.trim()) || u.username);
  };
  const users = Array.isArray(n.users) ? n.users : [];
  const names = joinNames(users.map(who).filter(Boolean));
  const actor = who(n.actor);
  let text = '';
  switch (n.change) {
    case 'members_added':
      text = actor ? `${actor} added ${names}` : `${names} joined`;
      break;
    case 'member_left':
      // Nobody made them leave: their account was deleted.
      text = n.actor_id == null ? `${names || 'A member'} left (account deleted)` : `${names} left`;
      break;
    case 'member_removed':
      text = actor ? `${actor} removed ${names}` : `${names} ${users.length === 1 ? 'was' : 'were'} removed`;
      break;
    case 'renamed': {
      const name = typeof n.name === 'string' ? n.name : '';
      text = actor ? `${actor} renamed the group to “${name}”` : `The group was renamed to “${name}”`;
      break;
    }
    case 'owner_changed':
      if (users[0]) text = users[0].id === store.me?.id ? 'You are now the owner of this group' : `${names} is now the owner of this group`;
      break;
    default:
      break;
  }
  return text ? text[0].toUpperCase() + text.slice(1) : '';
}

/** "A", "A and B", "A, B and C". */
function joinNames(names) {
  if (names.length <= 1) return names[0] || '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
