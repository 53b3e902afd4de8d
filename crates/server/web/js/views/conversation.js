// views/conversation.js — one open conversation: header (name, online status or member
// count), the message history with day separators, sender names and times, own messages set
// apart, pending and failed messages (with Retry), older pages loaded on scrolling up, the
// typing indicator, and the composer (Enter sends, Shift+Enter adds a line).

import { h, replaceChildren } from '../dom.js';
import { dayKey, dayLabel, displayName, parseTime, timeLabel, MAX_MESSAGE_CHARS } from '../util.js';
import { avatar } from './avatar.js';

const RUN_GAP_MS = 5 * 60 * 1000; // messages closer than this from one sender form a run

/**
 * @param {HTMLElement} root
 * @param {{store: import('../state.js').Store, chat: import('../chat.js').Chat,
 *          onMembers: (roomId: number) => void, onBack: () => void}} deps
 */
export function mountConversation(root, { store, chat, onMembers, onBack }) {
  let convKey = undefined;
  let ui = null; // the elements of the open conversation
  const drafts = new Map(); // unsent composer text per conversation, of draftsOwner only
  let draftsOwner = null;
  const itemEls = new Map();

  function keyOf(conv) {
    if (!conv) return null;
    return conv.type === 'room' ? `r${conv.id}` : `u${conv.userId}`;
  }

  function buildEmpty() {
    ui = null;
    itemEls.clear();
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
    const header = h(
      'header.conversation-header',
      {},
      back,
      avatarSlot,
      h('div.conversation-heading', {}, title, status),
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
    scroller.addEventListener('scroll', () => {
      if (scroller.scrollTop < 200 && conv.type === 'room') chat.loadOlder(conv.id);
    });

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

    const inputId = `composer-${keyOf(conv)}`;
    const input = h('textarea.composer-input', {
      id: inputId,
      rows: 1,
      dataset: { testid: 'composer-input' },
      'aria-describedby': 'composer-help composer-error',
      autocomplete: 'off',
    });
    input.value = drafts.get(keyOf(conv)) || '';
    const sendBtn = h('button.button.primary.send-button', { type: 'submit', dataset: { testid: 'send' }, text: 'Send' });
    const composerError = h('p.composer-error', {
      id: 'composer-error',
      role: 'alert',
      dataset: { testid: 'composer-error' },
      hidden: true,
    });
    const composer = h(
      'form.composer',
      { dataset: { testid: 'composer' }, 'aria-label': 'Send a message' },
      h('label.visually-hidden', { htmlFor: inputId, text: 'Message' }),
      input,
      sendBtn,
      h('p.visually-hidden', { id: 'composer-help', text: 'Press Enter to send, Shift+Enter for a new line.' }),
      composerError,
    );

    const autosize = () => {
      input.style.height = 'auto';
      input.style.height = `${Math.min(input.scrollHeight, 180)}px`;
    };
    const showComposerError = (msg) => {
      composerError.textContent = msg || '';
      composerError.hidden = !msg;
    };
    const checkLength = () => {
      const n = Array.from(input.value.trim()).length;
      if (n > MAX_MESSAGE_CHARS) showComposerError(`Too long by ${n - MAX_MESSAGE_CHARS} characters (the limit is ${MAX_MESSAGE_CHARS}).`);
      else showComposerError('');
    };
    input.addEventListener('input', () => {
      drafts.set(keyOf(conv), input.value);
      autosize();
      checkLength();
      if (input.value.trim()) chat.typing();
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        composer.requestSubmit();
      }
    });
    composer.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!input.value.trim()) return;
      const err = chat.send(input.value);
      if (err) {
        showComposerError(err);
        return;
      }
      input.value = '';
      drafts.delete(keyOf(conv));
      autosize();
      showComposerError('');
      stickToBottom = true;
      input.focus();
    });

    replaceChildren(
      root,
      h(
        'section.conversation-pane',
        { 'aria-labelledby': 'conversation-title', dataset: { testid: 'conversation' } },
        header,
        scroller,
        typing,
        notMember,
        composer,
      ),
    );
    requestAnimationFrame(autosize);
    ui = { conv, avatarSlot, title, status, membersBtn, olderBtn, historyNote, historyTop, list, scroller, emptyNote, typing, notMember, composer, input, sendBtn };
    if (window.matchMedia('(min-width: 721px)').matches) input.focus({ preventScroll: true });
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
        online = store.online.has(room.other_user.id);
        statusText = online ? 'Online' : 'Offline';
      } else {
        name = room.name || 'Deleted User';
        statusText = 'This account was deleted';
      }
      ui.membersBtn.hidden = !group || room.removed;
      ui.notMember.hidden = !room.removed;
      ui.composer.hidden = Boolean(room.removed);
    } else {
      const u = store.drafts.get(conv.userId);
      name = u ? displayName(u) : '…';
      online = store.online.has(conv.userId);
      statusText = `${online ? 'Online' : 'Offline'} · New conversation`;
      ui.membersBtn.hidden = true;
      ui.notMember.hidden = true;
      ui.composer.hidden = false;
    }
    ui.title.textContent = name;
    ui.status.textContent = statusText;
    ui.status.dataset.online = online === null ? '' : String(online);
    replaceChildren(ui.avatarSlot, avatar(name, { group, online }));
    ui.input.placeholder = name.length <= 20 ? `Message ${name}` : 'Write a message…';
  }

  function entriesFor(conv) {
    const entries = [];
    const messages = conv.type === 'room' ? store.roomMessages(conv.id).sorted() : [];
    const pending = store.pendingFor(conv);
    const room = conv.type === 'room' ? store.rooms.get(conv.id) : null;
    const isGroup = room?.room_type === 'group';
    let prev = null; // {senderKey, time, day}
    const push = (item) => {
      const t = item.time;
      const day = dayKey(t);
      if (!prev || prev.day !== day) {
        entries.push({ key: `d:${day}`, sig: `day|${dayLabel(t)}`, build: () => daySeparator(t) });
        prev = null;
      }
      const continued = Boolean(prev && prev.senderKey === item.senderKey && t - prev.time < RUN_GAP_MS);
      entries.push({
        key: item.key,
        sig: `${item.status}|${continued}|${item.error || ''}`,
        build: () => messageItem({ ...item, continued, showName: !item.own && !continued, isGroup }),
      });
      prev = { senderKey: item.senderKey, time: t, day };
    };
    for (const m of messages) {
      const own = store.isMine(m);
      push({
        key: own && m.client_id ? `c:${m.client_id}` : `m:${m.id}`,
        id: m.id,
        seq: m.seq,
        clientId: m.client_id,
        own,
        senderKey: m.sender_id ?? `x${m.sender_username}`,
        senderName: m.sender_full_name || m.sender_username || 'Deleted User',
        content: m.content,
        time: parseTime(m.created_at) || new Date(),
        status: 'sent',
      });
    }
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
      });
    }
    return entries;
  }

  function daySeparator(t) {
    return h(
      'li.day-separator',
      { role: 'separator', dataset: { testid: 'day-separator' } },
      h('span', { text: dayLabel(t) }),
    );
  }

  function messageItem(item) {
    const classes = ['msg'];
    if (item.own) classes.push('own');
    if (item.continued) classes.push('continued');
    if (item.status !== 'sent') classes.push(item.status);
    const time = h('time.msg-time', {
      datetime: item.time.toISOString(),
      title: item.time.toLocaleString(),
      text: timeLabel(item.time),
    });
    const statusText = item.status === 'pending' ? 'Sending…' : item.status === 'failed' ? 'Not sent' : '';
    const li = h(
      `li.${classes.join('.')}`,
      {
        dataset: {
          testid: 'message',
          messageId: item.id,
          seq: item.seq,
          clientId: item.clientId,
          status: item.status,
          own: item.own ? 'true' : 'false',
        },
      },
      item.showName ? h('div.msg-sender', { dataset: { testid: 'message-sender' }, text: item.senderName }) : null,
      h(
        'div.msg-bubble',
        {},
        h('p.msg-content', { dataset: { testid: 'message-content' }, text: item.content }),
        h(
          'span.msg-meta',
          {},
          time,
          statusText ? h('span.msg-status', { dataset: { testid: 'message-status' }, text: statusText }) : null,
        ),
      ),
    );
    if (item.status === 'failed') {
      li.appendChild(
        h(
          'div.msg-failed',
          { role: 'alert' },
          h('span', { text: item.error || 'Could not send this message.' }),
          h('button.button.small', {
            type: 'button',
            dataset: { testid: 'retry' },
            text: 'Retry',
            on: { click: () => chat.retry(item.clientId) },
          }),
          h('button.button.small.subtle', {
            type: 'button',
            dataset: { testid: 'discard' },
            text: 'Discard',
            on: { click: () => chat.discard(item.clientId) },
          }),
        ),
      );
    }
    return li;
  }

  function renderMessages(first) {
    const { conv, list, scroller } = ui;
    const rm = conv.type === 'room' ? store.roomMessages(conv.id) : null;
    const room = conv.type === 'room' ? store.rooms.get(conv.id) : null;

    // Remember where the reader is, to keep their place when pages are added above.
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    let anchor = null;
    let anchorOffset = 0;
    for (const el of list.children) {
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
        el.replaceWith(fresh);
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

    // Put the reader back.
    if (first || stickToBottom || atBottom) {
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
    if (all || topics.has('rooms') || topics.has('presence') || topics.has('current')) renderHeader();
    if (all || topics.has('messages') || topics.has('current') || topics.has('rooms')) renderMessages(first);
    if (all || topics.has('typing') || topics.has('current')) renderTyping();
  }

  store.subscribe(render);
  render(new Set(['all']));
}
