// views/composer.js — where messages are written: Enter sends, Shift+Enter adds a line (on a
// touch screen, where keyboards have no Shift+Enter, Enter adds a line and the Send button
// sends); the text not sent yet is kept per conversation. Two modes above the text box: replying (a quote
// of the message answered, × or Escape to cancel; the send carries reply_to_id) and editing
// one of our messages (its text in the box, Enter saves, Escape cancels and brings back what
// was being written). ↑ in an empty box edits our last message. `@` lists people to mention
// (see mentions.js). Files (the attach button, pasted images, drops on the conversation) upload
// into a tray above the box and go with the next message, which may then have no text (see
// attachments.js).

import { h } from '../dom.js';
import { MAX_MESSAGE_CHARS } from '../util.js';
import { icon } from './icons.js';
import { attachMentions } from './mentions.js';
import { composerAttachments } from './attachments.js';
import { messageSummary } from '../attachments.js';
import { senderLabel } from '../people.js';

// A touch screen (no hover, a coarse pointer): its keyboard's Enter is for new lines. One query
// for the page; a change reaches the composers on screen (those gone are forgotten then).
const touch = window.matchMedia('(hover: none) and (pointer: coarse)');
const touchListeners = new Set(); // {input, update}
touch.addEventListener?.('change', () => {
  for (const l of [...touchListeners]) {
    if (l.input.isConnected) l.update();
    else touchListeners.delete(l);
  }
});

/**
 * @param {{store: import('../state.js').Store, chat: import('../chat.js').Chat, conv: object,
 *          drafts: Map<string, string>, draftKey: string, onSent: () => void,
 *          onModeChange: () => void}} o
 */
export function createComposer({ store, chat, conv, drafts, draftKey, onSent, onModeChange }) {
  /** null | {type: 'reply', message} | {type: 'edit', id, before: {text, reply}} */
  let mode = null;
  let saving = false;
  const enterSends = () => !touch.matches;

  const inputId = `composer-${draftKey}`;
  const input = h('textarea.composer-input', {
    id: inputId,
    rows: 1,
    dataset: { testid: 'composer-input' },
    'aria-describedby': 'composer-help composer-error',
    autocomplete: 'off',
  });
  input.value = drafts.get(draftKey) || '';
  const setEnterHint = () => input.setAttribute('enterkeyhint', enterSends() ? 'send' : 'enter');
  setEnterHint();
  for (const l of [...touchListeners]) if (!l.input.isConnected) touchListeners.delete(l);
  touchListeners.add({
    input,
    update: () => {
      setEnterHint();
      renderMode();
    },
  });
  const sendBtn = h('button.button.primary.send-button', { type: 'submit', dataset: { testid: 'send' }, text: 'Send' });
  const error = h('p.composer-error', { id: 'composer-error', role: 'alert', dataset: { testid: 'composer-error' }, hidden: true });
  const contextTitle = h('span.composer-context-title', { dataset: { testid: 'composer-context-title' } });
  const contextExcerpt = h('span.composer-context-excerpt', { dataset: { testid: 'composer-context-excerpt' } });
  const contextIcon = h('span.composer-context-icon', { 'aria-hidden': 'true' });
  const cancelBtn = h(
    'button.icon-button.composer-context-cancel',
    { type: 'button', dataset: { testid: 'cancel-context' }, on: { click: () => cancel() } },
    icon('close'),
  );
  const context = h(
    'div.composer-context',
    { dataset: { testid: 'composer-context' }, role: 'status', hidden: true },
    contextIcon,
    h('span.composer-context-text', {}, contextTitle, contextExcerpt),
    cancelBtn,
  );
  const help = h('p.visually-hidden', { id: 'composer-help' });
  let waitingShown = false; // "Wait for the file to finish uploading" is showing
  const files = composerAttachments({
    tray: chat.files.tray(draftKey),
    input,
    onError: (msg) => showError(msg),
    onChange: () => {
      if (waitingShown && !files.blocker()) {
        waitingShown = false;
        showError('');
      }
    },
  });
  const form = h(
    'form.composer',
    { dataset: { testid: 'composer' }, 'aria-label': 'Send a message' },
    context,
    files.el,
    h('label.visually-hidden', { htmlFor: inputId, text: 'Message' }),
    input,
    // After the text box, so Shift+Tab from it still reaches the newest message's actions.
    files.button,
    files.picker,
    sendBtn,
    help,
    error,
  );

  // First, so that its keys (Enter, Tab, Escape, arrows) win while its list is open.
  attachMentions({ input, host: form, store, chat, conv });

  const autosize = () => {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 180)}px`;
  };
  const showError = (msg) => {
    waitingShown = false;
    error.textContent = msg || '';
    error.hidden = !msg;
  };
  const checkLength = () => {
    const n = Array.from(input.value.trim()).length;
    if (n > MAX_MESSAGE_CHARS) showError(`Too long by ${n - MAX_MESSAGE_CHARS} characters (the limit is ${MAX_MESSAGE_CHARS}).`);
    else showError('');
  };
  const setText = (text) => {
    input.value = text;
    autosize();
    input.focus();
    input.setSelectionRange(text.length, text.length);
  };

  function senderName(m) {
    if (store.isMine(m)) return 'yourself';
    return senderLabel(store, m);
  }

  /** The context bar and labels for the mode we are in. */
  function renderMode() {
    context.hidden = !mode;
    form.classList.toggle('is-editing', mode?.type === 'edit');
    if (mode?.type === 'reply') {
      const m = store.message(conv.id, mode.message.id) || mode.message;
      contextIcon.replaceChildren(icon('reply'));
      contextTitle.textContent = `Replying to ${senderName(m)}`;
      contextExcerpt.textContent = m.deleted_at ? 'Message deleted' : messageSummary(m);
      cancelBtn.setAttribute('aria-label', 'Cancel reply');
      cancelBtn.title = 'Cancel reply (Esc)';
    } else if (mode?.type === 'edit') {
      contextIcon.replaceChildren(icon('edit'));
      contextTitle.textContent = 'Editing your message';
      contextExcerpt.textContent = enterSends() ? 'Enter to save, Esc to cancel' : 'Tap Save to save, × to cancel';
      cancelBtn.setAttribute('aria-label', 'Cancel editing');
      cancelBtn.title = 'Cancel editing (Esc)';
    }
    sendBtn.textContent = mode?.type === 'edit' ? 'Save' : 'Send';
    const enter = enterSends();
    if (mode?.type === 'edit') {
      help.textContent = enter ? 'Editing a message. Press Enter to save, Escape to cancel.' : 'Editing a message. Tap Save to save it.';
    } else {
      help.textContent = enter
        ? 'Press Enter to send, Shift+Enter for a new line. Up arrow in an empty box edits your last message.'
        : 'Enter adds a new line; the Send button sends.';
    }
  }

  function setMode(next) {
    mode = next;
    renderMode();
    onModeChange();
  }

  /** Answer a message: its quote goes above the box. */
  function startReply(m) {
    if (mode?.type === 'edit') finishEdit();
    setMode({ type: 'reply', message: m });
    input.focus();
  }

  /** Edit one of our messages in the box; what was being written comes back afterwards. */
  function startEdit(m) {
    if (mode?.type === 'edit' && mode.id === m.id) {
      input.focus();
      return;
    }
    const before = mode?.type === 'edit' ? mode.before : { text: input.value, reply: mode?.type === 'reply' ? mode.message : null };
    setMode({ type: 'edit', id: m.id, before });
    showError('');
    setText(m.content);
  }

  function finishEdit() {
    if (mode?.type !== 'edit') return;
    const { before } = mode;
    setMode(before.reply ? { type: 'reply', message: before.reply } : null);
    setText(before.text);
  }

  function cancel() {
    if (mode?.type === 'edit') finishEdit();
    else if (mode) setMode(null);
    showError('');
    input.focus();
  }

  /** Our newest message that can still be edited. */
  function lastEditable() {
    if (conv.type !== 'room') return null;
    const list = store.roomMessages(conv.id).sorted();
    for (let i = list.length - 1; i >= 0; i--) {
      if (store.isMine(list[i]) && !list[i].deleted_at) return list[i];
    }
    return null;
  }

  input.addEventListener('input', () => {
    if (mode?.type !== 'edit') {
      drafts.set(draftKey, input.value);
      if (input.value.trim()) chat.typing();
    }
    autosize();
    checkLength();
  });
  input.addEventListener('keydown', (e) => {
    const plain = !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey;
    if (e.key === 'Enter' && plain && enterSends()) {
      e.preventDefault();
      form.requestSubmit();
    } else if (e.key === 'Escape' && mode) {
      e.preventDefault();
      cancel();
    } else if (e.key === 'ArrowUp' && plain && !input.value && mode?.type !== 'edit') {
      const m = lastEditable();
      if (m) {
        e.preventDefault();
        startEdit(m);
      }
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (mode?.type === 'edit') {
      if (saving) return;
      const { id } = mode;
      saving = true;
      sendBtn.disabled = true;
      try {
        await chat.changes.edit(conv.id, id, input.value);
        if (mode?.type === 'edit' && mode.id === id) finishEdit();
        showError('');
      } catch (err) {
        showError(err.message);
      } finally {
        saving = false;
        sendBtn.disabled = false;
      }
      return;
    }
    const waiting = files.blocker();
    if (waiting) {
      showError(waiting);
      waitingShown = true;
      return;
    }
    const attachments = files.ready();
    if (!input.value.trim() && !attachments.length) return;
    const replyTo = mode?.type === 'reply' ? store.message(conv.id, mode.message.id) || mode.message : null;
    const err = chat.send(input.value, { replyTo, attachments });
    if (err) {
      showError(err);
      return;
    }
    if (mode?.type === 'reply') setMode(null);
    files.clear();
    input.value = '';
    drafts.delete(draftKey);
    autosize();
    showError('');
    onSent();
    input.focus();
  });

  renderMode();
  requestAnimationFrame(autosize);

  return {
    el: form,
    input,
    /** Files dropped on the conversation. */
    addFiles: (list) => files.add(list),
    startReply,
    startEdit,
    /** The message being edited (id) or answered (id), for highlighting it. */
    get editingId() {
      return mode?.type === 'edit' ? mode.id : null;
    },
    get replyingId() {
      return mode?.type === 'reply' ? mode.message.id : null;
    },
    /** The store changed: a message being edited that was deleted meanwhile ends the edit. */
    refresh() {
      if (mode?.type === 'edit' && conv.type === 'room') {
        const m = store.message(conv.id, mode.id);
        if (m?.deleted_at) {
          finishEdit();
          showError('The message you were editing was deleted.');
        }
      } else if (mode?.type === 'reply') {
        renderMode();
      }
    },
    setPlaceholder(text) {
      input.placeholder = text;
    },
  };
}
