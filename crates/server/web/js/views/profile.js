// views/profile.js — the "Profile" part of the account dialog: the name people see (full name;
// empty shows the username instead). Saved with PATCH /auth/me; the people who share a room
// with us see it change live (`user_updated`), and so do our other devices.

import { h } from '../dom.js';
import { displayName } from '../util.js';
import { field, showError, clearErrors, busy } from './forms.js';
import { toast } from './toast.js';

const MAX_FULL_NAME = 100;

/**
 * @param {{api: import('../api.js').Api, store: import('../state.js').Store,
 *          onSaved?: (user: object) => void}} deps
 * @returns {HTMLElement}
 */
export function profileSection({ api, store, onSaved }) {
  const me = store.me || {};
  const name = field({
    label: 'Full name',
    name: 'full_name',
    autocomplete: 'name',
    maxlength: MAX_FULL_NAME,
    testid: 'profile-full-name',
    hint: `Shown to others instead of @${me.username || 'your username'}. Leave it empty to show your username.`,
  });
  name.input.value = me.full_name || '';
  name.input.spellcheck = true;
  name.input.autocapitalize = 'words';
  const error = h('p.form-error', { role: 'alert', dataset: { testid: 'profile-error' }, hidden: true });
  const save = h('button.button.primary', { type: 'submit', dataset: { testid: 'save-profile' }, text: 'Save' });
  const form = h('form.dialog-form', { 'aria-label': 'Profile', dataset: { testid: 'profile-form' } }, name.wrap, error, save);
  form.noValidate = true;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors([name], error);
    const value = name.input.value.trim();
    if (Array.from(value).length > MAX_FULL_NAME) {
      showError({ fields: { full_name: `Must be at most ${MAX_FULL_NAME} characters long.` } }, [name], error);
      return;
    }
    try {
      const user = await busy(save, 'Saving…', () => api.updateProfile(value || null));
      if (store.me && user && user.id === store.me.id) {
        store.me = { ...store.me, ...user };
        store.learnPerson(user);
        store.notify('me', 'rooms', 'messages', 'members');
      }
      name.input.value = user?.full_name || '';
      onSaved?.(user);
      toast(`Your name is now “${displayName(user)}”.`);
    } catch (err) {
      showError(err, [name], error, { 'full name': 'full_name' });
    }
  });
  return h('section.dialog-section', { 'aria-label': 'Profile' }, h('h3', { text: 'Profile' }), form);
}
