// views/dialog.js — modal dialogs on the native <dialog> element: focus moves in and is
// trapped while open, Escape closes, focus returns to whatever opened it, a click on the
// backdrop closes too. Each dialog's content is built by a function.

import { h } from '../dom.js';

let counter = 0;

/**
 * `close({restoreFocus: false})` leaves focus alone (whoever closes it moves focus on).
 * @param {{title: string, testid: string, className?: string,
 *          build: (body: HTMLElement, close: (o?: {restoreFocus?: boolean}) => void) => void,
 *          onClose?: () => void}} opts
 * @returns {{close: (o?: {restoreFocus?: boolean}) => void, dialog: HTMLDialogElement}}
 */
export function openDialog({ title, testid, className, build, onClose }) {
  const opener = document.activeElement;
  const titleId = `dialog-title-${++counter}`;
  const body = h('div.dialog-body');
  const closeBtn = h('button.icon-button.dialog-close', {
    type: 'button',
    'aria-label': 'Close',
    title: 'Close',
    dataset: { testid: 'dialog-close' },
    text: '×',
  });
  const dialog = h(
    'dialog.dialog',
    { 'aria-labelledby': titleId, dataset: { testid }, class: className },
    h('div.dialog-inner', {}, h('header.dialog-header', {}, h('h2', { id: titleId, text: title }), closeBtn), body),
  );
  let restoreFocus = true;
  const close = (o) => {
    restoreFocus = o?.restoreFocus !== false;
    if (dialog.open) dialog.close();
  };
  closeBtn.addEventListener('click', () => close());
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) close(); // the backdrop
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    onClose?.();
    if (restoreFocus && opener && opener instanceof HTMLElement && opener.isConnected) opener.focus();
  });
  build(body, close);
  document.body.appendChild(dialog);
  dialog.showModal();
  const first = body.querySelector('[autofocus], input, textarea, select, button');
  if (first) first.focus();
  return { close, dialog };
}

/** Close every open dialog (e.g. on logout). */
export function closeAllDialogs() {
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
}
