// views/search.js — the search panel, opened from the sidebar's search button, Ctrl+K (⌘K) or
// "/": a search box (typing searches after a pause), "Only in <this conversation>" when one is
// open, and the results — the conversation's name, who wrote it, when, and an excerpt with the
// matched words marked — newest first, with "Load more". Choosing a result opens its room at
// that message. Arrow keys move between the box and the results. Server text goes into the page
// as text only; the matched words are <mark> elements around text nodes, never markup.

import { h, replaceChildren } from '../dom.js';
import { displayName, fullTime, parseTime, shortWhen } from '../util.js';
import { openDialog } from './dialog.js';
import { closePopover } from './popover.js';
import { avatar } from './avatar.js';
import { icon } from './icons.js';
import { senderLabel } from '../people.js';

let openPanel = null; // {focus: () => void} while the panel is open

/** A room's name as the sidebar shows it (a group's name, or the other person's). */
function roomName(store, roomId) {
  const room = store.rooms.get(roomId);
  if (!room) return 'A conversation you left';
  if (room.room_type === 'group') return room.name;
  return room.other_user ? displayName(room.other_user) : room.name || 'Deleted User';
}

/** The excerpt: plain fragments as text, matched ones inside <mark>. */
function excerpt(result) {
  const parts = Array.isArray(result.highlight) && result.highlight.length ? result.highlight : [{ text: result.message.content || '', match: false }];
  return parts.map((p) => (p.match ? h('mark', { text: String(p.text ?? '') }) : String(p.text ?? '')));
}

/**
 * @param {{search: import('../search.js').MessageSearch, store: import('../state.js').Store,
 *          onOpen: (roomId: number, messageId: number) => void}} deps
 */
export function openSearch({ search, store, onOpen }) {
  if (openPanel) {
    openPanel.focus();
    return;
  }
  closePopover();
  search.ensureOwner();
  const cur = store.current;
  const here = cur?.type === 'room' ? store.rooms.get(cur.id) : null;
  const scopeRoom = here && !here.removed ? here.room_id : null;
  if (search.roomId !== null && search.roomId !== scopeRoom) search.setRoom(null);
  let unsubscribe = () => {};

  openDialog({
    title: 'Search messages',
    testid: 'search-dialog',
    className: 'search-dialog',
    build(body, close) {
      const input = h('input.input.search-input', {
        id: 'search-input',
        type: 'search',
        autocomplete: 'off',
        spellcheck: 'false',
        maxlength: '200',
        placeholder: 'Search messages',
        'aria-label': 'Search messages',
        'aria-describedby': 'search-status',
        'aria-controls': 'search-results',
        dataset: { testid: 'search-input' },
      });
      input.value = search.query;
      const scope = h('input', {
        type: 'checkbox',
        id: 'search-this-room',
        checked: scopeRoom !== null && search.roomId === scopeRoom,
        dataset: { testid: 'search-this-room' },
      });
      const scopeLabel = h(
        'label.search-scope',
        { htmlFor: 'search-this-room', hidden: scopeRoom === null },
        scope,
        h('span', { text: scopeRoom !== null ? `Only in ${roomName(store, scopeRoom)}` : '' }),
      );
      const form = h(
        'form.search-form',
        { role: 'search', 'aria-label': 'Search messages' },
        h('div.search-field', {}, h('span.search-field-icon', { 'aria-hidden': 'true' }, icon('search')), input),
        scopeLabel,
      );
      const status = h('p.search-status', { id: 'search-status', role: 'status', dataset: { testid: 'search-status' } });
      const retry = h('button.button.small', { type: 'button', dataset: { testid: 'search-retry' }, text: 'Try again', hidden: true });
      const list = h('ul.search-results', { id: 'search-results', 'aria-label': 'Results', dataset: { testid: 'search-results' } });
      const more = h('button.button.small', { type: 'button', dataset: { testid: 'search-more' }, text: 'Load more results', hidden: true });
      const moreError = h('p.form-error', { role: 'alert', hidden: true });
      const footer = h('div.search-footer', {}, moreError, more);
      body.append(form, h('div.search-status-row', {}, status, retry), list, footer);

      const buttons = () => [...list.querySelectorAll('.search-result')];

      function pick(r) {
        close({ restoreFocus: false });
        onOpen(r.room_id, r.message.id);
      }

      const senderOf = (m) => (store.isMine(m) ? 'You' : senderLabel(store, m));
      /** The names the results show, as known now (rooms and senders). */
      const namesShown = () => search.visible().map((r) => `${roomName(store, r.room_id)}\u0000${senderOf(r.message)}`).join('\n');
      let names = '';

      function item(r) {
        const m = r.message;
        const when = parseTime(m.created_at);
        const name = roomName(store, r.room_id);
        const room = store.rooms.get(r.room_id);
        const sender = senderOf(m);
        return h(
          'li',
          {},
          h(
            'button.search-result',
            {
              type: 'button',
              dataset: { testid: 'search-result', messageId: m.id, roomId: r.room_id },
              on: { click: () => pick(r) },
            },
            avatar(name, { group: room?.room_type === 'group' }),
            h(
              'span.search-result-text',
              {},
              h(
                'span.search-result-head',
                {},
                h('span.search-result-room', { dataset: { testid: 'search-result-room' }, text: name }),
                when ? h('time.search-result-time', { datetime: when.toISOString(), title: fullTime(when), text: shortWhen(when) }) : null,
              ),
              h(
                'span.search-result-body',
                {},
                h('span.search-result-sender', { dataset: { testid: 'search-result-sender' }, text: `${sender}: ` }),
                h('span.search-result-excerpt', { dataset: { testid: 'search-result-excerpt' } }, excerpt(r)),
              ),
            ),
          ),
        );
      }

      function render() {
        const focusedId = document.activeElement?.closest?.('.search-result')?.dataset.messageId;
        const moreFocused = document.activeElement === more;
        const shown = search.visible();
        const before = list.children.length;
        replaceChildren(list, shown.map(item));
        names = namesShown();
        const q = search.searchedQuery;
        let text = '';
        if (search.status === 'idle') text = 'Find messages in your conversations: type a word or two.';
        else if (search.status === 'loading') text = 'Searching…';
        else if (search.status === 'error') text = `The search did not work. ${search.error || ''}`.trim();
        else if (!shown.length) text = `No messages found for “${q}”${search.searchedRoom !== null ? ' in this conversation' : ''}.`;
        else text = `${shown.length}${search.nextBefore != null ? '+' : ''} message${shown.length === 1 ? '' : 's'} found`;
        status.textContent = text;
        // What the results shown are for (the words, and where), for whoever waits on them.
        status.dataset.state = search.status;
        status.dataset.searched = search.status === 'done' ? q : '';
        status.dataset.scope = search.searchedRoom === null ? 'all' : 'room';
        retry.hidden = search.status !== 'error';
        more.hidden = search.status !== 'done' || search.nextBefore == null;
        more.disabled = search.loadingMore;
        more.textContent = search.loadingMore ? 'Loading…' : 'Load more results';
        moreError.textContent = search.moreError ? `More results could not be loaded. ${search.moreError}` : '';
        moreError.hidden = !search.moreError;
        list.hidden = !shown.length;
        // Keep focus where it was; if "Load more" went away, on the first new result.
        const again = focusedId && buttons().find((b) => b.dataset.messageId === focusedId);
        if (again) again.focus();
        else if (moreFocused && more.hidden) (buttons()[before] || input).focus();
      }

      input.addEventListener('input', () => search.setQuery(input.value));
      input.addEventListener('keydown', (e) => {
        if (e.key === 'ArrowDown' && buttons().length) {
          e.preventDefault();
          buttons()[0].focus();
        } else if (e.key === 'Escape') {
          // Not the search box's own "clear": the panel closes (and keeps what was typed).
          e.preventDefault();
          close();
        } else if (e.key === 'Enter') {
          e.preventDefault();
          const first = search.visible()[0];
          if (search.status === 'done' && search.searched === search.key() && first) pick(first);
          else search.now();
        }
      });
      form.addEventListener('submit', (e) => e.preventDefault());
      scope.addEventListener('change', () => {
        search.setRoom(scope.checked ? scopeRoom : null);
        input.focus();
      });
      list.addEventListener('keydown', (e) => {
        const all = buttons();
        const i = all.indexOf(document.activeElement);
        if (i < 0) return;
        let next = null;
        if (e.key === 'ArrowDown') next = all[i + 1] || (more.hidden ? null : more);
        else if (e.key === 'ArrowUp') next = all[i - 1] || input;
        else if (e.key === 'Home') next = all[0];
        else if (e.key === 'End') next = all[all.length - 1];
        if (next) {
          e.preventDefault();
          next.focus();
        }
      });
      more.addEventListener('click', () => search.more());
      more.addEventListener('keydown', (e) => {
        if (e.key === 'ArrowUp' && buttons().length) {
          e.preventDefault();
          buttons().at(-1).focus();
        }
      });
      retry.addEventListener('click', () => {
        search.now();
        input.focus();
      });

      const stopSearch = search.subscribe(render);
      // Someone renamed (themself, or a group) while the results are open: they follow.
      const stopStore = store.subscribe((topics) => {
        if ((topics.has('rooms') || topics.has('me') || topics.has('all')) && namesShown() !== names) render();
      });
      unsubscribe = () => {
        stopSearch();
        stopStore();
      };
      render();
      openPanel = {
        focus: () => {
          input.focus();
          input.select();
        },
      };
      requestAnimationFrame(() => input.select());
    },
    onClose: () => {
      unsubscribe();
      openPanel = null;
    },
  });
}

/** Ctrl+K / ⌘K anywhere, or "/" outside a text field, opens the panel (while `isActive()`). */
export function installSearchShortcut({ isActive, open }) {
  document.addEventListener('keydown', (e) => {
    if (!isActive() || e.defaultPrevented || e.isComposing || e.altKey) return;
    const otherDialog = [...document.querySelectorAll('dialog[open]')].some((d) => d.dataset.testid !== 'search-dialog');
    if (otherDialog) return;
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === 'k') {
      e.preventDefault();
      open();
    } else if (e.key === '/' && !e.ctrlKey && !e.metaKey && !editable(e.target)) {
      e.preventDefault();
      open();
    }
  });
}

function editable(el) {
  if (!(el instanceof HTMLElement)) return false;
  return el.isContentEditable || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || (el.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit'].includes(el.type));
}
