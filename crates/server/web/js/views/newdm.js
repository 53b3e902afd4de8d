// views/newdm.js — the "New message" dialog: find a person, then open the conversation with
// them (an existing DM, or a draft that the first message turns into a room).

import { openDialog } from './dialog.js';
import { userPicker } from './userpicker.js';
import { navigate } from '../router.js';

export function openNewDm({ api, store }) {
  openDialog({
    title: 'New message',
    testid: 'new-dm-dialog',
    build(body, close) {
      const picker = userPicker({
        api,
        store,
        label: 'To',
        exclude: () => new Set(store.me ? [store.me.id] : []),
        onPick(user) {
          close();
          store.drafts.set(user.id, user);
          const room = store.dmWith(user.id);
          navigate(room ? `/room/${room.room_id}` : `/user/${user.id}`);
        },
      });
      body.appendChild(picker.el);
    },
  });
}
