// lib/server.mjs — run a real Banter server for the browser tests: the binary from BANTER_BIN
// (default ../target/debug/banter), on a free port of 127.0.0.1, with a fresh SQLite database
// in a temp dir and a fixed SECRET_KEY. It can be killed and started again on the same port
// and database (the reconnect scenario).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BIN = path.resolve(process.env.BANTER_BIN || path.join(here, '..', '..', 'target', 'debug', 'banter'));
const SECRET_KEY = 'e2e-secret-key-0123456789-abcdefghijklmnop';
const HEALTH_TRIES = 150; // × 200 ms: 30 s for a cold start of a debug build
const STOP_GRACE_MS = 5000;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

export class BanterServer {
  /** @param {Record<string, string>} [env] extra settings for the server */
  constructor(env = {}) {
    this.env = env;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'banter-e2e-'));
    this.logPath = path.join(this.dir, 'server.log');
    this.port = null;
    this.proc = null;
    this.exited = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Start (or start again, on the same port and database) and wait for GET /health = 200. */
  async start() {
    if (!fs.existsSync(BIN)) throw new Error(`server binary not found: ${BIN} (build it, or set BANTER_BIN)`);
    if (!this.port) this.port = await freePort();
    const log = fs.openSync(this.logPath, 'a');
    const proc = spawn(BIN, [], {
      cwd: this.dir,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(this.port),
        DATABASE_URL: `sqlite://${path.join(this.dir, 'banter.db')}`,
        SECRET_KEY,
        // The tests write long histories faster than anyone types.
        SEND_RATE_LIMIT: '0',
        RUST_LOG: process.env.RUST_LOG || 'info',
        ...this.env,
      },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    let exitedEarly = null;
    this.exited.then((r) => {
      exitedEarly = r;
    });
    for (let i = 0; i < HEALTH_TRIES; i++) {
      if (exitedEarly) break;
      try {
        const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return this;
      } catch {
        /* not listening yet */
      }
      await delay(200);
    }
    await this.stop();
    throw new Error(`server did not become healthy (${exitedEarly ? `exited ${JSON.stringify(exitedEarly)}` : 'timeout'}); log:\n${this.logTail()}`);
  }

  /** Kill the process (SIGTERM, then SIGKILL after a grace period) and wait for it to exit. */
  async stop({ signal = 'SIGTERM' } = {}) {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
    this.proc = null;
  }

  /** Freeze the process (SIGSTOP): its sockets stay open, nothing answers — a server (or a
   *  network) gone silent without closing anything. Always `resume()` it, in a `finally`. */
  pause() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error('server not running');
    this.proc.kill('SIGSTOP');
  }

  /** Let a paused process run again (SIGCONT); harmless if it was not paused or has exited. */
  resume() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGCONT');
  }

  logTail(lines = 40) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Remove the temp dir, unless KEEP_E2E_TMP is set (to read server.log after a failure). */
  cleanup() {
    if (process.env.KEEP_E2E_TMP) {
      console.log(`# e2e temp dir kept: ${this.dir}`);
      return;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
