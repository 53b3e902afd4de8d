// attachments.js — files sent with messages, apart from how they look (views/attachments.js):
// uploads (XMLHttpRequest, for its upload progress events, with the bearer token and one
// refresh on a 401 as api.js does), the composer's tray of uploads for each conversation, and
// attachments fetched with the Authorization header — an <img src> cannot send one — into
// blob: URLs, cached per attachment and revoked when the session ends.

import { session } from './session.js';
import { ApiError, NETWORK_MESSAGE, errorFrom } from './api.js';

/** The most files one message may carry (the server's limit too). */
export const MAX_ATTACHMENTS = 10;

/** Raster images the server makes thumbnails of; everything else is a file chip. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** Full-size images kept as blob: URLs (the lightbox), newest last; older ones are revoked. */
const FULL_CACHE = 6;

/** How long a download's blob: URL lives after the click started it. */
const DOWNLOAD_URL_MS = 60000;

/** Whether an attachment is shown as an image preview (it has a thumbnail). */
export function isImage(a) {
  const type = String(a?.content_type || '').split(';')[0].trim().toLowerCase();
  return IMAGE_TYPES.has(type) && a.width > 0 && a.height > 0;
}

/** "0 bytes", "1 byte", "930 bytes", "12.3 KB", "245 KB", "1.5 MB", "2.1 GB". */
export function humanSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  const shown = v < 100 ? (Math.round(v * 10) / 10).toFixed(1) : String(Math.round(v));
  return `${shown.replace(/\.0$/, '')} ${units[i]}`;
}

/** A message in a line, for previews (sidebar, notifications, quotes): its text, else what it
 *  carries ("📎 cat.png", "📎 3 files"). */
export function messageSummary(m) {
  const text = String(m?.content || '').replace(/\s+/g, ' ').trim();
  if (text || m?.deleted_at) return text;
  const list = Array.isArray(m?.attachments) ? m.attachments : [];
  if (list.length === 1) return `📎 ${list[0].filename || 'file'}`;
  if (list.length > 1) return `📎 ${list.length} files`;
  return text;
}

/** The same-origin path of an attachment: the server's `url` when it is one, else built from
 *  the id (a value from the server never sends the token anywhere else). */
function pathOf(a) {
  const url = typeof a?.url === 'string' ? a.url : '';
  if (/^\/attachments\/[^/?#]+$/.test(url)) return url;
  return `/attachments/${encodeURIComponent(a.id)}`;
}

function parseJson(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

class Aborted extends Error {
  constructor() {
    super('Upload cancelled.');
    this.name = 'AbortError';
  }
}

/**
 * Upload one file: POST /attachments, multipart, the file in the part named `file`.
 * Returns {promise, abort}; the promise resolves to the server's attachment
 * ({id, filename, content_type, size, url, width, height}) or rejects with an ApiError whose
 * message is a sentence (a 413 says the server's "File too large: …").
 * @param {import('./api.js').Api} api
 * @param {File} file
 * @param {(loaded: number, total: number) => void} [onProgress]
 */
export function upload(api, file, onProgress) {
  let xhr = null;
  let aborted = false;
  const attempt = (token) =>
    new Promise((resolve, reject) => {
      if (aborted) {
        reject(new Aborted());
        return;
      }
      xhr = new XMLHttpRequest();
      xhr.open('POST', '/attachments');
      xhr.setRequestHeader('Accept', 'application/json');
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress?.(e.loaded, e.total);
      };
      xhr.onload = () => resolve({ status: xhr.status, body: parseJson(xhr.responseText) });
      xhr.onerror = () => reject(new ApiError(NETWORK_MESSAGE, { network: true }));
      xhr.ontimeout = xhr.onerror;
      xhr.onabort = () => reject(new Aborted());
      const form = new FormData();
      form.append('file', file, file.name || 'file');
      onProgress?.(0, file.size);
      xhr.send(form);
    });
  const promise = (async () => {
    await api.ensureFreshToken();
    const token = session.access;
    if (!token && !session.refresh) throw api.endSession('expired');
    let res = await attempt(token);
    if (res.status === 401) {
      await api.refresh(token);
      res = await attempt(session.access);
      if (res.status === 401) throw api.endSession('expired');
    }
    if (res.status < 200 || res.status > 299) throw errorFrom(res.status, res.body);
    if (!res.body || typeof res.body.id !== 'number') throw errorFrom(500, null);
    return res.body;
  })();
  return {
    promise,
    abort() {
      aborted = true;
      xhr?.abort();
    },
  };
}

/** A name for a pasted image (the clipboard calls every one "image.png"). */
function pastedName(file) {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  const ext = (file.type.split('/')[1] || 'png').replace('jpeg', 'jpg').replace(/[^a-z0-9]/gi, '');
  return `Pasted image ${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}.${p(d.getMinutes())}.${p(d.getSeconds())}.${ext}`;
}

let nextKey = 0;

/**
 * The uploads waiting in one conversation's composer. Each file starts uploading as soon as
 * it is added; an item is {key, name, size, type, state: 'uploading'|'done'|'error', loaded,
 * total, error, attachment, localUrl (a blob: URL of the file, for an image's chip)}. The
 * composer showing it is told of every change (setView).
 */
export class UploadTray {
  /** @param {import('./api.js').Api} api */
  constructor(api) {
    this.api = api;
    this.items = [];
    this.view = null; // the composer showing this tray (one at a time: the open conversation)
    this.closed = false;
  }

  /** Show this tray in a composer (replacing the one before, built for an earlier visit). */
  setView(fn) {
    this.view = fn;
  }

  changed() {
    try {
      this.view?.();
    } catch (err) {
      console.error('upload tray update failed', err);
    }
  }

  /**
   * Add files (the picker, a drop, a paste) and start uploading them. `pasted`: name the
   * clipboard's "image.png" after the time instead. Returns a sentence when some did not fit
   * (at most MAX_ATTACHMENTS per message), else null.
   */
  add(files, { pasted = false } = {}) {
    if (this.closed) return null;
    const list = [...files];
    const room = MAX_ATTACHMENTS - this.items.length;
    const taken = list.slice(0, Math.max(0, room));
    for (let file of taken) {
      if (pasted && (!file.name || file.name === 'image.png')) {
        file = new File([file], pastedName(file), { type: file.type, lastModified: Date.now() });
      }
      const item = {
        key: `u${++nextKey}`,
        name: file.name || 'file',
        size: file.size,
        type: file.type,
        state: 'uploading',
        loaded: 0,
        total: file.size,
        error: null,
        attachment: null,
        localUrl: /^image\//.test(file.type) ? URL.createObjectURL(file) : null,
        job: null,
      };
      this.items.push(item);
      this.start(item, file);
    }
    this.changed();
    if (taken.length < list.length) {
      return `At most ${MAX_ATTACHMENTS} files can be sent in one message.`;
    }
    return null;
  }

  start(item, file) {
    let last = 0;
    item.job = upload(this.api, file, (loaded, total) => {
      item.loaded = loaded;
      item.total = total || item.size;
      // A progress event per chunk: repaint at most every whole percent.
      const pct = this.percent(item);
      if (pct !== last) {
        last = pct;
        this.changed();
      }
    });
    item.job.promise.then(
      (attachment) => {
        item.job = null;
        if (!this.items.includes(item)) return;
        item.state = 'done';
        item.attachment = attachment;
        item.loaded = item.total;
        this.changed();
      },
      (err) => {
        item.job = null;
        if (!this.items.includes(item) || err?.name === 'AbortError') return;
        item.state = 'error';
        item.error = err?.message || 'The file could not be uploaded.';
        this.changed();
      },
    );
  }

  /** 0–100. */
  percent(item) {
    if (item.state === 'done') return 100;
    const total = item.total || item.size;
    if (!total) return 0;
    return Math.min(100, Math.floor((item.loaded / total) * 100));
  }

  remove(key) {
    const i = this.items.findIndex((x) => x.key === key);
    if (i < 0) return;
    const [item] = this.items.splice(i, 1);
    this.drop(item);
    this.changed();
  }

  drop(item) {
    item.job?.abort();
    item.job = null;
    if (item.localUrl) URL.revokeObjectURL(item.localUrl);
    item.localUrl = null;
  }

  get uploading() {
    return this.items.filter((x) => x.state === 'uploading').length;
  }

  /** The attachments uploaded and ready to send, in the order they were added. */
  ready() {
    return this.items.filter((x) => x.state === 'done').map((x) => x.attachment);
  }

  /** The message was sent: the tray starts empty again (failed uploads go too). */
  clear() {
    for (const item of this.items) this.drop(item);
    this.items = [];
    this.changed();
  }

  /** The session ended: cancel uploads, forget everything. */
  close() {
    this.closed = true;
    this.clear();
    this.view = null;
  }
}

/**
 * One signed-in session's files: the composer trays (per conversation), and attachments as
 * blob: URLs — thumbnails kept for the session, a few full-size images — all revoked by
 * clear() (logout, or the next user).
 */
export class Files {
  /** @param {import('./api.js').Api} api */
  constructor(api) {
    this.api = api;
    this.gen = 0;
    /** @type {Map<number, {url: string|null, promise: Promise<string>}>} */
    this.thumbs = new Map();
    /** @type {Map<number, {url: string|null, promise: Promise<string>}>} */
    this.fulls = new Map();
    /** @type {Map<string, UploadTray>} */
    this.trays = new Map();
  }

  /** The tray of a conversation's composer (kept while the user looks elsewhere). */
  tray(key) {
    let t = this.trays.get(key);
    if (!t) {
      t = new UploadTray(this.api);
      this.trays.set(key, t);
    }
    return t;
  }

  /** The thumbnail's blob: URL if it is here already (no flicker on a re-render), else null. */
  thumbnailNow(a) {
    return this.thumbs.get(a.id)?.url || null;
  }

  /** The thumbnail (at most 320×320) as a blob: URL. */
  thumbnail(a) {
    return this.cached(this.thumbs, a.id, `${pathOf(a)}/thumbnail`, Infinity);
  }

  /** The full-size image as a blob: URL. */
  full(a) {
    return this.cached(this.fulls, a.id, pathOf(a), FULL_CACHE);
  }

  cached(map, id, path, max) {
    const hit = map.get(id);
    if (hit) {
      map.delete(id); // most recently used last
      map.set(id, hit);
      return hit.promise;
    }
    const gen = this.gen;
    const entry = { url: null, promise: null };
    entry.promise = this.fetchBlob(path).then(
      (blob) => {
        if (gen !== this.gen) throw new Error('The session ended.');
        entry.url = URL.createObjectURL(blob);
        return entry.url;
      },
      (err) => {
        if (map.get(id) === entry) map.delete(id); // a later render tries again
        throw err;
      },
    );
    map.set(id, entry);
    while (map.size > max) {
      const [oldId, old] = map.entries().next().value;
      map.delete(oldId);
      if (old.url) URL.revokeObjectURL(old.url);
    }
    return entry.promise;
  }

  /** GET with the bearer token (and one refresh on a 401); the body as a Blob. */
  async fetchBlob(path) {
    const { api } = this;
    await api.ensureFreshToken();
    const get = async (token) => {
      try {
        return await fetch(path, {
          headers: token ? { Authorization: `Bearer ${token}` } : {},
          credentials: 'same-origin',
        });
      } catch {
        throw new ApiError(NETWORK_MESSAGE, { network: true });
      }
    };
    const token = session.access;
    let res = await get(token);
    if (res.status === 401) {
      await api.refresh(token);
      res = await get(session.access);
      if (res.status === 401) throw api.endSession('expired');
    }
    if (!res.ok) throw errorFrom(res.status, parseJson(await res.text().catch(() => '')));
    return res.blob();
  }

  /** Save an attachment under its name: fetched with the token, then an <a download> of it. */
  async download(a) {
    const blob = await this.fetchBlob(pathOf(a));
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = a.filename || 'file';
    link.rel = 'noopener';
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), DOWNLOAD_URL_MS);
  }

  /** The session ended: revoke every blob: URL, cancel every upload. */
  clear() {
    this.gen += 1;
    for (const map of [this.thumbs, this.fulls]) {
      for (const e of map.values()) if (e.url) URL.revokeObjectURL(e.url);
      map.clear();
    }
    for (const t of this.trays.values()) t.close();
    this.trays.clear();
  }
}
