// search.js — searching messages (GET /search/messages): the words typed, optionally limited
// to one room, results newest first with the matched words marked, more pages through
// `next_before`. Typing searches after a short pause; an answer to an older query is dropped.
// What was found stays while the session lasts, so the search panel (views/search.js) opens
// where it was left.

const DEBOUNCE_MS = 250;
const PAGE = 20;
const MAX_QUERY = 200; // characters the server takes

export class MessageSearch {
  /** @param {{api: import('./api.js').Api, store: import('./state.js').Store}} deps */
  constructor({ api, store }) {
    this.api = api;
    this.store = store;
    this.listeners = new Set();
    this.timer = null;
    this.seq = 0;
    this.reset();
  }

  /** Forget everything (another session, or a fresh start). */
  reset() {
    clearTimeout(this.timer);
    this.seq += 1;
    this.owner = this.store.me?.id ?? null;
    this.query = '';
    this.roomId = null; // only this room, or every room
    /** @type {{message: object, room_id: number, highlight: {text: string, match: boolean}[]}[]} */
    this.results = [];
    this.nextBefore = null;
    this.status = 'idle'; // 'idle' | 'loading' | 'done' | 'error'
    this.error = null;
    this.searched = ''; // the query the results are for (key())
    this.searchedQuery = ''; // its words
    this.searchedRoom = null; // and where
    this.loadingMore = false;
    this.moreError = null;
    this.changed();
  }

  /** The same session as when the results were fetched? If not, start afresh. */
  ensureOwner() {
    if ((this.store.me?.id ?? null) !== this.owner) this.reset();
  }

  /** fn() after every change; returns an unsubscribe function. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    for (const fn of [...this.listeners]) fn();
  }

  get trimmed() {
    return Array.from(this.query.trim()).slice(0, MAX_QUERY).join('');
  }

  /** The words typed: searched for after a pause. */
  setQuery(q) {
    if (q === this.query) return;
    this.query = q;
    this.schedule(DEBOUNCE_MS);
  }

  /** Limit the search to a room (null: every room), and search again at once. */
  setRoom(roomId) {
    if (roomId === this.roomId) return;
    this.roomId = roomId;
    this.schedule(0);
  }

  /** Search now (Enter), unless the results are already for what is typed. */
  now() {
    if (this.status === 'done' && this.searched === this.key()) return;
    this.schedule(0);
  }

  key() {
    return `${this.roomId ?? ''}|${this.trimmed}`;
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.seq += 1; // whatever is in flight is for an older query now
    if (!this.trimmed) {
      this.results = [];
      this.nextBefore = null;
      this.status = 'idle';
      this.error = null;
      this.searched = '';
      this.searchedQuery = '';
      this.loadingMore = false;
      this.changed();
      return;
    }
    this.timer = setTimeout(() => this.run(), ms);
  }

  async run() {
    const seq = ++this.seq;
    const key = this.key();
    const q = this.trimmed;
    this.status = 'loading';
    this.error = null;
    this.loadingMore = false;
    this.changed();
    try {
      const answer = await this.api.searchMessages(q, { roomId: this.roomId, limit: PAGE });
      if (seq !== this.seq) return;
      this.results = Array.isArray(answer?.results) ? answer.results : [];
      this.nextBefore = answer?.next_before ?? null;
      this.status = 'done';
      this.searched = key;
      this.searchedQuery = q;
      this.searchedRoom = this.roomId;
      this.moreError = null;
    } catch (err) {
      if (seq !== this.seq) return;
      this.results = [];
      this.nextBefore = null;
      this.status = 'error';
      this.error = err.message;
    }
    this.changed();
  }

  /** The next page of results. */
  async more() {
    if (this.nextBefore == null || this.loadingMore || this.status !== 'done') return;
    const seq = this.seq;
    this.loadingMore = true;
    this.moreError = null;
    this.changed();
    try {
      const answer = await this.api.searchMessages(this.searchedQuery, { roomId: this.roomId, limit: PAGE, before: this.nextBefore });
      if (seq !== this.seq) return;
      const have = new Set(this.results.map((r) => r.message?.id));
      for (const r of answer?.results || []) if (!have.has(r.message?.id)) this.results.push(r);
      this.nextBefore = answer?.next_before ?? null;
    } catch (err) {
      if (seq !== this.seq) return;
      this.moreError = err.message;
    } finally {
      if (seq === this.seq) {
        this.loadingMore = false;
        this.changed();
      }
    }
  }

  /** Results to show: a message deleted since the search was made is left out. */
  visible() {
    return this.results.filter((r) => r?.message && !this.store.message(r.room_id, r.message.id)?.deleted_at);
  }
}
