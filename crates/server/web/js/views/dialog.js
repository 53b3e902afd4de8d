// views/dialog.js — modal dialogs on the native <dialog> element: focus moves in and is
// trapped while open, Escape closes, focus returns to whatever opened it, a click on the
// backdrop closes too. Each dialog's content is built by a function.

import { h } from '../dom.js';

let counter = 0;

/**
 * @param {{title: string, testid: string, build: (body: HTMLElement, close: () => void) => void,
 *          onClose?: () => void}} opts
 * @returns {{close: () => void, dialog: HTMLDialogElement}}
 */
export function openDialog({ title, testid, build, onClose }) {
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
    { 'aria-labelledby': titleId, dataset: { testid } },
    h('div.dialog-inner', {}, h('header.dialog-header', {}, h('h2', { id: titleId, text: title }), closeBtn), body),
  );
  const close = () => {
    if (dialog.open) dialog.close();
  };
  closeBtn.addEventListener('click', close);
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) close(); // the backdrop
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    onClose?.();
    if (opener && opener instanceof HTMLElement && opener.isConnected) opener.focus();
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
