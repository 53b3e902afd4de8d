// realtime.js — the WebSocket connection. Connects to /ws (same origin) and authenticates with
// the first frame (the token never goes in a URL). After `connected` it sends one `sync` with
// the last seq seen per room: the server subscribes the connection to every room and replays
// what was missed, then live frames, so nothing arrives out of order (no `subscribe_all`). A
// catch-up the server cut short (its size caps) is continued, a bounded number of
// rounds (the server says so with `complete: false`). Reconnects with exponential backoff and jitter, at most MAX_RETRIES times in a
// row; then it reports 'offline' and waits for the network, the tab, or the user. Close codes:
// 4001 (bad or expired token) refreshes and reconnects; 4003 (session revoked) ends the session;
// anything else (1001 going away, 4008 too slow, network loss) reconnects. Reports
// 'connecting' / 'online' / 'reconnecting' / 'offline' for the UI. Duplicates (at-least-once
// delivery) are dropped by the store, which keys messages by id and seq.

import { session } from './session.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 10000;
const MAX_RETRIES = 10; // failed connects in a row before giving up until something changes
const MAX_AUTH_REFRESHES = 2; // 4001s in a row answered by a token refresh
const AUTH_TIMEOUT_MS = 10000; // no `connected` frame by then: try again
const PING_EVERY_MS = 25000;
const SILENCE_LIMIT_MS = 60000; // nothing heard for this long: the connection is dead
// A catch-up the server cut short (`sync_complete` with `complete: false`) is continued from the
// positions it returned, at most this many rounds per socket.
const MAX_SYNC_ROUNDS = 20;

export class Realtime {
  /**
   * @param {{
   *   api: import('./api.js').Api,
   *   positions: () => Record<string, number> | null,
   *   onFrame: (frame: object) => void,
   *   onStatus: (status: string) => void,
   *   onConnected: (frame: object) => void,
   *   onRevoked: () => void,
   * }} opts
   */
  constructor(opts) {
    this.opts = opts;
    this.ws = null;
    this.authed = false;
    this.stopped = true;
    this.connecting = false; // between connect() starting and the socket existing
    this.gen = 0; // bumped by start/stop: continuations of an older run do nothing
    this.attempt = 0;
    this.everConnected = false;
    this.authFailures = 0;
    this.timers = {};
    this.lastHeard = 0;
    this.tokenUsed = null;
    this.catchUp = null; // the sync in flight on this socket: {rounds}
    this.synced = false; // this socket sent its sync
    this.onOnline = () => this.reconnectNow();
    this.onVisible = () => {
      if (document.visibilityState === 'visible') this.reconnectNow();
    };
  }

  get ready() {
    return Boolean(this.ws && this.authed && this.ws.readyState === WebSocket.OPEN);
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.gen += 1;
    this.attempt = 0;
    this.authFailures = 0;
    this.everConnected = false;
    window.addEventListener('online', this.onOnline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.gen += 1;
    this.connecting = false;
    window.removeEventListener('online', this.onOnline);
    document.removeEventListener('visibilitychange', this.onVisible);
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    this.authed = false;
    if (ws) {
      try {
        ws.close(1000, 'bye');
      } catch {
        /* already closed */
      }
    }
  }

  /** Send a frame on the authenticated socket. Returns false if there is none. */
  send(frame) {
    if (!this.ready) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Ask for every message after the last seq we know per room, once per socket. Skipped while
   * the room list is not loaded yet (positions() is null): rooms left out count as 0, so an
   * empty map would replay all history. The app calls this again once the list is in.
   */
  sync() {
    if (this.synced || !this.ready) return;
    const rooms = this.opts.positions();
    if (!rooms) return;
    if (this.send({ type: 'sync', rooms })) {
      this.synced = true;
      this.catchUp = { rounds: 1 };
    }
  }

  /**
   * Catch up again on this socket: a live frame skipped past entries we never got. One catch-up
   * at a time; asked during one, it follows it.
   */
  resync() {
    if (!this.ready || !this.synced) return;
    if (this.catchUp) {
      this.catchUp.again = true;
      return;
    }
    const rooms = this.opts.positions();
    if (rooms && this.send({ type: 'sync', rooms })) this.catchUp = { rounds: 1 };
  }

  /** At `sync_complete`, continue a catch-up the server cut short. */
  trackCatchUp(frame) {
    const c = this.catchUp;
    if (!c || frame.type !== 'sync_complete') return;
    const partial = frame.complete === false;
    if (partial && c.rounds < MAX_SYNC_ROUNDS && frame.rooms && typeof frame.rooms === 'object') {
      // The server's positions are where it stopped; what we already hold is deduplicated.
      if (this.send({ type: 'sync', rooms: frame.rooms })) {
        this.catchUp = { rounds: c.rounds + 1, again: c.again };
        return;
      }
    }
    this.catchUp = null;
    if (c.again) this.resync();
  }

  /** Connect now, skipping any remaining backoff (the network came back, the tab became
   *  visible, or the user asked), with a fresh budget of retries. */
  reconnectNow() {
    if (this.stopped || this.ws || this.connecting) return;
    clearTimeout(this.timers.retry);
    this.attempt = 0;
    this.connect();
  }

  clearTimers() {
    clearTimeout(this.timers.retry);
    clearTimeout(this.timers.auth);
    clearInterval(this.timers.ping);
    this.timers = {};
  }

  status(s) {
    this.opts.onStatus(s);
  }

  async connect() {
    if (this.stopped || this.ws || this.connecting) return;
    const gen = this.gen;
    this.connecting = true;
    this.status(this.everConnected ? 'reconnecting' : 'connecting');
    try {
      await this.opts.api.ensureFreshToken();
    } catch (err) {
      if (gen === this.gen) this.connecting = false;
      if (err?.status === 401) return; // the session ended; the app is logging out
      // otherwise the server is unreachable: the socket below fails too and schedules the retry
    }
    if (gen !== this.gen) return; // stopped (and maybe restarted) meanwhile
    this.connecting = false;
    if (this.stopped || this.ws) return;
    const token = session.access;
    if (!token) {
      // No access token (a refresh could not be made): try again later while a session exists.
      if (session.refresh) this.scheduleReconnect();
      return;
    }
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.authed = false;
    this.synced = false;
    this.catchUp = null;
    this.tokenUsed = token;
    clearTimeout(this.timers.auth);
    this.timers.auth = setTimeout(() => this.drop(ws), AUTH_TIMEOUT_MS);
    ws.onopen = () => {
      if (ws === this.ws) ws.send(JSON.stringify({ type: 'auth', token }));
    };
    ws.onmessage = (e) => this.receive(ws, e);
    ws.onclose = (e) => {
      this.closed(ws, e.code).catch(() => this.scheduleReconnect());
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  receive(ws, e) {
    if (ws !== this.ws) return;
    this.lastHeard = Date.now();
    let frame;
    try {
      frame = JSON.parse(e.data);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== 'string') return;
    if (frame.type === 'connected') {
      clearTimeout(this.timers.auth);
      this.authed = true;
      this.attempt = 0;
      this.authFailures = 0;
      this.everConnected = true;
      this.sync(); // subscribes to every room, then catches up (no-op until rooms are known)
      clearInterval(this.timers.ping);
      this.timers.ping = setInterval(() => this.heartbeat(ws), PING_EVERY_MS);
      this.status('online');
      this.opts.onConnected(frame);
    }
    this.opts.onFrame(frame);
    this.trackCatchUp(frame);
  }

  heartbeat(ws) {
    if (ws !== this.ws) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) this.drop(ws);
    else this.send({ type: 'ping' });
  }

  /** Give up on a socket that went quiet or never authenticated, and try again. */
  drop(ws) {
    if (ws !== this.ws) return;
    try {
      ws.close(4000, 'timeout');
    } catch {
      /* ignore */
    }
    this.closed(ws, 1006).catch(() => this.scheduleReconnect());
  }

  async closed(ws, code) {
    if (ws !== this.ws) return;
    const gen = this.gen;
    this.ws = null;
    this.authed = false;
    this.catchUp = null;
    clearTimeout(this.timers.auth);
    clearInterval(this.timers.ping);
    if (this.stopped) return;
    if (code === 4001) {
      // Bad or expired access token: refresh it (shared with REST callers) and try again at
      // once, a couple of times; after that, back off like any other failure.
      this.authFailures += 1;
      const refresh = this.authFailures <= MAX_AUTH_REFRESHES;
      if (refresh) {
        this.status(this.everConnected ? 'reconnecting' : 'connecting');
        try {
          await this.opts.api.refresh(this.tokenUsed);
        } catch (err) {
          if (err?.status === 401) return; // session ended
        }
        if (gen !== this.gen) return;
      }
      this.scheduleReconnect(refresh ? 0 : undefined);
      return;
    }
    if (code === 4003) {
      // Revoked. A password change on this device revokes and renews in one go: if new
      // tokens arrived meanwhile, reconnect with them; otherwise the session is over.
      this.status('reconnecting');
      await this.opts.api.settled();
      if (gen !== this.gen || this.stopped) return;
      if (session.access && session.access !== this.tokenUsed) {
        this.scheduleReconnect(0);
      } else {
        this.stop();
        this.opts.onRevoked();
      }
      return;
    }
    this.scheduleReconnect();
  }

  /** Wait, then connect again: jitter over an exponentially growing window, MAX_RETRIES times
   *  in a row at most; then 'offline' until reconnectNow(). */
  scheduleReconnect(delayMs) {
    if (this.stopped) return;
    let delay = delayMs;
    if (delay === undefined) {
      if (this.attempt >= MAX_RETRIES) {
        clearTimeout(this.timers.retry);
        this.status('offline');
        return;
      }
      const window = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
      delay = window / 2 + Math.random() * (window / 2);
      this.attempt += 1;
    }
    this.status(this.everConnected ? 'reconnecting' : 'connecting');
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }
}
