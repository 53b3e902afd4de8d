// views/members.js — a group's members: who is in it and online, who created it; the creator
// renames the group, adds people (search by name) and removes members (after a confirmation);
// anyone can leave. Live: when the group changes while it is open (someone joins, leaves, is
// removed, the group is renamed, or its creator deleted their account and we are the new
// owner), the list is fetched again and the owner's controls appear or go at once.

import { h, replaceChildren } from '../dom.js';
import { displayName } from '../util.js';
import { openDialog } from './dialog.js';
import { userPicker } from './userpicker.js';
import { toast } from './toast.js';
import { field, showError, clearErrors, checkRequired, busy } from './forms.js';

const MAX_GROUP_NAME = 100;

export function openMembers({ api, store, chat }, groupId) {
  const room = store.rooms.get(groupId);
  if (!room) return;
  const stops = [];
  openDialog({
    title: `Members of ${room.name}`,
    testid: 'members-dialog',
    onClose: () => {
      for (const stop of stops.splice(0)) stop();
    },
    build(body, close) {
      const me = store.me;
      const group = () => store.rooms.get(groupId) || room;
      const isCreator = () => group().created_by === store.me?.id;
      const heading = () => body.closest('dialog')?.querySelector('.dialog-header h2');
      let members = [];
      const status = h('p.dialog-status', { role: 'status', dataset: { testid: 'members-status' }, text: 'Loading members…' });
      const list = h('ul.member-list', { dataset: { testid: 'member-list' }, 'aria-label': 'Members' });
      const error = h('p.form-error', { role: 'alert', dataset: { testid: 'form-error' }, hidden: true });
      const fail = (err) => {
        error.textContent = err.message;
        error.hidden = false;
      };

      const render = () => {
        replaceChildren(
          list,
          members.map((m) => {
            const you = m.user_id === me?.id;
            // Unknown (no dot) while we are not connected; ourselves: whether we are.
            const online = you ? store.connection === 'online' : store.presenceOf(m.user_id);
            const name = displayName({ full_name: m.full_name, username: m.username });
            return h(
              'li.member',
              { dataset: { testid: 'member-item', userId: m.user_id, username: m.username } },
              h(`span.presence-dot.inline${online ? '.is-online' : ''}${online === null ? '.is-unknown' : ''}`, {
                'aria-label': online === null ? 'Status unknown' : online ? 'Online' : 'Offline',
                role: 'img',
              }),
              h(
                'span.member-names',
                {},
                h('span.member-name', { text: you ? `${name} (you)` : name }),
                h('span.member-username', { text: `@${m.username}${m.is_creator ? ' · creator' : ''}` }),
              ),
              isCreator() && !you
                ? h('button.button.small.danger', {
                    type: 'button',
                    dataset: { testid: 'remove-member' },
                    'aria-label': `Remove ${name} from the group`,
                    text: 'Remove',
                    on: { click: (e) => remove(m, e.currentTarget) },
                  })
                : null,
            );
          }),
        );
        status.textContent = `${members.length} member${members.length === 1 ? '' : 's'}`;
      };

      let loads = 0; // only the newest answer is shown (the group may change while one is on its way)
      const reload = async () => {
        const n = ++loads;
        try {
          const fresh = await chat.loadMembers(groupId);
          if (n !== loads) return;
          members = fresh;
          render();
        } catch (err) {
          if (n !== loads) return;
          status.textContent = '';
          fail(err);
        }
      };

      /** Ask first ("Remove Dave from Trip?"); Cancel keeps them. */
      const remove = (m, button) => {
        const name = displayName({ full_name: m.full_name, username: m.username });
        error.hidden = true;
        const asked = openDialog({
          title: `Remove ${name}?`,
          testid: 'remove-member-dialog',
          build(confirmBody, closeConfirm) {
            const confirmError = h('p.form-error', { role: 'alert', dataset: { testid: 'form-error' }, hidden: true });
            const confirm = h('button.button.danger', { type: 'button', dataset: { testid: 'confirm-remove-member' }, text: 'Remove' });
            confirm.addEventListener('click', async () => {
              confirm.disabled = true;
              confirmError.hidden = true;
              try {
                await chat.removeMember(groupId, m.user_id);
                closeConfirm({ restoreFocus: false });
                toast(`${name} was removed from the group.`);
                await reload();
                if (body.isConnected) (body.querySelector('[data-testid="remove-member"]') || list).focus?.();
              } catch (err) {
                confirm.disabled = false;
                confirmError.textContent = err.message;
                confirmError.hidden = false;
              }
            });
            confirmBody.append(
              h('p', { text: `${name} will be removed from “${group().name}” and stop receiving its messages. You can add them back later.` }),
              confirmError,
              h(
                'div.dialog-actions',
                {},
                h('button.button', { type: 'button', dataset: { testid: 'cancel-remove-member' }, text: 'Cancel', on: { click: () => closeConfirm() } }),
                confirm,
              ),
            );
          },
          onClose: () => {
            if (button.isConnected) button.disabled = false;
          },
        });
        // The members dialog closing by itself (we were removed, we left) takes the question too.
        stops.push(() => asked.close({ restoreFocus: false }));
      };

      body.append(status, list);

      // The creator's controls: rename the group, add people. Built when we are (or become) it.
      const ownerSlot = h('div.owner-controls', { dataset: { testid: 'owner-controls' } });
      let ownerShown = null;
      let renameShown = null; // {input, name}: the rename field and the name it was given
      const renderOwner = () => {
        const creator = isCreator();
        if (creator === ownerShown) return;
        ownerShown = creator;
        replaceChildren(ownerSlot, creator ? [renameSection(), addSection()] : []);
      };

      const renameSection = () => {
        const nameField = field({ label: 'Group name', name: 'name', maxlength: MAX_GROUP_NAME, required: true, testid: 'rename-input' });
        nameField.input.value = group().name || '';
        renameShown = { input: nameField.input, name: nameField.input.value };
        nameField.input.spellcheck = true;
        nameField.input.autocapitalize = 'sentences';
        const renameError = h('p.form-error', { role: 'alert', hidden: true });
        const save = h('button.button', { type: 'submit', dataset: { testid: 'rename-group' }, text: 'Rename' });
        const form = h('form.inline-form', { 'aria-label': 'Rename the group', dataset: { testid: 'rename-form' } }, nameField.wrap, save, renameError);
        form.noValidate = true;
        form.addEventListener('submit', async (e) => {
          e.preventDefault();
          clearErrors([nameField], renameError);
          if (!checkRequired([nameField])) return;
          const name = nameField.input.value.trim();
          if (name === group().name) return;
          try {
            const g = await busy(save, 'Renaming…', () => api.renameGroup(groupId, name));
            const now = store.rooms.get(groupId);
            if (now && g?.name) {
              now.name = g.name;
              store.notify('rooms', 'current');
            }
            toast(`The group is now called “${g?.name || name}”.`);
          } catch (err) {
            showError(err, [nameField], renameError);
          }
        });
        return h('div.dialog-section', { dataset: { testid: 'rename-section' } }, form);
      };

      const addSection = () => {
        const picker = userPicker({
          api,
          store,
          label: 'Add people',
          exclude: () => new Set(members.map((m) => m.user_id)),
          async onPick(user) {
            error.hidden = true;
            try {
              await chat.addMembers(groupId, [user.id]);
              toast(`${user.username} was added to the group.`);
              picker.input.value = '';
              await reload();
              picker.refresh();
              picker.input.focus();
            } catch (err) {
              fail(err);
            }
          },
        });
        return h('div.dialog-section', { dataset: { testid: 'add-members' } }, picker.el);
      };
      renderOwner();
      body.append(ownerSlot);

      const leaveBtn = h('button.button.danger', { type: 'button', dataset: { testid: 'leave-group' }, text: 'Leave group' });
      const confirmBox = h(
        'div.confirm',
        { hidden: true, role: 'group', 'aria-label': 'Confirm leaving' },
        h('p', { dataset: { testid: 'leave-question' }, text: `Leave “${room.name}”? You will stop receiving its messages.` }),
        h(
          'div.dialog-actions',
          {},
          h('button.button', {
            type: 'button',
            text: 'Stay',
            on: {
              click: () => {
                confirmBox.hidden = true;
                leaveBtn.hidden = false;
                leaveBtn.focus();
              },
            },
          }),
          h('button.button.danger', {
            type: 'button',
            dataset: { testid: 'confirm-leave' },
            text: 'Leave',
            on: {
              click: async (e) => {
                e.currentTarget.disabled = true;
                try {
                  const name = group().name;
                  await chat.leaveGroup(groupId);
                  close();
                  toast(`You left ${name}.`);
                } catch (err) {
                  e.currentTarget.disabled = false;
                  fail(err);
                }
              },
            },
          }),
        ),
      );
      leaveBtn.addEventListener('click', () => {
        confirmBox.querySelector('[data-testid="leave-question"]').textContent = `Leave “${group().name}”? You will stop receiving its messages.`;
        leaveBtn.hidden = true;
        confirmBox.hidden = false;
        confirmBox.querySelector('button')?.focus();
      });
      body.append(error, h('div.dialog-footer', {}, leaveBtn, confirmBox));
      reload();

      // The group changing while the dialog is open.
      stops.push(
        chat.on('frame', (f) => {
          if (f.type === 'room_changed' && f.room_id === groupId) reload();
        }),
        store.subscribe((topics) => {
          // Who is online (unknown while we are not connected): the dots follow.
          if ((topics.has('presence') || topics.has('connection')) && members.length) render();
          if (!topics.has('rooms') && !topics.has('current') && !topics.has('all')) return;
          const now = store.rooms.get(groupId);
          if (!now || now.removed) {
            close(); // we left, or were removed
            return;
          }
          const h2 = heading();
          const title = `Members of ${now.name}`;
          if (h2 && h2.textContent !== title) h2.textContent = title;
          // Renamed by someone else: the field follows, unless a new name is being written.
          if (renameShown && renameShown.name !== now.name && now.name) {
            if (renameShown.input.value === renameShown.name) renameShown.input.value = now.name;
            renameShown.name = now.name;
          }
          const owner = ownerShown;
          renderOwner();
          if (owner !== ownerShown && members.length) render(); // the remove buttons follow ownership
        }),
      );
    },
  });
}
