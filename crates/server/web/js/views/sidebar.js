// views/sidebar.js — the conversation list: DMs and groups together, newest activity first,
// each with its name, last message preview, time, unread badge, an "@" badge when unread
// messages mention us, a muted bell for muted rooms and (for DMs) online dot. Also the search
// box (it opens the search panel), the user's menu (with our own presence: online only while
// connected) and the "new message" / "new group" buttons, and the unread total in the tab's
// title. Re-renders from the store.

import { h, replaceChildren } from '../dom.js';
import { displayName, parseTime, shortWhen } from '../util.js';
import { avatar } from './avatar.js';
import { icon } from './icons.js';
import { messageSummary } from '../attachments.js';
import { roomTitle, senderLabel } from '../people.js';

/**
 * @param {HTMLElement} root
 * @param {{store: import('../state.js').Store, onNewDm: () => void, onNewGroup: () => void,
 *          onSettings: () => void, onSearch: () => void}} deps
 */
export function mountSidebar(root, { store, onNewDm, onNewGroup, onSettings, onSearch }) {
  const meName = h('span.me-name', { dataset: { testid: 'me-name' } });
  const mePresence = h('span.visually-hidden');
  const meAvatar = h('span.me-avatar');
  const settingsBtn = h(
    'button.me-button',
    { type: 'button', dataset: { testid: 'open-settings' }, 'aria-label': 'Account and settings' },
    meAvatar,
    meName,
    mePresence,
    h('span.me-gear', { 'aria-hidden': 'true', text: '⚙' }),
  );
  const header = h(
    'header.sidebar-header',
    {},
    h('div.brand.brand-small', {}, h('span.brand-mark', { 'aria-hidden': 'true', text: 'B' }), h('h1', { text: 'Banter' })),
    settingsBtn,
  );
  // Looks like a search box; opens the search panel (as do Ctrl+K / ⌘K and "/").
  const mac = /Mac|iPhone|iPad/.test(navigator.userAgent);
  const searchBtn = h(
    'button.search-launcher',
    {
      type: 'button',
      dataset: { testid: 'open-search' },
      'aria-keyshortcuts': mac ? 'Meta+K /' : 'Control+K /',
      on: { click: onSearch },
    },
    h('span.search-launcher-icon', { 'aria-hidden': 'true' }, icon('search')),
    h('span.search-launcher-text', { text: 'Search messages' }),
    h('kbd.search-launcher-key', { 'aria-hidden': 'true', text: mac ? '⌘K' : 'Ctrl K' }),
  );
  const actions = h(
    'div.sidebar-actions',
    {},
    h('button.button.primary', { type: 'button', dataset: { testid: 'new-dm' }, on: { click: onNewDm } }, 'New message'),
    h('button.button', { type: 'button', dataset: { testid: 'new-group' }, on: { click: onNewGroup } }, 'New group'),
  );
  settingsBtn.addEventListener('click', onSettings);
  const list = h('ul.room-list', { dataset: { testid: 'room-list' }, 'aria-label': 'Conversations' });
  const empty = h('p.sidebar-empty', {
    dataset: { testid: 'rooms-empty' },
    text: 'No conversations yet. Start one with “New message” or “New group”.',
  });
  const nav = h('nav.sidebar-nav', { 'aria-label': 'Conversations' }, list, empty);
  replaceChildren(root, header, h('div.sidebar-search', {}, searchBtn), actions, nav);

  function preview(room) {
    if (room.removed) return 'You are no longer a member';
    const m = room.last_message;
    if (!m) return room.room_type === 'group' ? 'No messages yet' : 'Say hello';
    const text = m.deleted_at ? 'Message deleted' : messageSummary(m);
    if (store.isMine(m)) return `You: ${text}`;
    if (room.room_type === 'group') return `${senderLabel(store, m)}: ${text}`;
    return text;
  }

  function item({ key, href, name, group, online, when, previewText, unread, mentions = 0, muted = false, active, removed, dataset }) {
    // aria-label on a plain span is not read out: the count is said in hidden text instead.
    const mentionBadge =
      mentions > 0
        ? [
            h('span.mention-badge', { dataset: { testid: 'mention-badge' }, 'aria-hidden': 'true', title: 'You were mentioned', text: '@' }),
            h('span.visually-hidden', { text: `, ${mentions} mention${mentions === 1 ? '' : 's'} of you` }),
          ]
        : null;
    const badge =
      unread > 0
        ? [
            h('span.unread-badge', {
              dataset: { testid: 'unread-badge' },
              'aria-hidden': 'true',
              text: unread > 99 ? '99+' : String(unread),
            }),
            h('span.visually-hidden', { text: `, ${unread} unread message${unread === 1 ? '' : 's'}` }),
          ]
        : null;
    const mutedMark = muted
      ? [
          h('span.room-muted', { dataset: { testid: 'muted-icon' }, title: 'Muted', 'aria-hidden': 'true' }, icon('bell-off')),
          h('span.visually-hidden', { text: ' (muted)' }),
        ]
      : null;
    const link = h(
      `a.room-item${active ? '.active' : ''}${removed ? '.removed' : ''}${unread > 0 ? '.has-unread' : ''}${muted ? '.muted' : ''}`,
      { href, dataset: { testid: 'room-item', key, ...dataset }, 'aria-current': active ? 'page' : undefined },
      avatar(name, { group, online }),
      h(
        'span.room-text',
        {},
        h(
          'span.room-line',
          {},
          h('span.room-name', { dataset: { testid: 'room-name' }, text: name }),
          online === true ? h('span.visually-hidden', { text: ' (online)' }) : null,
          mutedMark,
          h('span.room-time', { text: when }),
        ),
        h('span.room-line', {}, h('span.room-preview', { dataset: { testid: 'room-preview' }, text: previewText }), mentionBadge, badge),
      ),
    );
    return h('li', {}, link);
  }

  function render() {
    const me = store.me;
    meName.textContent = me ? displayName(me) : '';
    // Our own presence is what others see: online only while our socket is connected.
    const online = store.connection === 'online';
    replaceChildren(meAvatar, me ? avatar(displayName(me), { online }) : null);
    mePresence.textContent = online ? ' (online)' : ' (offline)';
    settingsBtn.title = me ? `Signed in as ${me.username}${online ? '' : ' (offline: not connected)'}` : '';
    const focusedKey = document.activeElement?.closest?.('.room-item')?.dataset.key;
    const cur = store.current;
    const items = [];
    // New conversations: the one open, and any holding a message not sent yet (written
    // offline, and maybe restored after a reload: outbox.js).
    const unsentTo = new Set([...store.pending.values()].filter((p) => p.room_id == null && p.status === 'failed').map((p) => p.recipient_id));
    for (const u of store.drafts.values()) {
      const open = cur?.type === 'draft' && cur.userId === u.id;
      if (open || unsentTo.has(u.id)) {
        items.push(
          item({
            key: `u${u.id}`,
            href: `#/user/${Number(u.id)}`,
            name: displayName(u),
            group: false,
            online: store.presenceOf(u.id),
            when: '',
            previewText: unsentTo.has(u.id) ? 'Not sent yet' : 'New conversation',
            unread: 0,
            active: open,
            dataset: { draftUser: u.id },
          }),
        );
      }
    }
    for (const room of store.sortedRooms()) {
      const isGroup = room.room_type === 'group';
      const name = roomTitle(room);
      const t = parseTime(room.last_message_time || room.last_message?.created_at);
      items.push(
        item({
          key: `r${room.room_id}`,
          href: `#/room/${Number(room.room_id)}`,
          name: name || 'Deleted User',
          group: isGroup,
          online: isGroup || !room.other_user ? null : store.presenceOf(room.other_user.id),
          when: t ? shortWhen(t) : '',
          previewText: preview(room),
          unread: room.removed ? 0 : room.unread_count || 0,
          mentions: room.removed ? 0 : room.mention_count || 0,
          muted: Boolean(room.muted) && !room.removed,
          active: cur?.type === 'room' && cur.id === room.room_id,
          removed: room.removed,
          dataset: { roomId: room.room_id, roomType: room.room_type },
        }),
      );
    }
    replaceChildren(list, items);
    empty.hidden = items.length > 0 || !store.roomsLoaded;
    // Keep keyboard focus on the same conversation (matched by value, not a built selector).
    if (focusedKey) [...list.querySelectorAll('.room-item')].find((a) => a.dataset.key === focusedKey)?.focus();
    const unread = [...store.rooms.values()].reduce((n, r) => n + (r.removed ? 0 : r.unread_count || 0), 0);
    document.title = unread ? `(${unread}) Banter` : 'Banter';
  }

  const watched = ['rooms', 'presence', 'current', 'me', 'connection', 'all'];
  store.subscribe((topics) => {
    if (watched.some((t) => topics.has(t))) render();
  });
  render();
}
