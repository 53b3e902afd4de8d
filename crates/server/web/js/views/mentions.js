// views/mentions.js — `@` autocomplete in the composer: typing `@` and the start of a name lists
// the conversation's people (a DM's other person; a group's members, loaded if need be) whose
// username or name starts so. ↑/↓ move, Enter or Tab picks (`@username ` goes in), Escape
// closes (and that `@` is left alone), as does a click elsewhere. A mouse or a tap picks too.
// The text box keeps focus throughout; the active choice is announced through
// aria-activedescendant.

import { h, replaceChildren } from '../dom.js';
import { displayName } from '../util.js';
import { avatar } from './avatar.js';
import { insertMention, matchPeople, mentionQueryAt } from '../mentions.js';

let counter = 0;

/**
 * Attach to a composer's text box. Call before the composer adds its own key handlers: while
 * the list is open, Enter, Tab, Escape and the arrows are the list's.
 * @param {{input: HTMLTextAreaElement, host: HTMLElement, store: import('../state.js').Store,
 *          chat: import('../chat.js').Chat, conv: object}} o
 * @returns {{close: () => void, get open(): boolean}}
 */
export function attachMentions({ input, host, store, chat, conv }) {
  const id = `mention-list-${++counter}`;
  const list = h('ul.mention-list', {
    id,
    role: 'listbox',
    'aria-label': 'People to mention',
    dataset: { testid: 'mention-list' },
    hidden: true,
  });
  const live = h('p.visually-hidden', { role: 'status' });
  host.append(list, live);
  input.setAttribute('aria-autocomplete', 'list');

  /** @type {null | {start: number, options: object[], active: number}} */
  let state = null;
  let dismissed = null; // the index of an `@` whose list was closed by Escape or a pick
  let loadingMembers = false;

  function close() {
    if (!state) return;
    state = null;
    list.hidden = true;
    replaceChildren(list);
    input.removeAttribute('aria-activedescendant');
    input.removeAttribute('aria-controls');
    live.textContent = '';
  }

  function update() {
    const caret = input.selectionStart;
    const q = input.selectionEnd === caret ? mentionQueryAt(input.value, caret) : null;
    if (!q) {
      dismissed = null;
      close();
      return;
    }
    if (q.start === dismissed || document.activeElement !== input) {
      close();
      return;
    }
    const people = store.othersIn(conv);
    if (people === null) {
      // A group whose members are not loaded yet: load them, then look again.
      if (!loadingMembers && conv.type === 'room') {
        loadingMembers = true;
        chat
          .loadMembers(conv.id)
          .catch(() => {})
          .finally(() => {
            loadingMembers = false;
            if (document.activeElement === input) update();
          });
      }
      close();
      return;
    }
    const options = matchPeople(people, q.query);
    if (!options.length) {
      close();
      return;
    }
    const previous = state?.options[state.active]?.id;
    const keep = options.findIndex((p) => p.id === previous);
    const opening = !state;
    state = { start: q.start, options, active: keep >= 0 ? keep : 0 };
    render();
    if (opening) live.textContent = `${options.length} ${options.length === 1 ? 'person' : 'people'} to mention. Up and down to choose, Enter to insert.`;
  }

  function render() {
    replaceChildren(
      list,
      state.options.map((p, i) =>
        h(
          `li.mention-option${i === state.active ? '.active' : ''}`,
          {
            id: `${id}-${i}`,
            role: 'option',
            'aria-selected': i === state.active ? 'true' : 'false',
            dataset: { testid: 'mention-option', username: p.username, userId: p.id },
            on: {
              // Keep focus in the text box; the click picks.
              mousedown: (e) => e.preventDefault(),
              click: () => pick(i),
            },
          },
          avatar(displayName(p)),
          h('span.mention-option-name', { text: displayName(p) }),
          h('span.mention-option-username', { text: `@${p.username}` }),
        ),
      ),
    );
    list.hidden = false;
    input.setAttribute('aria-controls', id);
    input.setAttribute('aria-activedescendant', `${id}-${state.active}`);
    list.children[state.active]?.scrollIntoView({ block: 'nearest' });
  }

  function move(by) {
    const n = state.options.length;
    state.active = (state.active + by + n) % n;
    render();
  }

  function pick(i) {
    const person = state?.options[i];
    if (!person) return;
    const { start } = state;
    const { text, caret } = insertMention(input.value, input.selectionStart, start, person.username);
    dismissed = start;
    close();
    input.value = text;
    input.focus();
    input.setSelectionRange(caret, caret);
    // The composer keeps its draft, size and typing notice up to date from this.
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }

  input.addEventListener('keydown', (e) => {
    if (!state || e.isComposing) return;
    const plain = !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey;
    let handled = true;
    if (e.key === 'ArrowDown' && plain) move(1);
    else if (e.key === 'ArrowUp' && plain) move(-1);
    else if ((e.key === 'Enter' || e.key === 'Tab') && plain) pick(state.active);
    else if (e.key === 'Escape') {
      dismissed = state.start;
      close();
    } else handled = false;
    if (handled) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  });
  input.addEventListener('input', update);
  input.addEventListener('click', update);
  input.addEventListener('keyup', (e) => {
    if (['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) update();
  });
  input.addEventListener('blur', close);

  return {
    close,
    get open() {
      return Boolean(state);
    },
  };
}
