// connection-status.js — the banner above everything that says how the connection is, and
// only what is known: "Connecting…" (only if it takes a moment), "Reconnecting…" (the first
// quick attempts after losing the server), "Can't reach the server. Trying again in 12 s"
// (attempts keep failing while the network is up: the client keeps trying, for ever, see
// realtime.js) and "You're offline" (the browser has no network). "Try now" skips the wait.
// Hidden while connected. `data-state` carries the state for styles and tests.

import { h, replaceChildren } from './dom.js';

const CONNECTING_DELAY_MS = 1500; // a first connection this quick needs no banner

/**
 * @param {HTMLElement} banner
 * @param {{store: import('./state.js').Store, onRetry: () => void}} deps
 */
export function mountConnectionStatus(banner, { store, onRetry }) {
  let delay = null;
  let ticker = null;
  const tryNow = () =>
    h('button.button.small', {
      type: 'button',
      dataset: { testid: 'reconnect' },
      text: 'Try now',
      on: { click: () => onRetry() },
    });

  /** "in 12 s", or "now" when the attempt is on its way. */
  function when() {
    const at = store.connectionRetryAt;
    if (!at) return 'Trying again…';
    const s = Math.max(1, Math.ceil((at - Date.now()) / 1000));
    return `Trying again in ${s} s.`;
  }

  function render() {
    clearTimeout(delay);
    clearInterval(ticker);
    const s = store.connection;
    banner.dataset.state = s;
    if (s === 'reconnecting') {
      banner.textContent = 'Reconnecting…';
      banner.hidden = false;
    } else if (s === 'unreachable') {
      const text = h('span', { dataset: { testid: 'connection-text' } });
      const update = () => {
        text.textContent = `Can't reach the server. ${when()} `;
      };
      update();
      replaceChildren(banner, text, tryNow());
      banner.hidden = false;
      if (store.connectionRetryAt) ticker = setInterval(update, 1000);
    } else if (s === 'offline') {
      replaceChildren(
        banner,
        h('span', { dataset: { testid: 'connection-text' }, text: "You're offline. Messages you write will be sent when you're back online. " }),
        tryNow(),
      );
      banner.hidden = false;
    } else if (s === 'connecting') {
      delay = setTimeout(() => {
        banner.textContent = 'Connecting…';
        banner.hidden = false;
      }, CONNECTING_DELAY_MS);
    } else {
      banner.hidden = true;
      banner.textContent = '';
    }
  }

  store.subscribe((topics) => {
    if (topics.has('connection') || topics.has('all')) render();
  });
  render();
}
