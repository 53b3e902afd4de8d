// views/attachments.js — how files look: in a message, images as previews (their thumbnail,
// in a box of the right shape before it loads, so nothing jumps) that open full size in a
// lightbox, and other files as chips with an icon, the name, the size and a download button;
// in the composer, the attach button (a hidden file picker), pasted images, and the tray of
// uploads (a progress bar each, × to remove, the reason when one failed); and dropping files
// on the conversation. File names are user text: they only ever go in as text.

import { h } from '../dom.js';
import { humanSize, isImage } from '../attachments.js';
import { icon } from './icons.js';
import { toast } from './toast.js';

const PREVIEW_MAX = 280; // one image in a message: at most this wide and tall (CSS px)
const PREVIEW_MAX_MANY = 200; // several side by side

/** w×h scaled down (never up) to fit in maxW×maxH. */
function fit(w, h, maxW, maxH) {
  const s = Math.min(1, maxW / w, maxH / h);
  return { w: Math.max(1, Math.round(w * s)), h: Math.max(1, Math.round(h * s)) };
}

// ---- in messages -------------------------------------------------------------------------------

/**
 * A message's attachments: images first (previews), then the other files (chips).
 * @param {object[]} list the message's `attachments`
 * @param {import('../attachments.js').Files} files
 */
export function messageAttachments(list, files) {
  const images = list.filter(isImage);
  const others = list.filter((a) => !isImage(a));
  const max = images.length > 1 ? PREVIEW_MAX_MANY : PREVIEW_MAX;
  return h(
    'div.msg-attachments',
    { dataset: { testid: 'attachments' } },
    images.length ? h('div.msg-images', {}, images.map((a) => imagePreview(a, files, max))) : null,
    others.map((a) => fileChip(a, files)),
  );
}

function imagePreview(a, files, max) {
  const size = fit(a.width, a.height, max, max);
  const img = h('img.attachment-image', { alt: a.filename, width: size.w, height: size.h, decoding: 'async' });
  const button = h(
    'button.attachment-preview',
    {
      type: 'button',
      title: `${a.filename} (${humanSize(a.size)})`,
      'aria-label': `Open ${a.filename} full size`,
      dataset: { testid: 'attachment-preview', attachmentId: a.id, focusKey: `attachment:${a.id}`, state: 'loading' },
      on: { click: () => openLightbox(a, files) },
    },
    img,
  );
  // The shape is known before the picture arrives: the box keeps its place.
  button.style.width = `${size.w}px`;
  button.style.aspectRatio = `${size.w} / ${size.h}`;
  img.addEventListener('load', () => {
    button.dataset.state = 'loaded';
  });
  const broken = () => {
    button.dataset.state = 'error';
    img.hidden = true;
    if (!button.querySelector('.attachment-broken')) {
      button.append(h('span.attachment-broken', {}, icon('file'), h('span', { text: 'Preview unavailable' })));
    }
  };
  img.addEventListener('error', broken);
  const now = files.thumbnailNow(a);
  if (now) img.src = now;
  else {
    files.thumbnail(a).then(
      (url) => {
        img.src = url;
      },
      broken,
    );
  }
  return button;
}

function fileChip(a, files) {
  const download = downloadButton(a, files, 'attachment-download');
  return h(
    'div.file-chip',
    { dataset: { testid: 'attachment-file', attachmentId: a.id } },
    h('span.file-chip-icon', { 'aria-hidden': 'true' }, icon('file'), h('span.file-chip-ext', { text: extensionOf(a.filename) })),
    h(
      'span.file-chip-text',
      {},
      h('span.file-chip-name', { dataset: { testid: 'attachment-name' }, title: a.filename, text: a.filename }),
      h('span.file-chip-size', { dataset: { testid: 'attachment-size' }, text: humanSize(a.size) }),
    ),
    download,
  );
}

/** "PDF", "ZIP"… (at most 4 letters), for the chip's icon. */
function extensionOf(name) {
  const m = /\.([a-z0-9]{1,4})$/i.exec(String(name || ''));
  return m ? m[1].toUpperCase() : '';
}

function downloadButton(a, files, testid) {
  const button = h(
    'button.icon-button.download-button',
    {
      type: 'button',
      title: `Download ${a.filename}`,
      'aria-label': `Download ${a.filename}`,
      dataset: { testid, focusKey: `${testid}:${a.id}` },
    },
    icon('download'),
  );
  button.addEventListener('click', async () => {
    if (button.getAttribute('aria-busy') === 'true') return;
    button.setAttribute('aria-busy', 'true');
    try {
      await files.download(a);
    } catch (err) {
      toast(`${a.filename} could not be downloaded. ${err?.message || ''}`.trim(), { kind: 'error' });
    } finally {
      button.removeAttribute('aria-busy');
    }
  });
  return button;
}

/**
 * The image full size over everything (a modal <dialog>: Escape, the × button or a click
 * beside the picture closes it, and focus goes back to the preview). The thumbnail stands in
 * until the full image has arrived.
 */
export function openLightbox(a, files) {
  const opener = document.activeElement;
  const img = h('img.lightbox-image', { alt: a.filename, dataset: { testid: 'lightbox-image', state: 'loading' } });
  const status = h('p.lightbox-status', { role: 'status', dataset: { testid: 'lightbox-status' }, text: 'Loading…' });
  const close = h(
    'button.icon-button.lightbox-close',
    { type: 'button', 'aria-label': 'Close', title: 'Close (Esc)', dataset: { testid: 'lightbox-close' } },
    icon('close'),
  );
  const stage = h('div.lightbox-stage', {}, img, status);
  const dialog = h(
    'dialog.lightbox',
    { 'aria-label': a.filename, dataset: { testid: 'lightbox', attachmentId: a.id } },
    h(
      'div.lightbox-bar',
      {},
      h(
        'span.lightbox-title',
        {},
        h('span.lightbox-name', { dataset: { testid: 'lightbox-name' }, title: a.filename, text: a.filename }),
        h('span.lightbox-size', { text: `${a.width} × ${a.height} · ${humanSize(a.size)}` }),
      ),
      downloadButton(a, files, 'lightbox-download'),
      close,
    ),
    stage,
  );

  // The picture as large as fits, never larger than it is; the box is sized before it loads.
  const layout = () => {
    const maxW = Math.max(1, window.innerWidth - 24);
    const maxH = Math.max(1, window.innerHeight - 90);
    const size = fit(a.width, a.height, maxW, maxH);
    img.style.width = `${size.w}px`;
    img.style.height = `${size.h}px`;
  };
  layout();
  window.addEventListener('resize', layout);

  let open = true;
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog || e.target === stage) dialog.close(); // beside the picture
  });
  dialog.addEventListener('close', () => {
    open = false;
    window.removeEventListener('resize', layout);
    dialog.remove();
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus({ preventScroll: true });
  });

  const thumb = files.thumbnailNow(a);
  if (thumb) img.src = thumb;
  files.full(a).then(
    (url) => {
      if (!open) return;
      img.addEventListener('load', () => {
        if (img.currentSrc !== url && img.src !== url) return; // the thumbnail standing in
        img.dataset.state = 'loaded';
        status.textContent = '';
        status.hidden = true;
      });
      img.src = url;
    },
    (err) => {
      if (!open) return;
      img.dataset.state = 'error';
      status.textContent = `The image could not be loaded. ${err?.message || ''}`.trim();
    },
  );
  document.body.appendChild(dialog);
  dialog.showModal();
  close.focus();
  return dialog;
}

// ---- in the composer ---------------------------------------------------------------------------

/**
 * The composer's part in attachments: the attach button with its hidden file picker, pasted
 * files, and the tray of uploads (shown above the text box).
 * @param {{tray: import('../attachments.js').UploadTray, input: HTMLTextAreaElement,
 *          onError: (message: string) => void, onChange: () => void}} o
 */
export function composerAttachments({ tray, input, onError, onChange }) {
  const picker = h('input.visually-hidden', {
    type: 'file',
    multiple: true,
    tabIndex: -1,
    'aria-hidden': 'true',
    dataset: { testid: 'file-input' },
  });
  const button = h(
    'button.icon-button.attach-button',
    { type: 'button', 'aria-label': 'Attach files', title: 'Attach files', dataset: { testid: 'attach-button' } },
    icon('paperclip'),
  );
  const list = h('ul.upload-list', { 'aria-label': 'Files to send', dataset: { testid: 'uploads' } });
  const live = h('p.visually-hidden', { 'aria-live': 'polite' });
  const el = h('div.upload-tray', { hidden: true }, list, live);
  const chips = new Map(); // item key -> {li, ...parts}

  const add = (files, opts) => {
    const err = tray.add(files, opts);
    if (err) onError(err);
  };
  button.addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    if (picker.files?.length) add(picker.files);
    picker.value = '';
    input.focus();
  });
  input.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (!files.length) return; // text: the box takes it as usual
    e.preventDefault();
    add(files, { pasted: true });
  });

  function chip(item) {
    const thumb = h('span.upload-thumb', { 'aria-hidden': 'true' });
    if (item.localUrl) thumb.append(h('img', { src: item.localUrl, alt: '' }));
    else thumb.append(icon('file'));
    const name = h('span.upload-name', { dataset: { testid: 'upload-name' }, title: item.name, text: item.name });
    const status = h('span.upload-status', { dataset: { testid: 'upload-status' } });
    const bar = h('span.upload-progress-bar');
    const progress = h(
      'span.upload-progress',
      {
        role: 'progressbar',
        'aria-valuemin': '0',
        'aria-valuemax': '100',
        'aria-label': `Uploading ${item.name}`,
        dataset: { testid: 'upload-progress' },
      },
      bar,
    );
    const remove = h(
      'button.icon-button.upload-remove',
      {
        type: 'button',
        'aria-label': `Remove ${item.name}`,
        title: 'Remove',
        dataset: { testid: 'upload-remove' },
        on: {
          click: () => {
            tray.remove(item.key);
            input.focus();
          },
        },
      },
      icon('close'),
    );
    const li = h(
      'li.upload-chip',
      { dataset: { testid: 'upload', key: item.key, name: item.name } },
      thumb,
      h('span.upload-info', {}, name, status, progress),
      remove,
    );
    return { li, status, progress, bar, state: null };
  }

  function update(parts, item) {
    const pct = tray.percent(item);
    const { li, status, progress, bar } = parts;
    const stateChanged = parts.state !== item.state;
    parts.state = item.state;
    li.dataset.state = item.state;
    li.dataset.progress = String(pct);
    progress.setAttribute('aria-valuenow', String(pct));
    progress.hidden = item.state === 'error';
    bar.style.width = `${pct}%`;
    // Every byte sent, the server's answer not here yet: it is storing (and measuring) the file.
    if (item.state === 'uploading') status.textContent = pct < 100 ? `Uploading… ${pct}%` : 'Finishing…';
    else if (item.state === 'done') status.textContent = humanSize(item.attachment?.size ?? item.size);
    else status.textContent = item.error;
    status.classList.toggle('is-error', item.state === 'error');
    if (stateChanged && item.state === 'error') live.textContent = `${item.name}: ${item.error}`;
    else if (stateChanged && item.state === 'done') live.textContent = `${item.name} uploaded.`;
  }

  function render() {
    const keep = new Set(tray.items.map((x) => x.key));
    for (const [key, parts] of chips) {
      if (!keep.has(key)) {
        parts.li.remove();
        chips.delete(key);
      }
    }
    let cursor = list.firstChild;
    for (const item of tray.items) {
      let parts = chips.get(item.key);
      if (!parts) {
        parts = chip(item);
        chips.set(item.key, parts);
      }
      update(parts, item);
      if (parts.li === cursor) cursor = cursor.nextSibling;
      else list.insertBefore(parts.li, cursor);
    }
    el.hidden = tray.items.length === 0;
    el.dataset.count = String(tray.items.length);
    onChange();
  }

  tray.setView(render);
  render();

  return {
    button,
    picker,
    el,
    add,
    /** Why the message cannot go yet (uploads still running), or null. */
    blocker() {
      const n = tray.uploading;
      if (!n) return null;
      return n === 1 ? 'Wait for the file to finish uploading.' : `Wait for ${n} files to finish uploading.`;
    },
    /** The attachments to send with the message. */
    ready: () => tray.ready(),
    clear: () => tray.clear(),
  };
}

// ---- dropping files on the conversation -------------------------------------------------------

let guarded = false;

/** A file dropped anywhere else must not make the browser leave the app to show it. */
function guardDocument() {
  if (guarded) return;
  guarded = true;
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
  document.addEventListener('dragover', (e) => {
    if (!hasFiles(e) || e.defaultPrevented) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'none';
  });
  document.addEventListener('drop', (e) => {
    if (hasFiles(e) && !e.defaultPrevented) e.preventDefault();
  });
}

/**
 * Files dragged over `zone` light it up ("Drop files to attach them"); dropped, they go to
 * `onFiles`. `accepts()`: whether files can be attached now (not in a group we have left).
 */
export function dropZone(zone, { accepts, onFiles }) {
  guardDocument();
  const overlay = h(
    'div.drop-overlay',
    { dataset: { testid: 'drop-overlay' }, 'aria-hidden': 'true' },
    h('span.drop-overlay-text', {}, icon('paperclip', { size: '1.6em' }), h('span', { text: 'Drop files to attach them' })),
  );
  zone.appendChild(overlay);
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
  const set = (on) => zone.classList.toggle('drop-active', on);
  zone.addEventListener('dragenter', (e) => {
    if (!hasFiles(e) || !accepts()) return;
    e.preventDefault();
    depth += 1;
    set(true);
  });
  zone.addEventListener('dragover', (e) => {
    if (!hasFiles(e) || !accepts()) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    set(true);
  });
  zone.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) set(false);
  });
  zone.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    set(false);
    if (accepts() && e.dataTransfer.files.length) onFiles(e.dataTransfer.files);
  });
}
