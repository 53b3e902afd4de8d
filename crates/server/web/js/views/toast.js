// views/toast.js — short notices at the bottom of the screen ("Message not sent", "Logged
// out of all devices"), announced to screen readers, gone after a few seconds.

import { h } from '../dom.js';

export function toast(message, { kind = 'info', ms = 5000 } = {}) {
  const host = document.getElementById('toasts');
  if (!host || !message) return;
  const el = h(`div.toast.toast-${kind}`, { dataset: { testid: 'toast' } }, message);
  host.appendChild(el);
  setTimeout(() => el.remove(), ms);
}
