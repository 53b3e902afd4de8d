// views/auth.js — the login and registration screen. Login takes a username or an email;
// registration shows the server's validation errors inline next to each field.

import { h, replaceChildren } from '../dom.js';
import { field, showError, clearErrors, checkRequired, busy } from './forms.js';

/**
 * @param {HTMLElement} root
 * @param {{api: import('../api.js').Api, onLoggedIn: (user: object) => void, notice?: string}} deps
 */
export function renderAuth(root, { api, onLoggedIn, notice }) {
  let mode = 'login';

  const loginFields = [
    field({ label: 'Username or email', name: 'username', autocomplete: 'username', required: true }),
    field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
  ];
  const loginError = h('p.form-error', { role: 'alert', dataset: { testid: 'form-error' }, hidden: true });
  const loginSubmit = h('button.button.primary.block', { type: 'submit', dataset: { testid: 'login-submit' }, text: 'Log in' });
  const loginForm = h(
    'form.auth-form',
    { 'aria-label': 'Log in', dataset: { testid: 'login-form' } },
    loginFields.map((f) => f.wrap),
    loginError,
    loginSubmit,
  );
  loginForm.noValidate = true;
  loginForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(loginFields, loginError);
    if (!checkRequired(loginFields)) return;
    const [u, p] = loginFields;
    try {
      const user = await busy(loginSubmit, 'Logging in…', () => api.login(u.input.value.trim(), p.input.value));
      onLoggedIn(user);
    } catch (err) {
      showError(err, loginFields, loginError);
    }
  });

  const regFields = [
    field({
      label: 'Username',
      name: 'username',
      autocomplete: 'username',
      required: true,
      hint: '3–50 characters, no spaces at either end.',
    }),
    field({ label: 'Email', name: 'email', type: 'email', autocomplete: 'email', required: true }),
    field({ label: 'Full name (optional)', name: 'full_name', autocomplete: 'name' }),
    field({
      label: 'Password',
      name: 'password',
      type: 'password',
      autocomplete: 'new-password',
      required: true,
      hint: 'At least 8 characters.',
    }),
  ];
  const regError = h('p.form-error', { role: 'alert', dataset: { testid: 'form-error' }, hidden: true });
  const regSubmit = h('button.button.primary.block', {
    type: 'submit',
    dataset: { testid: 'register-submit' },
    text: 'Create account',
  });
  const regForm = h(
    'form.auth-form',
    { 'aria-label': 'Create an account', dataset: { testid: 'register-form' } },
    regFields.map((f) => f.wrap),
    regError,
    regSubmit,
  );
  regForm.noValidate = true;
  regForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(regFields, regError);
    if (!checkRequired(regFields)) return;
    const [u, em, fn, pw, invite] = regFields;
    try {
      const user = await busy(regSubmit, 'Creating account…', () =>
        api.register({
          username: u.input.value.trim(),
          email: em.input.value.trim(),
          full_name: fn.input.value.trim(),
          password: pw.input.value,
          invite_code: invite ? invite.input.value.trim() : undefined,
        }),
      );
      onLoggedIn(user);
    } catch (err) {
      showError(err, regFields, regError, { username: 'username', email: 'email', password: 'password' });
    }
  });

  const loginTab = h('button.tab', { type: 'button', role: 'tab', id: 'tab-login', 'aria-controls': 'auth-panel', dataset: { testid: 'tab-login' }, text: 'Log in' });
  const regTab = h('button.tab', { type: 'button', role: 'tab', id: 'tab-register', 'aria-controls': 'auth-panel', dataset: { testid: 'tab-register' }, text: 'Create account' });
  const tabs = h('div.tabs', { role: 'tablist', 'aria-label': 'Log in or create an account' }, loginTab, regTab);
  const panel = h('div.auth-panel', { role: 'tabpanel', id: 'auth-panel' });

  function setMode(next, focus = true) {
    mode = next;
    loginTab.setAttribute('aria-selected', String(mode === 'login'));
    regTab.setAttribute('aria-selected', String(mode === 'register'));
    loginTab.tabIndex = mode === 'login' ? 0 : -1;
    regTab.tabIndex = mode === 'register' ? 0 : -1;
    panel.setAttribute('aria-labelledby', mode === 'login' ? 'tab-login' : 'tab-register');
    replaceChildren(panel, mode === 'login' ? loginForm : regForm);
    if (focus) (mode === 'login' ? loginFields : regFields)[0].input.focus();
  }
  loginTab.addEventListener('click', () => setMode('login'));
  regTab.addEventListener('click', () => setMode('register'));
  tabs.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      e.preventDefault();
      setMode(mode === 'login' ? 'register' : 'login');
      (mode === 'login' ? loginTab : regTab).focus();
    }
  });

  // Which registration mode the server is in: an invite code field, or no registration at all.
  const closedNote = h('p.notice', {
    role: 'status',
    dataset: { testid: 'registration-closed' },
    text: 'Registration is closed on this server: ask its administrator for an account.',
    hidden: true,
  });
  api
    .registrationMode()
    .then((registration) => {
      if (registration === 'invite') {
        const invite = field({
          label: 'Invite code',
          name: 'invite_code',
          autocomplete: 'off',
          required: true,
          hint: 'This server registers people by invitation: paste the code you were given.',
        });
        regFields.push(invite);
        regForm.insertBefore(invite.wrap, regError);
      } else if (registration === 'closed') {
        regTab.hidden = true;
        closedNote.hidden = false;
        if (mode === 'register') setMode('login', false);
      }
    })
    .catch(() => {
      /* an older server: registration as usual */
    });

  const card = h(
    'div.auth-card',
    {},
    h('div.brand', {}, h('span.brand-mark', { 'aria-hidden': 'true', text: 'B' }), h('h1', { text: 'Banter' })),
    h('p.auth-tagline', { text: 'Chat with your people, on your own server.' }),
    notice ? h('p.notice', { role: 'status', dataset: { testid: 'auth-notice' }, text: notice }) : null,
    tabs,
    closedNote,
    panel,
  );
  replaceChildren(root, h('div.auth-screen', { dataset: { testid: 'auth-screen' } }, card));
  setMode('login', true);
}
