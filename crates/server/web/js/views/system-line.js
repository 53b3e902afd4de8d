// views/system-line.js — a line in a group's timeline saying what happened to the group
// rather than what someone wrote: "Carol added Dave", "Erin left", "Carol renamed the group to
// “Trip”", "You are now the owner of this group" (see live-rooms.js). Text only, never markup.

import { h } from '../dom.js';
import { fullTime, timeLabel } from '../util.js';

/** @param {{text: string, time: Date}} n */
export function noticeLine(n) {
  return h(
    'li.system-line',
    { dataset: { testid: 'system-line' } },
    h('span.system-line-text', { dataset: { testid: 'system-line-text' }, text: n.text }),
    h('time.system-line-time', { datetime: n.time.toISOString(), title: fullTime(n.time), text: timeLabel(n.time) }),
  );
}
