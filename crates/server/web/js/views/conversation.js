// views/conversation.js — one open conversation: header (name, online status or member
// count, the mute button), the message history with day separators, sender names and times,
// own messages set apart, pending and failed messages (with Retry), edits, deletions,
// reactions, replies and mentions (see message.js), "Seen" / "Seen by …" under the newest
// messages people have read, older pages loaded on scrolling up (or to show the message a
// reply quotes, or a search result), the typing indicator, and the composer (see
// composer.js). Files dropped anywhere on the conversation go to the composer's uploads.
// Opening a room with unread messages shows "New messages" above the first and starts there;
// scrolled up, "jump to latest" says how many wait below; messages are read once they have
// been on screen (see history.js).
// A group's system lines (who joined, left, was removed; renames: live-rooms.js) sit between its
// messages; a DM whose other person deleted their account is read-only.

import { h, replaceChildren } from '../dom.js';
import { dayKey, dayLabel, displayName, parseTime } from '../util.js';
import { avatar } from './avatar.js';
import { createComposer } from './composer.js';
import { confirmDelete, messageItem, seenItem } from './message.js';
import { quoteOf, reactionsOf, seenMarkers } from './timeline.js';
import { closePopover, openEmojiPicker, openMenu } from './popover.js';
import { icon } from './icons.js';
import { toast } from './toast.js';
import { muteButton } from './notifications.js';
import { dropZone } from './attachments.js';
import { jumpToLatest, loadOlderOnScroll, moreUnreadLine, trackOnScreen, unreadSeparator } from './history.js';
import { isDeletedDm, roomTitle, senderLabel } from '../people.js';
import { noticeText, noticesOf } from '../live-rooms.js';
import { noticeLine } from './system-line.js';

const RUN_GAP_MS = 5 * 60 * 1000; // messages closer than this from one sender form a run
const FLASH_MS = 2000; // how long the message a reply quotes stays highlighted after a jump
const JUMP_WAIT_MS = 20000; // a search result's room that has not opened by then is given up

/**
 * @param {HTMLElement} root
 * @param {{store: import('../state.js').Store, chat: import('../chat.js').Chat,
 *          onMembers: (roomId: number) => void, onBack: () => void,
 *          onMute: (roomId: number, muted: boolean) => void}} deps
 * @returns {{showMessage: (roomId: number, messageId: number) => void}}
 */
export function mountConversation(root, { store, chat, onMembers, onBack, onMute }) {
  let convKey = undefined;
  let ui = null; // the elements of the open conversation
  const drafts = new Map(); // unsent composer text per conversation, of draftsOwner only
  let draftsOwner = null;
  const itemEls = new Map();
  let flash = null; // {id, timer}: the message just jumped to, highlighted for a moment
  let pendingJump = null; // {roomId, id, until}: show this message once its room is open
  let reading = null; // which messages of the open room are on screen (history.js)
  let jump = null; // the "jump to latest" button of the open conversation
  // Where "New messages" goes: above the first message after `from` (the read position when
  // the room was opened, if it had unread messages); `placed` once the view opened there.
  let unread = null;

  function keyOf(conv) {
    if (!conv) return null;
    return conv.type === 'room' ? `r${conv.id}` : `u${conv.userId}`;
  }

  function stopReading() {
    reading?.disconnect();
    reading = null;
    chat.readSource = null;
  }

  function buildEmpty() {
    ui = null;
    stopReading();
    itemEls.clear();
    closePopover();
    replaceChildren(
      root,
      h(
        'div.conversation-empty',
        { dataset: { testid: 'no-conversation' } },
        h('p.empty-title', { text: 'No conversation selected' }),
        h('p', { text: 'Pick a conversation on the left, or start a new one.' }),
      ),
    );
  }

  function buildSkeleton(conv) {
    itemEls.clear();
    closePopover();
    clearTimeout(flash?.timer);
    flash = null;
    const back = h('button.icon-button.back-button', {
      type: 'button',
      'aria-label': 'Back to conversations',
      title: 'Back',
      dataset: { testid: 'back' },
      text: '←',
      on: { click: onBack },
    });
    const avatarSlot = h('span.header-avatar');
    const title = h('h2.conversation-title', { dataset: { testid: 'conversation-title' }, id: 'conversation-title' });
    const status = h('p.conversation-status', { dataset: { testid: 'conversation-status' } });
    const membersBtn = h('button.button.small', {
      type: 'button',
      dataset: { testid: 'open-members' },
      text: 'Members',
      hidden: true,
      on: { click: () => conv.type === 'room' && onMembers(conv.id) },
    });
    const mute = muteButton({
      onToggle: () => {
        if (conv.type === 'room') onMute(conv.id, !store.rooms.get(conv.id)?.muted);
      },
    });
    const header = h(
      'header.conversation-header',
      {},
      back,
      avatarSlot,
      h('div.conversation-heading', {}, title, status),
      mute.el,
      membersBtn,
    );

    const olderBtn = h('button.button.small', {
      type: 'button',
      dataset: { testid: 'load-older' },
      text: 'Load older messages',
      on: {
        click: () => {
          if (conv.type !== 'room') return;
          const rm = store.roomMessages(conv.id);
          if (rm.loadError && !rm.historyLoaded) chat.openRoom(conv.id);
          else chat.loadOlder(conv.id, { force: true });
        },
      },
    });
    const historyNote = h('p.history-note', { dataset: { testid: 'history-note' } });
    const historyTop = h('div.history-top', {}, olderBtn, historyNote);
    const list = h('ol.message-items', { dataset: { testid: 'message-items' } });
    const emptyNote = h('p.messages-empty', { dataset: { testid: 'messages-empty' }, hidden: true });
    const scroller = h(
      'div.messages',
      {
        role: 'log',
        'aria-label': 'Messages',
        'aria-live': 'polite',
        tabIndex: 0,
        dataset: { testid: 'message-list' },
      },
      historyTop,
      emptyNote,
      list,
    );
    const older = loadOlderOnScroll(scroller, {
      canLoad: () => {
        if (conv.type !== 'room') return false;
        const rm = store.roomMessages(conv.id);
        return rm.historyLoaded && rm.hasOlder && !rm.loadingOlder && !rm.olderError;
      },
      load: () => chat.loadOlder(conv.id),
    });
    const toLatest = jumpToLatest(scroller, {
      unreadBelow: () => unreadBelow(conv),
      onJump: () => {
        const hadFocus = toLatest.button.contains(document.activeElement);
        scroller.scrollTop = scroller.scrollHeight;
        if (hadFocus) scroller.focus({ preventScroll: true }); // the button hides at the bottom
      },
    });
    jump = toLatest;
    scroller.appendChild(toLatest.el);
    stopReading();
    unread = { captured: false, from: null, placed: false };
    if (conv.type === 'room') {
      const tracker = trackOnScreen(scroller, { onChange: () => chat.scheduleMarkRead() });
      reading = tracker;
      chat.readSource = (roomId) => (reading === tracker && roomId === conv.id ? tracker.highest() : 0);
    }

    const typing = h('div.typing-indicator', { dataset: { testid: 'typing-indicator' }, 'aria-live': 'polite' });
    const notMember = h(
      'div.not-member',
      { dataset: { testid: 'not-member' }, role: 'status', hidden: true },
      h('p', { text: 'You are no longer a member of this group.' }),
      h('button.button.small', {
        type: 'button',
        dataset: { testid: 'dismiss-room' },
        text: 'Remove from list',
        on: { click: () => conv.type === 'room' && chat.dismissRoom(conv.id) },
      }),
    );

    // A DM whose other person deleted their account: readable, not answerable.
    const readOnly = h(
      'div.not-member.read-only',
      { dataset: { testid: 'read-only' }, role: 'status', hidden: true },
      h('p', { text: 'This account was deleted. You can read the conversation but not reply.' }),
    );

    const composer = createComposer({
      store,
      chat,
      conv,
      drafts,
      draftKey: keyOf(conv),
      onSent: () => {
        stickToBottom = true;
      },
      onModeChange: () => {
        if (ui?.conv === conv) renderMessages(false);
      },
    });

    const pane = h(
      'section.conversation-pane',
      { 'aria-labelledby': 'conversation-title', dataset: { testid: 'conversation' } },
      header,
      scroller,
      typing,
      notMember,
      readOnly,
      composer.el,
    );
    dropZone(pane, { accepts: () => !composer.el.hidden, onFiles: (files) => composer.addFiles(files) });
    replaceChildren(root, pane);
    ui = { conv, older, avatarSlot, title, status, membersBtn, mute, olderBtn, historyNote, historyTop, list, scroller, emptyNote, typing, notMember, readOnly, composer, input: composer.input };
    if (window.matchMedia('(min-width: 721px)').matches) composer.input.focus({ preventScroll: true });
  }

  let stickToBottom = false;

  function renderHeader() {
    const { conv } = ui;
    let name = '';
    let statusText = '';
    let online = null;
    let group = false;
    if (conv.type === 'room') {
      const room = store.rooms.get(conv.id);
      if (!room) return;
      group = room.room_type === 'group';
      if (group) {
        name = room.name;
        const n = room.member_count || 0;
        statusText = room.removed ? 'You are no longer a member' : `${n} member${n === 1 ? '' : 's'}`;
      } else if (room.other_user) {
        name = displayName(room.other_user);
        online = store.presenceOf(room.other_user.id);
        statusText = presenceText(online, store.connection);
      } else {
        name = roomTitle(room);
        statusText = 'This account was deleted';
      }
      ui.membersBtn.hidden = !group || room.removed;
      ui.mute.update(Boolean(room.muted), Boolean(room.removed));
      if (room.muted && !room.removed) statusText += ' · Muted';
      ui.notMember.hidden = !room.removed;
      const readOnly = !room.removed && isDeletedDm(room);
      ui.readOnly.hidden = !readOnly;
      ui.composer.el.hidden = Boolean(room.removed) || readOnly;
    } else {
      const u = store.drafts.get(conv.userId);
      name = u ? displayName(u) : '…';
      online = store.presenceOf(conv.userId);
      statusText = `${presenceText(online, store.connection)} · New conversation`;
      ui.membersBtn.hidden = true;
      ui.mute.update(false, true);
      ui.notMember.hidden = true;
      ui.readOnly.hidden = true;
      ui.composer.el.hidden = false;
    }
    ui.title.textContent = name;
    ui.status.textContent = statusText;
    ui.status.dataset.online = online === null ? '' : String(online);
    replaceChildren(ui.avatarSlot, avatar(name, { group, online }));
    ui.composer.setPlaceholder(name.length <= 20 ? `Message ${name}` : 'Write a message…');
  }

  function entriesFor(conv) {
    const entries = [];
    const messages = conv.type === 'room' ? store.roomMessages(conv.id).sorted() : [];
    const pending = store.pendingFor(conv);
    const room = conv.type === 'room' ? store.rooms.get(conv.id) : null;
    const isGroup = room?.room_type === 'group';
    const live = Boolean(room && !room.removed);
    const creator = isGroup && room.created_by != null && room.created_by === store.me?.id;
    const seen = seenMarkers(store, conv, messages);
    const meId = store.me?.id;
    let prev = null; // {senderKey, time, day}
    const push = (item) => {
      const t = item.time;
      const day = dayKey(t);
      if (!prev || prev.day !== day) {
        entries.push({ key: `d:${day}`, sig: `day|${dayLabel(t)}`, build: () => daySeparator(t) });
        prev = null;
      }
      // "New messages" right above the message (below its day's separator, if any).
      if (item.separateBefore) {
        entries.push({ key: 'unread', sig: 'unread', build: () => unreadSeparator() });
        if (prev) prev = { ...prev, senderKey: Symbol('after the separator') }; // names shown again
      }
      const continued = Boolean(prev && prev.senderKey === item.senderKey && t - prev.time < RUN_GAP_MS);
      const full = { ...item, continued, showName: !item.own && !continued, isGroup };
      entries.push({
        key: item.key,
        sig: JSON.stringify([
          item.status,
          continued,
          item.error || '',
          item.content,
          item.deleted,
          item.editedAt?.getTime() || 0,
          item.reactions,
          item.quote,
          item.actionable,
          item.editing,
          item.replying,
          item.flash,
          item.mentioned?.map((p) => `${p.id}:${p.username}`),
          item.mentionsMe,
          item.attachments?.map((a) => a.id),
          item.senderName,
          item.canDelete,
        ]),
        build: () => messageItem(full, actions),
      });
      prev = { senderKey: item.senderKey, time: t, day };
    };
    // Only where it is true: the message before the first unread one is loaded too (or the
    // history starts there). With more unread than a page, it appears on paging back to it.
    const from = unread?.from;
    let separated = from == null || !messages.length || (messages[0].seq > from && store.roomMessages(conv.id).hasOlder);
    // More unread than the pages loaded: say how many wait above (never read unseen; chat.js).
    if (from != null && messages.length && messages[0].seq > from + 1 && store.roomMessages(conv.id).hasOlder) {
      const room = store.rooms.get(conv.id);
      const loaded = messages.filter((m) => m.seq > from && !m.deleted_at && !store.isMine(m)).length;
      const n = (room?.unread_count || 0) - loaded;
      if (n > 0) entries.push({ key: 'more-unread', sig: `more-unread|${n}`, build: () => moreUnreadLine(n, () => chat.loadOlder(conv.id)) });
    }
    // System lines (who joined, left, was removed; renames), after the newest message the room
    // had when they happened (see live-rooms.js). With older history not loaded yet, those
    // before the oldest message held wait until it is.
    const oldestHeld = messages.length && store.roomMessages(conv.id).hasOlder ? messages[0].seq : -Infinity;
    const notices = conv.type === 'room'
      ? noticesOf(store, conv.id)
          .filter((n) => n.after_seq >= oldestHeld)
          .map((n) => ({ id: n.id, afterSeq: n.after_seq, time: parseTime(n.created_at) || new Date(), text: noticeText(store, n) }))
          .filter((n) => n.text)
          .sort((a, b) => a.afterSeq - b.afterSeq || a.id - b.id)
      : [];
    let noticeAt = 0;
    const flushNotices = (seq) => {
      while (noticeAt < notices.length && notices[noticeAt].afterSeq < seq) {
        const n = notices[noticeAt++];
        const day = dayKey(n.time);
        if (!prev || prev.day !== day) entries.push({ key: `d:${day}`, sig: `day|${dayLabel(n.time)}`, build: () => daySeparator(n.time) });
        entries.push({ key: `n:${n.id}`, sig: `notice|${n.text}|${n.time.getTime()}`, build: () => noticeLine(n) });
        prev = { senderKey: Symbol('after a notice'), time: n.time, day }; // names shown again
      }
    };
    for (const m of messages) {
      flushNotices(m.seq);
      const own = store.isMine(m);
      let separateBefore = false;
      if (!separated && !own && !m.deleted_at && m.seq > from) {
        separated = true;
        separateBefore = true;
      }
      const deleted = Boolean(m.deleted_at);
      const sent = typeof m.id === 'number';
      // Whom it calls by name, as far as we know their usernames.
      const mentioned = deleted || !Array.isArray(m.mentions) ? [] : m.mentions.map((id) => mentionedPerson(id)).filter(Boolean);
      push({
        key: own && m.client_id ? `c:${m.client_id}` : `m:${m.id}`,
        separateBefore,
        id: m.id,
        seq: m.seq,
        clientId: m.client_id,
        own,
        senderKey: m.sender_id ?? `x${m.sender_username}`,
        senderName: senderLabel(store, m),
        content: m.content,
        time: parseTime(m.created_at) || new Date(),
        status: 'sent',
        deleted,
        editedAt: parseTime(m.edited_at),
        reactions: deleted ? [] : reactionsOf(store, m),
        quote: quoteOf(store, conv, m.reply_to),
        actionable: sent && live && !deleted,
        canEdit: own,
        canDelete: own || creator,
        editing: ui?.composer?.editingId === m.id,
        replying: ui?.composer?.replyingId === m.id,
        flash: flash?.id === m.id,
        mentioned,
        mentionsMe: !deleted && !own && store.mentionsMe(m),
        meId,
        attachments: deleted || !Array.isArray(m.attachments) ? [] : m.attachments,
      });
      const marker = seen.get(m.id);
      if (marker) entries.push({ key: `s:${m.id}`, sig: `seen|${marker.text}|${marker.title}|${own}`, build: () => seenItem({ ...marker, own }) });
    }
    flushNotices(Infinity);
    for (const p of pending) {
      push({
        key: `c:${p.client_id}`,
        clientId: p.client_id,
        own: true,
        senderKey: store.me?.id,
        senderName: 'You',
        content: p.content,
        time: new Date(Math.max(p.created_at, prev?.time?.getTime?.() || 0)),
        status: p.status,
        error: p.error,
        deleted: false,
        editedAt: null,
        reactions: [],
        quote: quoteOf(store, conv, p.reply_to),
        actionable: false,
        attachments: p.attachments || [],
      });
    }
    return entries;
  }

  function mentionedPerson(id) {
    if (store.me && id === store.me.id) return { id, username: store.me.username };
    const p = store.people.get(id);
    return p ? { id, username: p.username } : null;
  }

  function daySeparator(t) {
    return h(
      'li.day-separator',
      { role: 'separator', dataset: { testid: 'day-separator' } },
      h('span', { text: dayLabel(t) }),
    );
  }

  // ---- message actions --------------------------------------------------------------------

  /** @type {import('./message.js').MessageActions} */
  const actions = {
    onReact: (item, emoji) => {
      if (ui?.conv.type === 'room') chat.changes.toggleReaction(ui.conv.id, item.id, emoji);
    },
    onPicker: (anchor, item) => {
      const conv = ui?.conv;
      if (conv?.type !== 'room') return;
      openEmojiPicker(anchor, {
        mine: new Set(item.reactions.filter((r) => r.me).map((r) => r.emoji)),
        onPick: (emoji) => chat.changes.toggleReaction(conv.id, item.id, emoji),
        onClose: keepActionsShown(anchor),
      });
    },
    onMenu: (anchor, item) => {
      const conv = ui?.conv;
      if (conv?.type !== 'room') return;
      const onClose = keepActionsShown(anchor);
      const items = [
        { label: 'Reply', icon: icon('reply'), testid: 'menu-reply', onSelect: () => actions.onReply(item) },
        {
          label: 'Add reaction',
          icon: icon('react'),
          testid: 'menu-react',
          onSelect: () => {
            const again = anchorFor(item.id, 'message-menu-button');
            if (again) actions.onPicker(again, item);
          },
        },
      ];
      if (item.canEdit) items.push({ label: 'Edit', icon: icon('edit'), testid: 'menu-edit', onSelect: () => startEdit(item.id) });
      if (item.canDelete) {
        items.push({ label: 'Delete', icon: icon('trash'), testid: 'menu-delete', danger: true, onSelect: () => deleteWithConfirmation(conv.id, item) });
      }
      openMenu(anchor, { label: 'Message actions', items, onClose });
    },
    onReply: (item) => {
      const m = ui?.conv.type === 'room' ? store.message(ui.conv.id, item.id) : null;
      if (m) ui.composer.startReply(m);
    },
    onJump: (id) => jumpTo(id),
    onRetry: (clientId) => chat.retry(clientId),
    onDiscard: (clientId) => chat.discard(clientId),
    files: chat.files,
  };

  /** Keep a message's actions shown while a pop-up from them is open; returns what undoes
   *  that (unless they were shown already, by a tap). */
  function keepActionsShown(anchor) {
    const li = anchor.closest('.msg');
    if (!li || li.classList.contains('actions-open')) return undefined;
    li.classList.add('actions-open');
    return () => {
      const now = li.isConnected ? li : [...(ui?.list.children || [])].find((el) => el.dataset.messageId === li.dataset.messageId);
      now?.classList.remove('actions-open');
    };
  }

  /** A message's button (by its focus key), as rendered now. */
  function anchorFor(messageId, focusKey) {
    const li = [...(ui?.list.children || [])].find((el) => el.dataset.messageId === String(messageId));
    return [...(li?.querySelectorAll('[data-focus-key]') || [])].find((el) => el.dataset.focusKey === focusKey) || null;
  }

  function startEdit(id) {
    const m = ui?.conv.type === 'room' ? store.message(ui.conv.id, id) : null;
    if (m && !m.deleted_at) ui.composer.startEdit(m);
  }

  function deleteWithConfirmation(roomId, item) {
    confirmDelete({
      chat,
      roomId,
      item,
      // The message's own buttons are gone once it is deleted: continue from the composer.
      onDone: () => {
        if (ui && !document.activeElement?.closest?.('.msg')) ui.composer.input.focus({ preventScroll: true });
      },
    });
  }

  /**
   * Open a room at a message (a search result): once the room is open with its newest page
   * loaded, page back to the message and highlight it.
   */
  function showMessage(roomId, id) {
    pendingJump = { roomId, id, until: Date.now() + JUMP_WAIT_MS };
    takeJump();
  }

  function takeJump() {
    const j = pendingJump;
    if (!j) return;
    if (Date.now() > j.until) {
      pendingJump = null;
      return;
    }
    if (ui?.conv.type !== 'room' || ui.conv.id !== j.roomId) return;
    const rm = store.roomMessages(j.roomId);
    if (!rm.historyLoaded) return;
    pendingJump = null;
    jumpTo(j.id);
  }

  /** Show the message a reply quotes (paging back through history for it), highlighted. */
  async function jumpTo(id) {
    const conv = ui?.conv;
    if (conv?.type !== 'room') return;
    const found = await chat.changes.reveal(conv.id, id);
    if (ui?.conv !== conv) return;
    if (!found) {
      toast('That message could not be shown.');
      return;
    }
    clearTimeout(flash?.timer);
    flash = {
      id,
      timer: setTimeout(() => {
        flash = null;
        if (ui?.conv === conv) renderMessages(false);
      }, FLASH_MS),
    };
    renderMessages(false);
    const li = [...ui.list.children].find((el) => el.dataset.messageId === String(id));
    if (!li) return;
    li.scrollIntoView({ block: 'center' });
    li.focus({ preventScroll: true });
  }

  /** Messages of others below our read position (loaded ones): what "jump to latest" counts. */
  function unreadBelow(conv) {
    if (conv.type !== 'room') return 0;
    const room = store.rooms.get(conv.id);
    if (!room || room.removed) return 0;
    const from = room.last_read_seq || 0;
    let n = 0;
    for (const m of store.roomMessages(conv.id).sorted()) if (m.seq > from && !m.deleted_at && !store.isMine(m)) n += 1;
    return n;
  }

  function renderMessages(first) {
    const { conv, list, scroller } = ui;
    const rm = conv.type === 'room' ? store.roomMessages(conv.id) : null;
    const room = conv.type === 'room' ? store.rooms.get(conv.id) : null;
    // Unread messages when the room was opened (its summary may come after the first render).
    if (unread && !unread.captured && room) {
      unread.captured = true;
      unread.from = !room.removed && room.unread_count > 0 ? room.last_read_seq || 0 : null;
    }

    // Remember where the reader is, to keep their place when pages are added above: the first
    // message in view (a message: day separators and "Seen" lines move when pages come in).
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    let anchor = null;
    let anchorOffset = 0;
    for (const el of list.children) {
      if (el.dataset.testid !== 'message') continue;
      if (el.offsetTop + el.offsetHeight > scroller.scrollTop) {
        anchor = el;
        anchorOffset = el.offsetTop - scroller.scrollTop;
        break;
      }
    }

    const entries = entriesFor(conv);
    const keep = new Set(entries.map((e) => e.key));
    for (const [key, el] of itemEls) {
      if (!keep.has(key)) {
        el.remove();
        itemEls.delete(key);
      }
    }
    let cursor = list.firstChild;
    for (const entry of entries) {
      let el = itemEls.get(entry.key);
      if (el && el.dataset.sig !== entry.sig) {
        const fresh = entry.build();
        fresh.dataset.sig = entry.sig;
        if (cursor === el) cursor = fresh;
        const refocus = focusWithin(el);
        if (el.classList.contains('actions-open')) fresh.classList.add('actions-open'); // a tap showed them
        el.replaceWith(fresh);
        refocus?.(fresh);
        if (anchor === el) anchor = fresh;
        el = fresh;
        itemEls.set(entry.key, el);
      } else if (!el) {
        el = entry.build();
        el.dataset.sig = entry.sig;
        itemEls.set(entry.key, el);
      }
      if (el === cursor) cursor = cursor.nextSibling;
      else list.insertBefore(el, cursor);
    }

    // History top: a button for keyboard users, or a note.
    const loading = conv.type === 'room' && (!rm.historyLoaded || rm.loadingOlder) && !rm.loadError && !room?.removed;
    const failed = Boolean(rm?.loadError && !rm.historyLoaded && !rm.loading);
    const olderFailed = Boolean(rm?.olderError && rm.historyLoaded && !rm.loadingOlder);
    ui.olderBtn.textContent = failed || olderFailed ? 'Try again' : 'Load older messages';
    ui.olderBtn.hidden = !failed && !(rm && rm.historyLoaded && rm.hasOlder && !rm.loadingOlder);
    if (rm?.loadError && !rm.historyLoaded) ui.historyNote.textContent = rm.loadError;
    else if (olderFailed) ui.historyNote.textContent = `Older messages could not be loaded. ${rm.olderError}`;
    else if (loading) ui.historyNote.textContent = 'Loading messages…';
    else if (rm && rm.historyLoaded && !rm.hasOlder && entries.length) ui.historyNote.textContent = 'This is the beginning of the conversation.';
    else ui.historyNote.textContent = '';
    ui.historyNote.hidden = !ui.historyNote.textContent;
    const nothing = entries.length === 0 && !loading;
    ui.emptyNote.hidden = !nothing;
    ui.emptyNote.textContent =
      conv.type === 'draft' ? 'Send a message to start the conversation.' : 'No messages yet. Say hello!';

    // Put the reader back. Opening a room with unread messages: at "New messages" (near the
    // top; at the bottom anyway when what follows it fits).
    const separator = itemEls.get('unread') || itemEls.get('more-unread');
    const opening = Boolean(unread && !unread.placed && rm?.historyLoaded);
    if (opening) unread.placed = true;
    if (opening && separator && !stickToBottom) {
      scroller.scrollTop = Math.max(0, separator.offsetTop - 12);
      // Placed there by us, not scrolled there by the reader: no older page for that (it comes
      // when they scroll up, or click "N more unread above").
      ui.older.hold();
    } else if (first || stickToBottom || atBottom) {
      scroller.scrollTop = scroller.scrollHeight;
      stickToBottom = false;
    } else if (anchor && anchor.isConnected) {
      scroller.scrollTop = anchor.offsetTop - anchorOffset;
    }
    // Not enough history to scroll? Fetch another page so scrolling up can work.
    // (Not after a failure: that waits for the button, or it would loop.)
    if (rm && rm.historyLoaded && rm.hasOlder && !rm.loadingOlder && !rm.olderError && scroller.scrollHeight <= scroller.clientHeight) {
      chat.loadOlder(conv.id);
    }
    reading?.sync(list);
    jump?.update();
  }

  /** If focus is inside `el`, a function that puts it on the same control in its replacement
   *  (a reaction toggled by keyboard re-renders its message; focus must not fall to <body>). */
  function focusWithin(el) {
    const active = document.activeElement;
    if (!active || !el.contains(active)) return null;
    const key = active === el ? null : active.dataset.focusKey;
    return (fresh) => {
      const target = key ? [...fresh.querySelectorAll('[data-focus-key]')].find((x) => x.dataset.focusKey === key) : fresh;
      (target || fresh).focus({ preventScroll: true });
    };
  }

  function renderTyping() {
    const { conv } = ui;
    const names = conv.type === 'room' ? store.typingIn(conv.id) : [];
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    if (ui.typing.textContent !== text) ui.typing.textContent = text;
    ui.typing.classList.toggle('active', Boolean(text));
  }

  function render(topics) {
    // Unsent text never carries over to whoever logs in next on this browser.
    const owner = store.me?.id ?? null;
    if (owner !== draftsOwner) {
      drafts.clear();
      draftsOwner = owner;
    }
    const conv = store.current;
    const key = keyOf(conv);
    let first = false;
    if (key !== convKey) {
      convKey = key;
      if (!conv) {
        buildEmpty();
        return;
      }
      buildSkeleton(conv);
      first = true;
    }
    if (!ui) return;
    const all = first || topics.has('all');
    if (all || topics.has('rooms') || topics.has('presence') || topics.has('current') || topics.has('connection')) renderHeader();
    if (all || topics.has('messages') || topics.has('current') || topics.has('rooms')) ui.composer.refresh();
    if (all || topics.has('messages') || topics.has('current') || topics.has('rooms') || topics.has('reads') || topics.has('members')) {
      renderMessages(first);
    }
    if (all || topics.has('typing') || topics.has('current')) renderTyping();
    if (pendingJump) takeJump();
  }

  store.subscribe(render);
  render(new Set(['all']));
  return { showMessage };
}

/** A DM partner's status line: unknown (null) while we are not connected — first connecting
 *  after the page opened, or disconnected since. */
function presenceText(online, connection) {
  if (online === null) return connection === 'idle' || connection === 'connecting' ? 'Connecting…' : 'Status unknown: not connected';
  return online ? 'Online' : 'Offline';
}
