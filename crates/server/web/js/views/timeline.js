// views/timeline.js — what the history shows about a message beyond its text, worked out from
// the store: its reactions with the names of who reacted, the quote of the message it replies
// to (as that message is now, when we hold it), and where "Seen" / "Seen by …" goes.

import { messageSummary } from '../attachments.js';
import { senderLabel } from '../people.js';

const SEEN_NAMES = 3; // "Seen by A, B, C and 2 others"

/** Reactions with the names of who reacted, for tooltips ("Alice, Bob and you"). */
export function reactionsOf(store, m) {
  return (m.reactions || []).map((r) => {
    const ids = Array.isArray(r.user_ids) ? r.user_ids : [];
    const others = ids.filter((id) => id !== store.me?.id).map((id) => store.nameOf(id));
    if (r.me) others.push('you');
    const unnamed = Math.max(0, (r.count || 0) - others.length);
    if (unnamed) others.push(`${unnamed} ${unnamed === 1 ? 'other' : 'others'}`);
    return { emoji: r.emoji, count: r.count || ids.length, me: Boolean(r.me), names: joinNames(others) };
  });
}

/** What a reply's quote shows: the original as we hold it now, else the server's preview. */
export function quoteOf(store, conv, preview) {
  if (!preview || typeof preview.id !== 'number') return null;
  // The original as we know it now: held, or changed by a frame since the reply was fetched.
  const original =
    conv.type === 'room'
      ? store.message(conv.id, preview.id) || store.messages.get(conv.id)?.updates.get(preview.id) || null
      : null;
  const deleted = original ? Boolean(original.deleted_at) : Boolean(preview.deleted);
  const senderId = original ? original.sender_id : preview.sender_id;
  let sender;
  if (senderId != null && senderId === store.me?.id) sender = 'You';
  else if (original) sender = senderLabel(store, original);
  else sender = senderLabel(store, { sender_id: senderId ?? null, sender_username: preview.sender_username, sender_full_name: preview.sender_full_name });
  // A message of files alone: what it carries ("📎 cat.png"), or that it carries something.
  const text = (original ? messageSummary(original) : preview.content || '📎 Attachment').replace(/\s+/g, ' ').trim();
  return { id: preview.id, sender, text: Array.from(text).slice(0, 200).join(''), deleted };
}

/**
 * Where "Seen" goes: message id -> {text, title}. In a DM, "Seen" under our newest message
 * once the other person has read it (and has not written since). In a group, each other
 * member under the newest message they have read (not one of their own), "Seen by …".
 */
export function seenMarkers(store, conv, messages) {
  const out = new Map();
  if (conv.type !== 'room' || !messages.length) return out;
  const room = store.rooms.get(conv.id);
  const reads = store.reads.get(conv.id);
  if (!room || room.removed || !reads || !store.me) return out;
  if (room.room_type === 'direct') {
    const other = room.other_user?.id;
    const pos = reads.get(other) || 0;
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i];
      if (m.sender_id === other) break; // they wrote since: "Seen" says nothing new
      if (!store.isMine(m)) continue;
      if (pos >= m.seq) out.set(m.id, { text: 'Seen', title: `Seen by ${store.nameOf(other)}` });
      break;
    }
    return out;
  }
  const byMessage = new Map();
  for (const [userId, pos] of reads) {
    if (userId === store.me.id || !pos) continue;
    let target = null;
    for (let i = messages.length - 1; i >= 0; i--) {
      if (messages[i].seq <= pos) {
        target = messages[i];
        break;
      }
    }
    if (!target || target.sender_id === userId) continue;
    if (!byMessage.has(target.id)) byMessage.set(target.id, []);
    byMessage.get(target.id).push(userId);
  }
  for (const [id, userIds] of byMessage) {
    const full = userIds.map((u) => store.nameOf(u)).sort((a, b) => a.localeCompare(b));
    const short = full.map((n) => n.split(/\s+/)[0]);
    const shown = short.length > SEEN_NAMES + 1 ? [...short.slice(0, SEEN_NAMES), `${short.length - SEEN_NAMES} others`] : short;
    out.set(id, { text: `Seen by ${joinNames(shown)}`, title: `Seen by ${joinNames(full)}` });
  }
  return out;
}

/** "A", "A and B", "A, B and C". */
export function joinNames(names) {
  if (names.length <= 1) return names[0] || '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
