// views/notifications.js — the controls for notifications: the "Desktop notifications" switch
// in the settings (turning it on is the click the browser's permission prompt needs; a site
// the browser blocks is explained rather than silently failing), and a conversation's mute
// button (a bell; struck through while muted).

import { h } from '../dom.js';
import { icon } from './icons.js';

/**
 * The settings section.
 * @param {import('../notify.js').Notifier} notifier
 * @returns {{el: HTMLElement, dispose: () => void}}
 */
export function notificationSettings(notifier) {
  const toggle = h('input.switch', {
    type: 'checkbox',
    role: 'switch',
    id: 'notifications-toggle',
    'aria-describedby': 'notifications-hint',
    dataset: { testid: 'notifications-toggle' },
  });
  const hint = h('p.field-hint', { id: 'notifications-hint', dataset: { testid: 'notifications-hint' } });
  let asking = false;

  function render() {
    const permission = notifier.permission;
    if (!asking) toggle.checked = notifier.enabled;
    toggle.disabled = asking || permission === 'unsupported' || (permission === 'denied' && !notifier.enabled);
    if (permission === 'unsupported') hint.textContent = 'This browser cannot show desktop notifications.';
    else if (permission === 'denied') hint.textContent = 'Notifications are blocked for this site. Allow them in your browser’s site settings, then turn them on here.';
    else if (notifier.enabled) hint.textContent = 'On: direct messages, mentions of you and groups you have not muted, while Banter is in the background or another conversation is open.';
    else hint.textContent = 'Get a notification for new messages while Banter is in the background. Your browser asks for permission first.';
  }

  toggle.addEventListener('change', async () => {
    const want = toggle.checked;
    asking = true;
    render();
    try {
      await notifier.setEnabled(want);
    } finally {
      asking = false;
      render();
      toggle.focus();
    }
  });
  const dispose = notifier.subscribe(render);
  render();
  const el = h(
    'section.dialog-section',
    { 'aria-label': 'Notifications' },
    h('h3', { text: 'Notifications' }),
    h('div.switch-row', {}, toggle, h('label', { htmlFor: 'notifications-toggle', text: 'Desktop notifications' })),
    hint,
  );
  return { el, dispose };
}

/**
 * A conversation's mute button. `update(muted, hidden)` shows the state.
 * @param {{onToggle: () => void}} o
 */
export function muteButton({ onToggle }) {
  const el = h('button.icon-button.mute-button', {
    type: 'button',
    'aria-label': 'Mute notifications',
    'aria-pressed': 'false',
    dataset: { testid: 'mute-toggle' },
    hidden: true,
    on: { click: onToggle },
  });
  let shown = null;
  return {
    el,
    update(muted, hidden) {
      el.hidden = hidden;
      if (shown === muted) return;
      shown = muted;
      el.setAttribute('aria-pressed', String(muted));
      el.title = muted ? 'Muted: only mentions of you notify. Click to unmute.' : 'Mute notifications (mentions of you still notify)';
      el.replaceChildren(icon(muted ? 'bell-off' : 'bell'));
    },
  };
}
