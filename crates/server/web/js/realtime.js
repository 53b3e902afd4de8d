// realtime.js — the WebSocket connection. Connects to /ws (same origin), authenticates with
// the first frame (the token never goes in a URL), subscribes to every room and asks for the
// messages missed since the last seen seq per room after every (re)connect. Reconnects with
// exponential backoff and jitter; reports 'connecting' / 'online' / 'reconnecting' so the UI
// can say "Reconnecting…". Close code 4001 (bad or expired token) refreshes and reconnects;
// 4003 (session revoked) ends the session. Duplicates (at-least-once delivery) are dropped by
// the store, which keys messages by id and seq.

import { session } from './session.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 10000;
const AUTH_TIMEOUT_MS = 10000; // no `connected` frame by then: try again
const PING_EVERY_MS = 25000;
const SILENCE_LIMIT_MS = 60000; // nothing heard for this long: the connection is dead

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
    this.attempt = 0;
    this.everConnected = false;
    this.authFailures = 0;
    this.timers = {};
    this.lastHeard = 0;
    this.tokenUsed = null;
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
    this.attempt = 0;
    this.everConnected = false;
    window.addEventListener('online', this.onOnline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
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
   * Ask for every message after the last seq we know per room. Skipped while the room list is
   * not loaded yet (positions() is null): rooms left out count as 0, so an empty map would
   * replay all history. The app calls this again once the list is in.
   */
  sync() {
    const rooms = this.opts.positions();
    if (rooms) this.send({ type: 'sync', rooms });
  }

  /** Skip the remaining backoff (the network came back, the tab became visible). */
  reconnectNow() {
    if (this.stopped || this.ws) return;
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
    if (this.stopped || this.ws) return;
    this.status(this.everConnected ? 'reconnecting' : 'connecting');
    try {
      await this.opts.api.ensureFreshToken();
    } catch (err) {
      if (err.status === 401) return; // the session ended; the app is logging out
      // the server is unreachable: the socket below fails too and schedules the retry
    }
    if (this.stopped || this.ws) return;
    const token = session.access;
    if (!token) return;
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
    this.tokenUsed = token;
    this.timers.auth = setTimeout(() => this.drop(ws), AUTH_TIMEOUT_MS);
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'auth', token }));
    };
    ws.onmessage = (e) => this.receive(ws, e);
    ws.onclose = (e) => this.closed(ws, e.code);
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
      this.send({ type: 'subscribe_all' });
      this.sync();
      clearInterval(this.timers.ping);
      this.timers.ping = setInterval(() => this.heartbeat(ws), PING_EVERY_MS);
      this.status('online');
      this.opts.onConnected(frame);
    }
    this.opts.onFrame(frame);
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
    this.closed(ws, 1006);
  }

  async closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.authed = false;
    clearTimeout(this.timers.auth);
    clearInterval(this.timers.ping);
    if (this.stopped) return;
    if (code === 4001) {
      // Bad or expired access token: refresh it (shared with REST callers) and try again.
      this.authFailures += 1;
      if (this.authFailures <= 2) {
        try {
          await this.opts.api.refresh(this.tokenUsed);
        } catch (err) {
          if (err.status === 401) return; // session ended
        }
      }
      this.scheduleReconnect(this.authFailures <= 2 ? 0 : undefined);
      return;
    }
    if (code === 4003) {
      // Revoked. A password change on this device revokes and renews in one go: if new
      // tokens arrived meanwhile, reconnect with them; otherwise the session is over.
      await this.opts.api.settled();
      if (this.stopped) return;
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

  /** Wait, then connect again: full jitter over an exponentially growing window. */
  scheduleReconnect(delayMs) {
    if (this.stopped) return;
    this.status(this.everConnected ? 'reconnecting' : 'connecting');
    let delay = delayMs;
    if (delay === undefined) {
      const window = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
      delay = window / 2 + Math.random() * (window / 2);
      this.attempt += 1;
    }
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }
}
