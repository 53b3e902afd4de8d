// views/message.js — one message in the history: its bubble (the quoted message it replies to,
// its text with http(s) addresses as links (links.js) and `@name` mentions marked — ours stand
// out, and a message that mentions us gets an accent — or "Message deleted", an "edited"
// marker, the time, Sending… / Not sent), its reactions under it, its attachments (image
// previews and file chips, see attachments.js), and its actions (react, reply, more: edit,
// delete), shown on hover, on keyboard focus, or on a tap where there is no hover. Also the
// "Seen by" line, and the dialog that confirms a deletion. Builds elements from a plain
// description (see conversation.js's entriesFor); behaviour comes in through `actions`.

import { h } from '../dom.js';
import { openDialog } from './dialog.js';
import { fullTime, timeLabel } from '../util.js';
import { emojiName } from '../emoji.js';
import { icon } from './icons.js';
import { splitMentions } from '../mentions.js';
import { messageAttachments } from './attachments.js';
import { messageSummary } from '../attachments.js';
import { linkify } from '../links.js';

/**
 * @typedef {{onReact: (item: object, emoji: string) => void, onPicker: (anchor: HTMLElement, item: object) => void,
 *   onMenu: (anchor: HTMLElement, item: object) => void, onReply: (item: object) => void,
 *   onJump: (messageId: number) => void, onRetry: (clientId: string) => void,
 *   onDiscard: (clientId: string) => void, files: import('../attachments.js').Files}} MessageActions
 */

/** @param {object} item @param {MessageActions} actions */
export function messageItem(item, actions) {
  const classes = ['msg'];
  if (item.own) classes.push('own');
  if (item.continued) classes.push('continued');
  if (item.status !== 'sent') classes.push(item.status);
  if (item.deleted) classes.push('deleted');
  if (item.editing) classes.push('editing');
  if (item.replying) classes.push('replying');
  if (item.flash) classes.push('flash');
  if (item.mentionsMe) classes.push('mentions-me');
  const time = h('time.msg-time', {
    datetime: item.time.toISOString(),
    title: fullTime(item.time),
    text: timeLabel(item.time),
  });
  const statusText = item.status === 'pending' ? 'Sending…' : item.status === 'failed' ? 'Not sent' : '';
  const edited =
    item.editedAt && !item.deleted
      ? h('span.msg-edited', {
          dataset: { testid: 'message-edited' },
          title: `Edited ${fullTime(item.editedAt)}`,
          text: 'edited',
        })
      : null;
  const attachments = !item.deleted && item.attachments?.length ? item.attachments : null;
  // A message of files alone has no text to show: no empty line above them.
  const body = item.deleted
    ? h('p.msg-content.msg-tombstone', { dataset: { testid: 'message-deleted' }, text: 'Message deleted' })
    : attachments && !item.content
      ? null
      : h('p.msg-content', { dataset: { testid: 'message-content' } }, contentWithMentions(item));
  const bubble = h(
    `div.msg-bubble${attachments ? '.has-attachments' : ''}`,
    {},
    item.quote && !item.deleted ? quote(item.quote, actions) : null,
    body,
    attachments ? messageAttachments(attachments, actions.files) : null,
    h(
      'span.msg-meta',
      {},
      edited,
      time,
      statusText ? h('span.msg-status', { dataset: { testid: 'message-status' }, text: statusText }) : null,
    ),
  );
  const li = h(
    `li.${classes.join('.')}`,
    {
      // Focusable by script (not in the Tab order): a jump to it from a reply moves focus here.
      tabIndex: -1,
      dataset: {
        testid: 'message',
        messageId: item.id,
        seq: item.seq,
        clientId: item.clientId,
        status: item.status,
        own: item.own ? 'true' : 'false',
        deleted: item.deleted ? 'true' : undefined,
      },
    },
    item.showName ? h('div.msg-sender', { dataset: { testid: 'message-sender' }, text: item.senderName }) : null,
    h('div.msg-row', {}, bubble, item.actionable ? toolbar(item, actions) : null),
    item.reactions?.length ? reactionBar(item, actions) : null,
  );
  // No hover on a touch screen: a tap on the bubble shows (or hides) its actions.
  if (item.actionable) {
    bubble.addEventListener('click', (e) => {
      if (e.target.closest('button, a') || !matchMedia('(hover: none)').matches) return;
      const wasOpen = li.classList.contains('actions-open');
      for (const el of li.parentElement?.querySelectorAll('.msg.actions-open') || []) el.classList.remove('actions-open');
      li.classList.toggle('actions-open', !wasOpen);
    });
  }
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
          on: { click: () => actions.onRetry(item.clientId) },
        }),
        h('button.button.small.subtle', {
          type: 'button',
          dataset: { testid: 'discard' },
          text: 'Discard',
          on: { click: () => actions.onDiscard(item.clientId) },
        }),
      ),
    );
  }
  return li;
}

/** The text, each `@name` it mentions in a span and each http(s) address a link (see links.js;
 *  text nodes only: user text is never markup). */
function contentWithMentions(item) {
  if (!item.mentioned?.length) return linkify(item.content);
  return splitMentions(item.content, item.mentioned).map((part) => {
    if (part.userId === undefined) return linkify(part.text);
    const me = part.userId === item.meId;
    return h(`span.mention${me ? '.mention-me' : ''}`, {
      dataset: { testid: 'mention', userId: part.userId, me: me ? 'true' : undefined },
      title: me ? 'Mentions you' : undefined,
      text: part.text,
    });
  });
}

/** The message a reply answers: its sender and the start of its text; a click shows it. */
function quote(q, actions) {
  const label = q.deleted ? `Reply to a deleted message from ${q.sender}` : `Reply to ${q.sender}: ${q.text}`;
  return h(
    `button.msg-quote${q.deleted ? '.is-deleted' : ''}`,
    {
      type: 'button',
      title: q.deleted ? 'The original message was deleted' : 'Show the original message',
      'aria-label': `${label}. Show the original message.`,
      dataset: { testid: 'reply-quote', replyTo: q.id, focusKey: 'quote' },
      on: { click: () => actions.onJump(q.id) },
    },
    h('span.msg-quote-sender', { dataset: { testid: 'reply-quote-sender' }, text: q.sender }),
    h('span.msg-quote-text', { dataset: { testid: 'reply-quote-text' }, text: q.deleted ? 'Message deleted' : q.text }),
  );
}

/** React, reply and "more" (edit, delete, …), beside the bubble. */
function toolbar(item, actions) {
  const button = (name, label, testid, onClick) =>
    h(
      'button.msg-action',
      {
        type: 'button',
        title: label,
        'aria-label': label,
        dataset: { testid, focusKey: testid },
        on: { click: (e) => onClick(e.currentTarget) },
      },
      icon(name),
    );
  const react = button('react', 'Add reaction', 'react-button', (el) => actions.onPicker(el, item));
  react.setAttribute('aria-haspopup', 'dialog');
  react.setAttribute('aria-expanded', 'false');
  const more = button('more', 'More actions', 'message-menu-button', (el) => actions.onMenu(el, item));
  more.setAttribute('aria-haspopup', 'menu');
  more.setAttribute('aria-expanded', 'false');
  return h(
    'div.msg-actions',
    { role: 'toolbar', 'aria-label': 'Message actions', dataset: { testid: 'message-actions' } },
    react,
    button('reply', 'Reply', 'reply-button', () => actions.onReply(item)),
    more,
  );
}

/** Each emoji with its count; ours pressed. A click adds or takes back our reaction. */
function reactionBar(item, actions) {
  const chips = item.reactions.map((r) =>
    h(
      `button.reaction${r.me ? '.mine' : ''}`,
      {
        type: 'button',
        'aria-pressed': r.me ? 'true' : 'false',
        'aria-label': `${emojiName(r.emoji)}, ${r.count}: ${r.names}`,
        title: `${r.names} reacted with ${r.emoji}`,
        disabled: !item.actionable,
        dataset: { testid: 'reaction', emoji: r.emoji, focusKey: `reaction:${r.emoji}` },
        on: { click: () => actions.onReact(item, r.emoji) },
      },
      h('span.reaction-emoji', { 'aria-hidden': 'true', text: r.emoji }),
      h('span.reaction-count', { 'aria-hidden': 'true', dataset: { testid: 'reaction-count' }, text: String(r.count) }),
    ),
  );
  const add = item.actionable
    ? h(
        'button.reaction.reaction-add',
        {
          type: 'button',
          title: 'Add reaction',
          'aria-label': 'Add reaction',
          'aria-haspopup': 'dialog',
          'aria-expanded': 'false',
          dataset: { testid: 'reaction-add', focusKey: 'reaction-add' },
          on: { click: (e) => actions.onPicker(e.currentTarget, item) },
        },
        icon('react'),
      )
    : null;
  return h('div.reactions', { role: 'group', 'aria-label': 'Reactions', dataset: { testid: 'reactions' } }, chips, add);
}

/** "Seen" (a DM) or "Seen by Alice, Bob" (a group) under the newest message they have read. */
export function seenItem({ text, title, own }) {
  return h(`li.seen${own ? '.own' : ''}`, { dataset: { testid: 'seen' }, title }, h('span', { text }));
}

/** "Delete message?" — then the message turns into "Message deleted" for everyone. */
export function confirmDelete({ chat, roomId, item, onDone }) {
  const mine = item.own;
  openDialog({
    title: mine ? 'Delete message?' : `Delete ${item.senderName}'s message?`,
    testid: 'delete-dialog',
    build(body, close) {
      const error = h('p.form-error', { role: 'alert', dataset: { testid: 'form-error' }, hidden: true });
      const confirm = h('button.button.danger', {
        type: 'button',
        dataset: { testid: 'confirm-delete' },
        text: 'Delete',
        on: {
          click: async () => {
            confirm.disabled = true;
            error.hidden = true;
            try {
              await chat.changes.remove(roomId, item.id);
              close();
            } catch (err) {
              confirm.disabled = false;
              error.textContent = err.message;
              error.hidden = false;
            }
          },
        },
      });
      body.append(
        h('p', { text: 'Everyone in the conversation will see “Message deleted” in its place. This cannot be undone.' }),
        h('blockquote.delete-preview', { dataset: { testid: 'delete-preview' }, text: item.content || messageSummary(item) }),
        error,
        h(
          'div.dialog-actions',
          {},
          h('button.button', { type: 'button', dataset: { testid: 'cancel-delete' }, text: 'Cancel', on: { click: close } }),
          confirm,
        ),
      );
    },
    onClose: onDone,
  });
}
