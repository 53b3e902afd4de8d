// people.js — the names shown for people and conversations, worked out the same way
// everywhere (header, sidebar, message senders, typing): a person's current name comes from
// what the store learned last (room summaries, group members, `user_updated` frames), so a
// profile change shows at once; a deleted account is "Deleted User" wherever it appears.

import { displayName } from './util.js';

export const DELETED_USER = 'Deleted User';

/** A DM whose other person deleted their account (the server then sends `other_user: null`). */
export function isDeletedDm(room) {
  return Boolean(room && room.room_type === 'direct' && !room.other_user);
}

/** A conversation's name: the group's name, or the other person's (full) name in a DM. */
export function roomTitle(room) {
  if (!room) return '';
  if (room.room_type === 'group') return room.name || 'Group';
  return room.other_user ? displayName(room.other_user) : DELETED_USER;
}

/** Someone we know nothing about yet (never "Deleted User": an unknown id is not a deleted one). */
export const SOMEONE = 'Someone';

/** A person's name by id, as known now: full name, else username; `fallback` (else "Someone")
 *  if unknown. */
export function personName(store, userId, fallback) {
  const p = typeof userId === 'number' ? store.people.get(userId) : null;
  if (p) return (p.full_name && p.full_name.trim()) || p.username || fallback || SOMEONE;
  return fallback || SOMEONE;
}

/** Who sent a message, as known now (a sender who renamed themselves since shows the new name). */
export function senderLabel(store, m) {
  if (m.sender_id == null) return m.sender_username || DELETED_USER;
  return personName(store, m.sender_id, (m.sender_full_name && m.sender_full_name.trim()) || m.sender_username);
}
