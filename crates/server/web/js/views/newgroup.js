// views/newgroup.js — the "New group" dialog: a name, members picked by searching names,
// then POST /groups/create and open the new group.

import { h, replaceChildren } from '../dom.js';
import { displayName } from '../util.js';
import { openDialog } from './dialog.js';
import { field, showError, clearErrors, setFieldError, busy } from './forms.js';
import { userPicker } from './userpicker.js';

export function openNewGroup({ api, store, chat }) {
  openDialog({
    title: 'New group',
    testid: 'new-group-dialog',
    build(body, close) {
      const selected = new Map(); // id -> user
      const name = field({ label: 'Group name', name: 'name', required: true, maxlength: 100, testid: 'group-name' });
      const chips = h('ul.chips', { dataset: { testid: 'selected-members' }, 'aria-label': 'Members to add' });
      const formError = h('p.form-error', { role: 'alert', dataset: { testid: 'form-error' }, hidden: true });
      const memberNote = h('p.field-error', { dataset: { testid: 'error-member_ids' }, hidden: true });
      const create = h('button.button.primary', { type: 'submit', dataset: { testid: 'create-group' }, text: 'Create group' });

      const renderChips = () => {
        replaceChildren(
          chips,
          [...selected.values()].map((u) =>
            h(
              'li.chip',
              { dataset: { testid: 'selected-member', userId: u.id } },
              h('span', { text: displayName(u) }),
              h('button.chip-remove', {
                type: 'button',
                'aria-label': `Remove ${displayName(u)}`,
                text: '×',
                on: {
                  click: () => {
                    selected.delete(u.id);
                    renderChips();
                    picker.refresh();
                    picker.input.focus();
                  },
                },
              }),
            ),
          ),
        );
      };
      const picker = userPicker({
        api,
        store,
        label: 'Add people',
        exclude: () => new Set([store.me?.id, ...selected.keys()]),
        onPick(user) {
          selected.set(user.id, user);
          memberNote.hidden = true;
          renderChips();
          picker.input.value = '';
          picker.refresh();
          picker.input.focus();
        },
      });

      const form = h(
        'form.dialog-form',
        { 'aria-label': 'New group' },
        name.wrap,
        picker.el,
        h('p.chips-label', { text: 'Members' }),
        chips,
        memberNote,
        formError,
        h('div.dialog-actions', {}, h('button.button', { type: 'button', text: 'Cancel', on: { click: close } }), create),
      );
      form.noValidate = true;
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors([name], formError);
        memberNote.hidden = true;
        if (!name.input.value.trim()) {
          setFieldError(name, 'Give the group a name.');
          name.input.focus();
          return;
        }
        if (selected.size === 0) {
          memberNote.textContent = 'Add at least one member.';
          memberNote.hidden = false;
          return;
        }
        try {
          await busy(create, 'Creating…', () => chat.createGroup(name.input.value.trim(), [...selected.keys()]));
          close();
        } catch (err) {
          if (err.fields?.member_ids) {
            memberNote.textContent = err.fields.member_ids;
            memberNote.hidden = false;
          }
          showError(err, [name], formError);
        }
      });
      // Enter in the search box picks a person; it must not submit the form.
      body.appendChild(form);
      name.input.focus();
    },
  });
}
