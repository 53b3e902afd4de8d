// views/userpicker.js — search people by name (GET /users/search) and pick one; used by the
// new-DM, new-group and add-members dialogs. Enter in the search box picks the first result.

import { h, replaceChildren } from '../dom.js';
import { debounce, displayName } from '../util.js';
import { avatar } from './avatar.js';

let counter = 0;

/**
 * @param {{api: import('../api.js').Api, store: import('../state.js').Store,
 *          onPick: (user: object) => void, exclude?: () => Set<number>, label?: string}} o
 * @returns {{el: HTMLElement, input: HTMLInputElement, refresh: () => void}}
 */
export function userPicker({ api, store, onPick, exclude = () => new Set(), label = 'Search people' }) {
  const id = `user-search-${++counter}`;
  const input = h('input.input', {
    id,
    type: 'search',
    autocomplete: 'off',
    spellcheck: 'false',
    autocapitalize: 'off',
    placeholder: 'Name or username',
    'aria-describedby': `${id}-status`,
    dataset: { testid: 'user-search' },
  });
  const status = h('p.picker-status', { id: `${id}-status`, role: 'status', dataset: { testid: 'user-search-status' } });
  const results = h('ul.picker-results', { dataset: { testid: 'user-results' }, 'aria-label': 'Search results' });
  let last = [];
  let seq = 0;

  function show(users) {
    const skip = exclude();
    last = users.filter((u) => !skip.has(u.id));
    replaceChildren(
      results,
      last.map((u) =>
        h(
          'li',
          {},
          h(
            'button.picker-result',
            {
              type: 'button',
              dataset: { testid: 'user-result', userId: u.id, username: u.username },
              on: { click: () => onPick(u) },
            },
            avatar(displayName(u), { online: store.online.has(u.id) || Boolean(u.online) }),
            h(
              'span.picker-names',
              {},
              h('span.picker-name', { text: displayName(u) }),
              h('span.picker-username', { text: `@${u.username}` }),
            ),
          ),
        ),
      ),
    );
  }

  const search = debounce(async () => {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q) {
      show([]);
      status.textContent = 'Type a name to search.';
      return;
    }
    status.textContent = 'Searching…';
    try {
      const users = await api.searchUsers(q);
      if (mine !== seq) return;
      show(Array.isArray(users) ? users : []);
      status.textContent = last.length ? `${last.length} found.` : 'No one found with that name.';
    } catch (err) {
      if (mine !== seq) return;
      show([]);
      status.textContent = err.message;
    }
  }, 200);

  input.addEventListener('input', search);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      if (last.length) onPick(last[0]);
    } else if (e.key === 'ArrowDown' && last.length) {
      e.preventDefault();
      results.querySelector('button')?.focus();
    }
  });
  results.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...results.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    if (e.key === 'ArrowDown') buttons[Math.min(i + 1, buttons.length - 1)].focus();
    else if (i === 0) input.focus();
    else buttons[i - 1].focus();
  });
  status.textContent = 'Type a name to search.';

  const el = h('div.picker', {}, h('label', { htmlFor: id, text: label }), input, status, results);
  return {
    el,
    input,
    refresh: () => {
      show(last);
      search();
    },
  };
}
