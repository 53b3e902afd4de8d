// views/avatar.js — a round badge with a person's or group's initials, coloured from the name
// (the colour is set through the CSSOM, which the Content-Security-Policy allows), with an
// optional online dot for DMs.

import { h } from '../dom.js';
import { initials, hueFor } from '../util.js';

/** @param {string} name @param {{group?: boolean, online?: boolean|null}} o */
export function avatar(name, { group = false, online = null } = {}) {
  const el = h(`span.avatar${group ? '.avatar-group' : ''}`, { 'aria-hidden': 'true', text: initials(name) });
  el.style.setProperty('--hue', String(hueFor(name)));
  const wrap = h('span.avatar-wrap', {}, el);
  if (online !== null) {
    wrap.appendChild(
      h(`span.presence-dot${online ? '.is-online' : ''}`, {
        dataset: { testid: 'online-dot', online: online ? 'true' : 'false' },
      }),
    );
  }
  return wrap;
}
