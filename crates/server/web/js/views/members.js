// views/members.js — a group's members: who is in it and online, who created it; the creator
// adds people (search by name) and removes members; anyone can leave.

import { h, replaceChildren } from '../dom.js';
import { displayName } from '../util.js';
import { openDialog } from './dialog.js';
import { userPicker } from './userpicker.js';
import { toast } from './toast.js';

export function openMembers({ api, store, chat }, groupId) {
  const room = store.rooms.get(groupId);
  if (!room) return;
  openDialog({
    title: `Members of ${room.name}`,
    testid: 'members-dialog',
    build(body, close) {
      const me = store.me;
      const isCreator = room.created_by === me?.id;
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
            const online = you || store.online.has(m.user_id) || Boolean(m.online);
            const name = displayName({ full_name: m.full_name, username: m.username });
            return h(
              'li.member',
              { dataset: { testid: 'member-item', userId: m.user_id, username: m.username } },
              h(`span.presence-dot.inline${online ? '.is-online' : ''}`, {
                'aria-label': online ? 'Online' : 'Offline',
                role: 'img',
              }),
              h(
                'span.member-names',
                {},
                h('span.member-name', { text: you ? `${name} (you)` : name }),
                h('span.member-username', { text: `@${m.username}${m.is_creator ? ' · creator' : ''}` }),
              ),
              isCreator && !you
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

      const reload = async () => {
        try {
          members = await chat.loadMembers(groupId);
          render();
        } catch (err) {
          status.textContent = '';
          fail(err);
        }
      };

      const remove = async (m, button) => {
        error.hidden = true;
        button.disabled = true;
        try {
          await chat.removeMember(groupId, m.user_id);
          toast(`${m.username} was removed from the group.`);
          await reload();
        } catch (err) {
          button.disabled = false;
          fail(err);
        }
      };

      body.append(status, list);

      if (isCreator) {
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
        body.append(h('div.dialog-section', { dataset: { testid: 'add-members' } }, picker.el));
      }

      const leaveBtn = h('button.button.danger', { type: 'button', dataset: { testid: 'leave-group' }, text: 'Leave group' });
      const confirmBox = h(
        'div.confirm',
        { hidden: true, role: 'group', 'aria-label': 'Confirm leaving' },
        h('p', { text: `Leave “${room.name}”? You will stop receiving its messages.` }),
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
                  await chat.leaveGroup(groupId);
                  close();
                  toast(`You left ${room.name}.`);
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
        leaveBtn.hidden = true;
        confirmBox.hidden = false;
        confirmBox.querySelector('button')?.focus();
      });
      body.append(error, h('div.dialog-footer', {}, leaveBtn, confirmBox));
      reload();
    },
  });
}
