// realtime.js — the WebSocket connection. Connects to /ws (same origin) and authenticates with
// the first frame (the token never goes in a URL). After `connected` it sends one `sync` with
// the last seq seen per room: the server subscribes the connection to every room and replays
// what was missed, then live frames, so nothing arrives out of order (no `subscribe_all`). A
// catch-up the server cut short (its size caps) is continued, a bounded number of
// rounds (the server says so with `complete: false`). Reconnects for as long as the session
// lasts, with exponential backoff and jitter capped at BACKOFF_CAP_MS, and at once when the
// browser comes back online, the tab becomes visible, or the user asks (a socket that exists
// then, maybe dead after a sleep or a network change, is pinged and dropped without an answer
// within PROBE_TIMEOUT_MS). When the browser says
// it went offline the socket is dropped at once (a socket kept open through an outage holds
// whatever is written on it and delivers it later: a message discarded meanwhile would still
// go). Close codes: 4001 (bad or expired token) refreshes and reconnects; 4003 (session revoked)
// ends the session; anything else (1001 going away, 4008 too slow, network loss) reconnects.
// Reports for the UI: 'connecting' (never connected yet), 'online', 'reconnecting' (the first
// quick attempts), 'unreachable' (attempts keep failing while the browser has a network; with
// when the next one is due) and 'offline' (the browser has no network). Duplicates
// (at-least-once delivery) are dropped by the store, which keys messages by id and seq.

import { session } from './session.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30000; // the longest wait between two attempts (then 15–30 s, for ever)
const QUICK_ATTEMPTS = 3; // failed attempts in a row said as "Reconnecting…"; then "can't reach"
const MAX_AUTH_REFRESHES = 2; // 4001s in a row answered by a token refresh
const AUTH_TIMEOUT_MS = 10000; // no `connected` frame by then: try again
const PING_EVERY_MS = 25000;
const SILENCE_LIMIT_MS = 60000; // nothing heard for this long: the connection is dead
// The tab became visible or the network came back while a socket exists (it may have died in
// a sleep or a network change without a close): a ping must be answered within this time.
const PROBE_TIMEOUT_MS = 8000;
// A catch-up the server cut short (`sync_complete` with `complete: false`) is continued from the
// positions it returned, at most this many rounds per socket.
const MAX_SYNC_ROUNDS = 20;

export class Realtime {
  /**
   * @param {{
   *   api: import('./api.js').Api,
   *   positions: () => Record<string, number> | null,
   *   onFrame: (frame: object) => void,
   *   onStatus: (status: string, retryAt: number | null) => void,
   *   onConnected: (frame: object) => void,
   *   onDisconnected?: () => void,
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
    this.serial = 0; // counts sockets: which one a frame went out on
    this.again = false; // the attempt on its way was asked to be retried at once should it fail
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.wentOffline();
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
    this.again = false;
    this.authFailures = 0;
    this.everConnected = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.gen += 1;
    this.connecting = false;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
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

  /** The browser lost its network: drop the socket now rather than write into it (see the
   *  top), say so, and keep trying (slowly) until it is back — `online` skips the wait. */
  wentOffline() {
    if (this.stopped) return;
    if (this.ws) this.drop(this.ws, 'offline');
    else if (!this.connecting) this.status(this.phase());
  }

  /** Connect now, skipping any remaining backoff (the network came back, the tab became
   *  visible, or the user asked), the backoff starting over. */
  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    if (this.ready) {
      this.probe();
      return;
    }
    if (this.ws || this.connecting) {
      // An attempt is on its way (maybe begun while offline): should it fail, go again at once.
      if (!this.authed) this.again = true;
      return;
    }
    clearTimeout(this.timers.retry);
    this.connect();
  }

  clearTimers() {
    clearTimeout(this.timers.retry);
    clearTimeout(this.timers.auth);
    clearTimeout(this.timers.probe);
    clearInterval(this.timers.ping);
    this.timers = {};
  }

  /** `retryAt`: when the next attempt is due ('unreachable' and 'offline'), else null. */
  status(s, retryAt = null) {
    this.opts.onStatus(s, retryAt);
  }

  /** What to say while not connected: 'offline' (no network), 'unreachable' (attempts keep
   *  failing), else 'reconnecting' / 'connecting'. */
  phase() {
    if (typeof navigator !== 'undefined' && navigator.onLine === false) return 'offline';
    if (this.attempt > QUICK_ATTEMPTS) return 'unreachable';
    return this.everConnected ? 'reconnecting' : 'connecting';
  }

  async connect() {
    if (this.stopped || this.ws || this.connecting) return;
    const gen = this.gen;
    this.connecting = true;
    clearTimeout(this.timers.retry);
    this.timers.retry = null;
    this.status(this.phase());
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
    this.serial += 1;
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
      this.again = false;
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

  /** Is the socket still alive? Ping it; nothing heard within PROBE_TIMEOUT_MS: drop it. */
  probe() {
    const ws = this.ws;
    if (!ws || this.timers.probe) return;
    const sentAt = Date.now();
    if (!this.send({ type: 'ping' })) return;
    this.timers.probe = setTimeout(() => {
      this.timers.probe = null;
      if (ws === this.ws && this.lastHeard < sentAt) this.drop(ws);
    }, PROBE_TIMEOUT_MS);
  }

  heartbeat(ws) {
    if (ws !== this.ws) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) this.drop(ws);
    else this.send({ type: 'ping' });
  }

  /** Give up on a socket that went quiet, never authenticated, or lost its network, and try
   *  again. Nothing more goes out on it (it is forgotten before it finishes closing). */
  drop(ws, reason = 'timeout') {
    if (ws !== this.ws) return;
    try {
      ws.close(4000, reason);
    } catch {
      /* ignore */
    }
    this.closed(ws, 1006).catch(() => this.scheduleReconnect());
  }

  async closed(ws, code) {
    if (ws !== this.ws) return;
    const gen = this.gen;
    const wasAuthed = this.authed;
    this.ws = null;
    this.authed = false;
    this.catchUp = null;
    clearTimeout(this.timers.auth);
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.probe);
    this.timers.probe = null;
    if (this.stopped) return;
    // Frames sent on it and not answered may or may not have reached the server.
    if (wasAuthed) this.opts.onDisconnected?.();
    if (code === 4001) {
      // Bad or expired access token: refresh it (shared with REST callers) and try again at
      // once, a couple of times; after that, back off like any other failure.
      this.authFailures += 1;
      const refresh = this.authFailures <= MAX_AUTH_REFRESHES;
      if (refresh) {
        this.status(this.phase());
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

  /** Wait, then connect again: jitter over an exponentially growing window (half of it to
   *  all of it), the window capped at BACKOFF_CAP_MS. Never gives up while the session lasts. */
  scheduleReconnect(delayMs) {
    if (this.stopped) return;
    // A socket open or on its way (or an attempt starting): nothing to schedule, nothing to say.
    if (this.connecting || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    let delay = delayMs;
    if (this.again) {
      this.again = false;
      if (delay === undefined) delay = 0;
    }
    if (delay === undefined) {
      const window = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.attempt, 16));
      delay = window / 2 + Math.random() * (window / 2);
      this.attempt += 1;
    }
    const phase = this.phase();
    this.status(phase, phase === 'unreachable' || phase === 'offline' ? Date.now() + delay : null);
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => {
      this.timers.retry = null;
      this.connect();
    }, delay);
  }
}
