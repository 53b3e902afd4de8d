// views/settings.js — the account dialog: who you are, your name (see profile.js), desktop
// notifications (see notifications.js), change password (the server ends every session and
// returns new tokens for this device), log out of this device or all devices, delete the account.

import { h } from '../dom.js';
import { displayName } from '../util.js';
import { openDialog } from './dialog.js';
import { field, showError, clearErrors, checkRequired, busy } from './forms.js';
import { toast } from './toast.js';
import { notificationSettings } from './notifications.js';
import { profileSection } from './profile.js';

/**
 * @param {{api: import('../api.js').Api, store: import('../state.js').Store,
 *          notifier: import('../notify.js').Notifier, onLogout: (notice?: string) => void}} deps
 */
export function openSettings({ api, store, notifier, onLogout }) {
  let notifications = null;
  openDialog({
    title: 'Account',
    testid: 'settings-dialog',
    build(body, close) {
      const me = store.me || {};
      const who = h(
        'div.account-card',
        {},
        h('p.account-name', { dataset: { testid: 'account-name' }, text: displayName(me) }),
        h('p.account-detail', { text: `@${me.username || ''}${me.email ? ` · ${me.email}` : ''}` }),
      );

      // Log out
      const logoutBtn = h('button.button', { type: 'button', dataset: { testid: 'logout' }, text: 'Log out' });
      const logoutAllBtn = h('button.button', { type: 'button', dataset: { testid: 'logout-all' }, text: 'Log out of all devices' });
      const sessionError = h('p.form-error', { role: 'alert', hidden: true });
      logoutBtn.addEventListener('click', async () => {
        await busy(logoutBtn, 'Logging out…', () => api.logout());
        close();
        onLogout('You have logged out.');
      });
      logoutAllBtn.addEventListener('click', async () => {
        sessionError.hidden = true;
        try {
          await busy(logoutAllBtn, 'Logging out…', () => api.logoutAll());
          close();
          onLogout('You have logged out of all devices.');
        } catch (err) {
          sessionError.textContent = err.message;
          sessionError.hidden = false;
        }
      });

      // Change password
      const pwFields = [
        field({ label: 'Current password', name: 'current_password', type: 'password', autocomplete: 'current-password', required: true }),
        field({
          label: 'New password',
          name: 'new_password',
          type: 'password',
          autocomplete: 'new-password',
          required: true,
          hint: 'At least 8 characters. Other devices will be logged out.',
        }),
      ];
      const pwError = h('p.form-error', { role: 'alert', dataset: { testid: 'form-error' }, hidden: true });
      const pwSubmit = h('button.button.primary', { type: 'submit', dataset: { testid: 'change-password' }, text: 'Change password' });
      const pwForm = h('form.dialog-form', { 'aria-label': 'Change password' }, pwFields.map((f) => f.wrap), pwError, pwSubmit);
      pwForm.noValidate = true;
      pwForm.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(pwFields, pwError);
        if (!checkRequired(pwFields)) return;
        try {
          await busy(pwSubmit, 'Changing…', () => api.changePassword(pwFields[0].input.value, pwFields[1].input.value));
          for (const f of pwFields) f.input.value = '';
          toast('Password changed. Other devices have been logged out.');
        } catch (err) {
          showError(err, pwFields, pwError, { current: 'current_password' });
        }
      });

      // Delete account
      const delField = field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'delete-password' });
      const delError = h('p.form-error', { role: 'alert', hidden: true });
      const delSubmit = h('button.button.danger', { type: 'submit', dataset: { testid: 'delete-account' }, text: 'Delete my account' });
      const delForm = h(
        'form.dialog-form',
        { 'aria-label': 'Delete account' },
        h('p.field-hint', { text: 'This deletes your account for good. Your messages stay, shown as from “Deleted User”.' }),
        delField.wrap,
        delError,
        delSubmit,
      );
      delForm.noValidate = true;
      delForm.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors([delField], delError);
        if (!checkRequired([delField])) return;
        try {
          await busy(delSubmit, 'Deleting…', () => api.deleteAccount(delField.input.value));
          close();
          onLogout('Your account was deleted.');
        } catch (err) {
          showError(err, [delField], delError, { password: 'password' });
        }
      });

      notifications = notificationSettings(notifier);
      const profile = profileSection({
        api,
        store,
        onSaved: (user) => {
          who.querySelector('.account-name').textContent = displayName(user);
        },
      });
      body.append(
        who,
        profile,
        notifications.el,
        h('section.dialog-section', { 'aria-label': 'Sessions' }, h('h3', { text: 'Sessions' }), h('div.button-row', {}, logoutBtn, logoutAllBtn), sessionError),
        h('section.dialog-section', { 'aria-label': 'Password' }, h('h3', { text: 'Change password' }), pwForm),
        h('section.dialog-section.danger-zone', { 'aria-label': 'Delete account' }, h('h3', { text: 'Delete account' }), delForm),
      );
      logoutBtn.focus();
    },
    onClose: () => notifications?.dispose(),
  });
}
