// views/popover.js — small pop-ups anchored to a button: a menu (a message's "More actions")
// and the emoji picker for reactions. One at a time; placed below the button (above it when
// there is no room), kept inside the viewport, following the button when the page behind
// scrolls; Escape closes it and gives focus back to the button, as does Tab; a click
// elsewhere, resizing, or the button scrolling out of sight closes it.
// Menus follow the ARIA menu pattern (arrow keys, Home, End); the picker's emoji are moved
// through with the arrow keys, as laid out on screen.

import { h } from '../dom.js';
import { QUICK_REACTIONS, MORE_REACTIONS } from '../emoji.js';

let current = null; // {el, anchor, onClose, cleanup}

/** Close the open pop-up, if any. `restoreFocus`: give focus back to the button that opened it
 *  (or, if that button was re-rendered meanwhile, to its new self). */
export function closePopover({ restoreFocus = false } = {}) {
  const c = current;
  if (!c) return;
  current = null;
  c.cleanup();
  c.el.remove();
  c.anchor.setAttribute('aria-expanded', 'false');
  c.onClose?.();
  if (restoreFocus) anchorNow(c)?.focus({ preventScroll: true });
}

/** The anchor, or its replacement if the message it belongs to was rendered again. */
function anchorNow(c) {
  if (c.anchor.isConnected) return c.anchor;
  if (c.messageId == null || !c.focusKey) return null;
  const item = [...document.querySelectorAll('[data-testid="message"]')].find((el) => el.dataset.messageId === c.messageId);
  return [...(item?.querySelectorAll('[data-focus-key]') || [])].find((el) => el.dataset.focusKey === c.focusKey) || null;
}

function open(anchor, el, { onClose, focus }) {
  closePopover();
  document.body.appendChild(el);
  place(el, anchor);
  const onPointer = (e) => {
    if (!el.contains(e.target) && !anchor.contains(e.target)) closePopover();
  };
  // The history behind may scroll (a new message keeps it at the bottom): follow the button
  // while it is on screen.
  const onScroll = (e) => {
    if (el.contains(e.target) || current?.el !== el) return;
    const a = anchorNow(current);
    const r = a?.getBoundingClientRect();
    if (!r || r.bottom < 0 || r.top > window.innerHeight || (!r.width && !r.height)) closePopover();
    else place(el, a);
  };
  const onResize = () => closePopover();
  const onKey = (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      closePopover({ restoreFocus: true });
    } else if (e.key === 'Tab') {
      e.preventDefault();
      closePopover({ restoreFocus: true });
    }
  };
  document.addEventListener('pointerdown', onPointer, true);
  document.addEventListener('scroll', onScroll, true);
  window.addEventListener('resize', onResize);
  el.addEventListener('keydown', onKey);
  current = {
    el,
    anchor,
    onClose,
    messageId: anchor.closest('[data-message-id]')?.dataset.messageId ?? null,
    focusKey: anchor.dataset.focusKey || null,
    cleanup() {
      document.removeEventListener('pointerdown', onPointer, true);
      document.removeEventListener('scroll', onScroll, true);
      window.removeEventListener('resize', onResize);
    },
  };
  anchor.setAttribute('aria-expanded', 'true');
  focus?.focus({ preventScroll: true });
}

/** A second click on the button that opened the pop-up closes it. */
function toggledOff(anchor) {
  if (current?.anchor !== anchor) return false;
  closePopover({ restoreFocus: true });
  return true;
}

/** Below the anchor if it fits, else above; horizontally aligned with it, inside the viewport. */
function place(el, anchor) {
  const margin = 8;
  const a = anchor.getBoundingClientRect();
  const vw = document.documentElement.clientWidth;
  const vh = window.innerHeight;
  el.style.maxWidth = `${vw - 2 * margin}px`;
  const w = el.offsetWidth;
  const ht = el.offsetHeight;
  let top = a.bottom + 4;
  if (top + ht > vh - margin && a.top - 4 - ht >= margin) top = a.top - 4 - ht;
  top = Math.max(margin, Math.min(top, vh - margin - ht));
  // Toward the middle of the screen from the anchor: a button on the right opens leftwards.
  let left = a.left + a.width / 2 > vw / 2 ? a.right - w : a.left;
  left = Math.max(margin, Math.min(left, vw - margin - w));
  el.style.top = `${Math.round(top)}px`;
  el.style.left = `${Math.round(left)}px`;
}

/**
 * A menu of actions under `anchor`.
 * @param {HTMLElement} anchor
 * @param {{label: string, testid?: string, onClose?: () => void,
 *          items: {label: string, icon?: Node, testid?: string, danger?: boolean,
 *                  onSelect: () => void}[]}} o
 */
export function openMenu(anchor, { label, testid = 'message-menu', items, onClose }) {
  if (toggledOff(anchor)) return;
  const buttons = items.map((item) =>
    h(
      `button.menu-item${item.danger ? '.danger' : ''}`,
      {
        type: 'button',
        role: 'menuitem',
        tabIndex: -1,
        dataset: { testid: item.testid },
        on: {
          click: () => {
            closePopover({ restoreFocus: true });
            item.onSelect();
          },
        },
      },
      h('span.menu-icon', { 'aria-hidden': 'true' }, item.icon || null),
      h('span', { text: item.label }),
    ),
  );
  const el = h('div.popover.menu', { role: 'menu', 'aria-label': label, dataset: { testid } }, buttons);
  el.addEventListener('keydown', (e) => {
    const i = buttons.indexOf(document.activeElement);
    let next = null;
    if (e.key === 'ArrowDown') next = buttons[(i + 1) % buttons.length];
    else if (e.key === 'ArrowUp') next = buttons[(i - 1 + buttons.length) % buttons.length];
    else if (e.key === 'Home') next = buttons[0];
    else if (e.key === 'End') next = buttons[buttons.length - 1];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  });
  open(anchor, el, { onClose, focus: buttons[0] });
}

/**
 * The emoji picker under `anchor`: the common reactions, and "more" for the rest.
 * @param {HTMLElement} anchor
 * @param {{onPick: (emoji: string) => void, mine?: Set<string>, expanded?: boolean,
 *          onClose?: () => void}} o
 */
export function openEmojiPicker(anchor, { onPick, mine = new Set(), expanded = false, onClose }) {
  if (toggledOff(anchor)) return;
  const emojiButton = ([emoji, name]) =>
    h('button.emoji-option', {
      type: 'button',
      title: name,
      'aria-label': mine.has(emoji) ? `${name} (remove your reaction)` : name,
      'aria-pressed': mine.has(emoji) ? 'true' : 'false',
      dataset: { testid: 'emoji-option', emoji },
      text: emoji,
      on: {
        click: () => {
          closePopover({ restoreFocus: true });
          onPick(emoji);
        },
      },
    });
  const more = h('div.emoji-grid', { role: 'group', 'aria-label': 'More reactions', hidden: !expanded }, MORE_REACTIONS.map(emojiButton));
  const moreBtn = h('button.emoji-option.emoji-more', {
    type: 'button',
    title: 'More reactions',
    'aria-label': 'More reactions',
    'aria-expanded': expanded ? 'true' : 'false',
    dataset: { testid: 'more-emoji' },
    text: '⋯',
    on: {
      click: () => {
        more.hidden = !more.hidden;
        moreBtn.setAttribute('aria-expanded', String(!more.hidden));
        moreBtn.hidden = !more.hidden;
        if (current?.el === el) place(el, anchor);
        (more.hidden ? moreBtn : more.querySelector('button'))?.focus();
      },
    },
  });
  if (expanded) moreBtn.hidden = true;
  const quick = h('div.emoji-quick', { role: 'group', 'aria-label': 'Common reactions' }, QUICK_REACTIONS.map(emojiButton), moreBtn);
  const el = h('div.popover.emoji-picker', { role: 'dialog', 'aria-label': 'Add a reaction', dataset: { testid: 'emoji-picker' } }, quick, more);
  el.addEventListener('keydown', (e) => {
    const dir = { ArrowLeft: 'left', ArrowRight: 'right', ArrowUp: 'up', ArrowDown: 'down' }[e.key];
    if (!dir && e.key !== 'Home' && e.key !== 'End') return;
    const visible = [...el.querySelectorAll('button')].filter((b) => b.offsetParent !== null);
    const from = document.activeElement;
    let next = null;
    if (e.key === 'Home') next = visible[0];
    else if (e.key === 'End') next = visible[visible.length - 1];
    else next = neighbour(visible, from, dir);
    e.preventDefault();
    next?.focus();
  });
  open(anchor, el, { onClose, focus: el.querySelector('button') });
}

/** The button next to `from` in a direction, as laid out on screen (rows wrap). */
function neighbour(buttons, from, dir) {
  const i = buttons.indexOf(from);
  if (i < 0) return buttons[0];
  if (dir === 'left') return buttons[i - 1] || null;
  if (dir === 'right') return buttons[i + 1] || null;
  const r = from.getBoundingClientRect();
  const cx = r.left + r.width / 2;
  const rows = buttons
    .map((b) => ({ b, r: b.getBoundingClientRect() }))
    .filter(({ r: br }) => (dir === 'down' ? br.top >= r.bottom - 2 : br.bottom <= r.top + 2));
  if (!rows.length) return null;
  const rowTop = dir === 'down' ? Math.min(...rows.map((x) => x.r.top)) : Math.max(...rows.map((x) => x.r.top));
  const row = rows.filter((x) => Math.abs(x.r.top - rowTop) < 4);
  row.sort((a, b) => Math.abs(a.r.left + a.r.width / 2 - cx) - Math.abs(b.r.left + b.r.width / 2 - cx));
  return row[0].b;
}
