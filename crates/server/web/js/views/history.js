// views/history.js — how the reader moves through a conversation's history (conversation.js
// puts these together): older pages loaded one at a time on reaching the top; the "New
// messages" separator above the first message that was unread when the room was opened; the
// "jump to latest" button while scrolled up (with how many new messages wait below); and which
// messages have been on screen, which is what marks them read (an IntersectionObserver on the
// messages; chat.js marks read only while the page is visible and focused).

import { h } from '../dom.js';

const NEAR_TOP_PX = 200; // this close to the top of what is loaded: fetch the page before it
const NEAR_BOTTOM_PX = 120; // further than this from the newest message: offer "jump to latest"

/**
 * Load older pages while scrolling up: one page each time the reader reaches the top zone.
 * After a page comes in, conversation.js keeps the reader's place (the message they were on
 * stays put), which is away from the top; the next page waits until they come up again — so
 * Home, a fast wheel or a long fling fetch one page, never a chain of them.
 *
 * `hold()`: the view was just placed in the top zone by the client (opening a room at "N more
 * unread above" or "New messages"), not by the reader: nothing loads for that. The page before
 * then comes when the reader asks for it — scrolling up from there (wheel, Home, PageUp, ↑, a
 * swipe down) or leaving the top zone and coming back.
 *
 * @param {HTMLElement} scroller @param {{canLoad: () => boolean, load: () => void}} o
 * @returns {{hold: () => void}}
 */
export function loadOlderOnScroll(scroller, { canLoad, load }) {
  let armed = true; // the reader came (back) to the top zone since the last page
  let heldAt = null; // where the client placed the view in the top zone (hold), until it loads
  const up = () => {
    if (heldAt != null && scroller.scrollTop < NEAR_TOP_PX && canLoad()) {
      heldAt = null;
      armed = false;
      load();
    }
  };
  scroller.addEventListener(
    'scroll',
    () => {
      if (scroller.scrollTop >= NEAR_TOP_PX) {
        armed = true;
        heldAt = null;
      } else if (armed && canLoad()) {
        armed = false;
        load();
      } else if (heldAt != null && scroller.scrollTop < heldAt) {
        up(); // the reader went up from where the client put them
      }
    },
    { passive: true },
  );
  scroller.addEventListener('wheel', (e) => e.deltaY < 0 && up(), { passive: true });
  scroller.addEventListener('keydown', (e) => {
    if (['Home', 'PageUp', 'ArrowUp'].includes(e.key) && !e.target.closest?.('input, textarea, [contenteditable]')) up();
  });
  let touchY = null;
  scroller.addEventListener('touchstart', (e) => { touchY = e.touches[0]?.clientY ?? null; }, { passive: true });
  scroller.addEventListener('touchmove', (e) => {
    const y = e.touches[0]?.clientY;
    if (touchY != null && y != null && y - touchY > 10) up();
  }, { passive: true });
  return {
    hold() {
      if (scroller.scrollTop < NEAR_TOP_PX) {
        armed = false;
        heldAt = scroller.scrollTop;
      }
    },
  };
}

/** "New messages": goes above the first message unread when the room was opened. */
export function unreadSeparator() {
  return h(
    'li.unread-separator',
    { role: 'separator', 'aria-label': 'New messages', dataset: { testid: 'unread-separator' } },
    h('span', { text: 'New messages' }),
  );
}

/** Above the oldest message loaded, when unread messages older than it are not loaded yet:
 *  "N more unread above" (a click loads the page before). */
export function moreUnreadLine(n, onLoad) {
  const text = `${n} more unread above`;
  return h(
    'li.unread-separator.more-unread',
    { role: 'separator', 'aria-label': text, dataset: { testid: 'more-unread' } },
    h('button.link', { type: 'button', text, on: { click: onLoad } }),
  );
}

/**
 * The "jump to latest" button, at the bottom of the list while the reader is scrolled up:
 * "3 new messages" when some wait below, else "Jump to latest". Returns {el, update}; `el`
 * goes last in the scroller (it sticks to the bottom of the visible area).
 *
 * @param {HTMLElement} scroller @param {{unreadBelow: () => number, onJump: () => void}} o
 */
export function jumpToLatest(scroller, { unreadBelow, onJump }) {
  const label = h('span.jump-latest-label');
  const button = h(
    'button.jump-latest',
    { type: 'button', dataset: { testid: 'jump-latest' }, hidden: true, on: { click: () => onJump() } },
    h('span.jump-latest-arrow', { 'aria-hidden': 'true', text: '↓' }),
    label,
  );
  const el = h('div.jump-latest-dock', {}, button);
  const update = () => {
    const away = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight > NEAR_BOTTOM_PX;
    const n = away ? unreadBelow() : 0;
    const text = n > 0 ? `${n} new message${n === 1 ? '' : 's'}` : 'Jump to latest';
    if (label.textContent !== text) label.textContent = text;
    button.setAttribute('aria-label', n > 0 ? `${text}: jump to the latest message` : 'Jump to the latest message');
    if (button.hidden === away) button.hidden = !away;
  };
  scroller.addEventListener('scroll', update, { passive: true });
  return { el, update, button };
}

/**
 * Which messages are on screen: at least half of one in the list's visible area (or half of
 * that area, for a message taller than it). Calls `onChange` when that changes; `highest()` is
 * the newest seq on screen (0 when none).
 *
 * @param {HTMLElement} scroller @param {{onChange: () => void}} o
 */
export function trackOnScreen(scroller, { onChange }) {
  const visible = new Set();
  const observed = new Set();
  const io = new IntersectionObserver(
    (entries) => {
      for (const e of entries) {
        const rootHeight = e.rootBounds?.height || scroller.clientHeight;
        const shown =
          e.isIntersecting &&
          (e.intersectionRatio >= 0.5 || e.intersectionRect.height >= Math.min(e.boundingClientRect.height, rootHeight) * 0.5);
        if (shown && e.target.isConnected) visible.add(e.target);
        else visible.delete(e.target);
      }
      onChange();
    },
    { root: scroller, threshold: [0, 0.25, 0.5, 0.75, 1] },
  );
  return {
    /** Watch the messages now in `list` (and forget those gone). */
    sync(list) {
      for (const el of observed) {
        if (!el.isConnected) {
          io.unobserve(el);
          observed.delete(el);
          visible.delete(el);
        }
      }
      for (const el of list.children) {
        if (el.dataset.testid === 'message' && el.dataset.seq && !observed.has(el)) {
          observed.add(el);
          io.observe(el);
        }
      }
    },
    highest() {
      let top = 0;
      for (const el of visible) {
        const seq = Number(el.dataset.seq);
        if (el.isConnected && seq > top) top = seq;
      }
      return top;
    },
    disconnect() {
      io.disconnect();
      observed.clear();
      visible.clear();
    },
  };
}
