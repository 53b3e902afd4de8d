// trust.test.mjs — things a daily user never thinks about until they go wrong, end to end: a
// socket that died without closing (the server frozen with SIGSTOP: TCP open, nothing answers)
// is found out by the ping check when the tab becomes visible or the network comes back, said
// honestly, and replaced by itself; the composer's Enter on a phone and on a desktop, after many
// room switches (one media-query listener for the page, not one per composer), and following a
// switch between touch and mouse; a new name shows at once for others wherever the old one was
// (reply quotes in bubbles and above the composer, search results, typing, sidebar, DM header);
// the members dialog following the group live (added, left, removed, renamed, the owner's
// account deleted) and asking before removing anyone. Each person in their own browser context.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtures } from './lib/fixtures.mjs';
import { waitUntil, messages, roomItem, loginViaUi, sendViaUi, PASSWORD } from './lib/browser.mjs';

const { server, newPerson, rest, hooks } = fixtures();

// realtime.js: a ping sent on a possibly dead socket must be answered within this time.
const PROBE_TIMEOUT_MS = 8000;
const TOUCH_QUERY = '(hover: none) and (pointer: coarse)';

function parseFrame(payload) {
  try {
    return JSON.parse(String(payload));
  } catch {
    return null;
  }
}

/** Every WebSocket the page opens, with the frames it sent and received and whether it closed. */
function trackSockets(page) {
  const list = [];
  page.on('websocket', (ws) => {
    // `log`: both directions in the order seen ({sent} or {received}).
    const s = { ws, sent: [], received: [], log: [], closed: false };
    ws.on('framesent', (f) => {
      const frame = parseFrame(f.payload);
      s.sent.push(frame);
      s.log.push({ sent: frame });
    });
    ws.on('framereceived', (f) => {
      const frame = parseFrame(f.payload);
      s.received.push(frame);
      s.log.push({ received: frame });
    });
    ws.on('close', () => {
      s.closed = true;
    });
    list.push(s);
  });
  return list;
}

const authenticated = (s) => s.received.some((f) => f?.type === 'connected');
const count = (frames, type) => frames.filter((f) => f?.type === type).length;

/** The tab hidden, then visible again (headless Chromium is always visible: the state is
 *  overridden for the two events, then given back). */
async function tabBecomesVisible(page) {
  await page.evaluate(() => {
    for (const state of ['hidden', 'visible']) {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
      document.dispatchEvent(new Event('visibilitychange'));
    }
    delete document.visibilityState;
    delete document.hidden;
  });
}

async function networkComesBack(page) {
  await page.evaluate(() => window.dispatchEvent(new Event('online')));
}

/** One animation frame in the page: what a timer just did has been rendered. */
function nextFrame(page) {
  return page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
}

describe('a client people can trust', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('a socket that died without closing: the ping check finds it, the banner says so, it reconnects by itself', { timeout: 120000 }, async () => {
    const tess = await rest('tess', 'Tess Ocean');
    const uri = await rest('uri', 'Uri Geller');
    const tessId = await uri.userId('tess');
    const hello = await uri.sendDirect(tessId, 'Are you there?');
    const tessUi = await newPerson();
    // Tess's page runs on a clock the test moves: the ping's timeout passes when the test says.
    await tessUi.context.clock.install();
    const sockets = trackSockets(tessUi.page);
    const { page } = tessUi;
    await loginViaUi(page, 'tess');
    await roomItem(page, 'Uri Geller').click();
    await messages(page, 'Are you there?').waitFor();
    const status = page.getByTestId('connection-status');
    await status.waitFor({ state: 'hidden' });
    await waitUntil(() => sockets.length === 1 && authenticated(sockets[0]), { what: 'one authenticated socket' });

    // A live socket: the network "comes back", a ping goes out, the pong answers, and the socket
    // stays (the timeout passes with nothing dropped).
    const live = sockets[0];
    const pingsBefore = count(live.sent, 'ping');
    const pongsBefore = count(live.received, 'pong');
    await networkComesBack(page);
    await waitUntil(() => count(live.sent, 'ping') > pingsBefore && count(live.received, 'pong') > pongsBefore, { what: 'ping answered by pong' });
    await page.clock.fastForward(PROBE_TIMEOUT_MS + 2000);
    await nextFrame(page);
    assert.equal(await status.isHidden(), true, 'no banner for a socket that answered');
    assert.equal(sockets.length, 1, 'no new socket');
    assert.equal(live.closed, false, 'the live socket was kept');

    let n = 0;
    for (const [trigger, wake] of [
      ['the tab becomes visible', tabBecomesVisible],
      ['the network comes back', networkComesBack],
    ]) {
      n += 1;
      const dead = sockets[sockets.length - 1];
      assert.ok(authenticated(dead) && !dead.closed, `${trigger}: starts on a live socket`);
      const opened = sockets.length;
      const text = `Sent while the server was frozen ${n}`;
      let late;
      server.pause();
      try {
        for (let attempt = 1; ; attempt++) {
          const pings = count(dead.sent, 'ping');
          await wake(page);
          // The ping goes out on the socket, which the client still thinks is open…
          await waitUntil(() => count(dead.sent, 'ping') > pings, { what: `${trigger}: a ping on the socket` });
          const atPing = dead.log.findLastIndex((e) => e.sent?.type === 'ping');
          await page.clock.fastForward(PROBE_TIMEOUT_MS - 4000);
          await nextFrame(page);
          assert.equal(await status.isHidden(), true, `${trigger}: not dropped before the ping's timeout`);
          // …and no answer within the timeout: dropped, said so, and a new attempt begun.
          await page.clock.fastForward(5000);
          const shown = await status
            .getByText('Reconnecting…')
            .waitFor({ timeout: 5000 })
            .then(() => true, () => false);
          if (shown) break;
          // A frame the server sent just before it froze, taken in after the ping, is an answer as
          // far as the client can tell (the socket did work then): ask again, a bounded number of
          // times. Anything else is a failure.
          const heard = dead.log.slice(atPing + 1).filter((e) => e.received).map((e) => e.received?.type);
          if (heard.length && attempt < 3) continue;
          const state = await status.getAttribute('data-state');
          throw new Error(`${trigger}: no "Reconnecting…" after the ping's timeout (banner: ${state}; frames taken in after the ping: ${heard.join(', ') || 'none'})`);
        }
        await waitUntil(() => sockets.length > opened, { what: `${trigger}: a new connection attempt`, timeout: 5000 });
        // Uri writes meanwhile (his request waits in the frozen server's queue).
        late = uri.sendDirect(tessId, text);
        late.catch(() => {});
      } finally {
        server.resume();
      }
      await late;
      // Back by itself, no click: the banner goes, the new socket is authenticated, and the
      // catch-up (or the live frame) brings Uri's message, once.
      await status.waitFor({ state: 'hidden', timeout: 20000 });
      await waitUntil(() => authenticated(sockets[sockets.length - 1]), { what: `${trigger}: the new socket authenticated` });
      await messages(page, text).waitFor();
      await waitUntil(() => dead.closed, { what: `${trigger}: the dead socket closed` });
      await uri.sendDirect(tessId, `Marker after thaw ${n}`);
      await messages(page, `Marker after thaw ${n}`).waitFor();
      assert.equal(await messages(page, text).count(), 1, `${trigger}: shown once`);
      assert.equal(sockets.filter((s) => !s.closed).length, 1, `${trigger}: one socket open`);
    }
    await sendViaUi(page, 'Still here');
    const stored = (await tess.roomMessages(hello.room_id)).map((m) => m.content);
    assert.deepEqual(stored.filter((c) => c.startsWith('Sent while') || c === 'Still here'), [
      'Sent while the server was frozen 1',
      'Sent while the server was frozen 2',
      'Still here',
    ]);
    tessUi.assertClean();
  });

  test('the composer after many room switches: Enter sends on a desktop, adds a line on a touch screen, and follows a switch between them', { timeout: 120000 }, async () => {
    const vera = await rest('vera', 'Vera Wang');
    const names = { wes: 'Wes Craven', xia: 'Xia Mei' };
    const ids = {};
    for (const [u, full] of Object.entries(names)) {
      await rest(u, full);
      ids[u] = await vera.userId(u);
    }
    const dmWes = await vera.sendDirect(ids.wes, 'Hi Wes');
    await vera.sendDirect(ids.xia, 'Hi Xia');
    const group = await vera.createGroup('Knitting', [ids.wes, ids.xia]);
    await vera.sendGroup(group.id, 'Hi all');

    const desk = await newPerson();
    // Count the page's listeners for the touch query, and every listener on document and window
    // (added minus removed): building a composer (each room switch) must not add any.
    await desk.context.addInitScript((query) => {
      const norm = (q) => String(q).replace(/\s+/g, ' ').trim();
      const stats = { touchQueries: 0, touchListeners: 0, touchCalls: 0, global: 0 };
      window.__listeners = stats;
      const matchMedia = window.matchMedia.bind(window);
      window.matchMedia = (q) => {
        if (norm(q) === query) stats.touchQueries += 1;
        return matchMedia(q);
      };
      const wrapped = new WeakMap();
      const mqlAdd = MediaQueryList.prototype.addEventListener;
      const mqlRemove = MediaQueryList.prototype.removeEventListener;
      MediaQueryList.prototype.addEventListener = function (type, fn, opts) {
        if (type !== 'change' || norm(this.media) !== query || typeof fn !== 'function') return mqlAdd.call(this, type, fn, opts);
        if (!wrapped.has(fn)) {
          wrapped.set(fn, function (...args) {
            stats.touchCalls += 1;
            return fn.apply(this, args);
          });
          stats.touchListeners += 1;
        }
        return mqlAdd.call(this, type, wrapped.get(fn), opts);
      };
      MediaQueryList.prototype.removeEventListener = function (type, fn, opts) {
        if (wrapped.has(fn)) {
          stats.touchListeners -= 1;
          mqlRemove.call(this, type, wrapped.get(fn), opts);
          wrapped.delete(fn);
          return;
        }
        return mqlRemove.call(this, type, fn, opts);
      };
      MediaQueryList.prototype.addListener = function (fn) {
        return this.addEventListener('change', fn);
      };
      MediaQueryList.prototype.removeListener = function (fn) {
        return this.removeEventListener('change', fn);
      };
      const seen = new Set();
      const key = (t, type, fn, opts) => [t, type, fn, Boolean(typeof opts === 'object' ? opts?.capture : opts)];
      const add = EventTarget.prototype.addEventListener;
      const remove = EventTarget.prototype.removeEventListener;
      const ids = new WeakMap();
      let nextId = 0;
      const idOf = (o) => {
        if (!ids.has(o)) ids.set(o, ++nextId);
        return ids.get(o);
      };
      EventTarget.prototype.addEventListener = function (type, fn, opts) {
        if ((this === window || this === document) && fn) {
          const [t, ty, f, c] = key(this === window ? 'w' : 'd', type, fn, opts);
          const k = `${t}|${ty}|${idOf(f)}|${c}`;
          if (!seen.has(k)) {
            seen.add(k);
            stats.global += 1;
          }
        }
        return add.call(this, type, fn, opts);
      };
      EventTarget.prototype.removeEventListener = function (type, fn, opts) {
        if ((this === window || this === document) && fn) {
          const [t, ty, f, c] = key(this === window ? 'w' : 'd', type, fn, opts);
          const k = `${t}|${ty}|${idOf(f)}|${c}`;
          if (seen.delete(k)) stats.global -= 1;
        }
        return remove.call(this, type, fn, opts);
      };
    }, TOUCH_QUERY);
    const { page } = desk;
    const listeners = () => page.evaluate(() => ({ ...window.__listeners }));
    await loginViaUi(page, 'vera');
    const rooms = [
      ['Wes Craven', 'Hi Wes'],
      ['Xia Mei', 'Hi Xia'],
      ['Knitting', 'Hi all'],
    ];
    const open = async (p, [name, text], how = 'click') => {
      await roomItem(p, name)[how]();
      await p.getByTestId('conversation-title').getByText(name, { exact: true }).waitFor();
      await messages(p, text).waitFor();
    };
    for (const r of rooms) await open(page, r);
    const settled = await listeners();
    for (let i = 0; i < 12; i++) await open(page, rooms[i % rooms.length]);
    const after = await listeners();
    assert.equal(after.touchQueries, 1, 'one touch query for the page');
    assert.equal(after.touchListeners, 1, 'one change listener for the touch query, however many composers were built');
    assert.equal(after.global, settled.global, `no listener left on document or window by room switches (${settled.global} → ${after.global})`);

    // Desktop (this is the 12th switch's room: Wes): Enter sends, Shift+Enter adds a line.
    await open(page, rooms[0]);
    const input = page.getByTestId('composer-input');
    const help = page.locator('#composer-help');
    assert.equal(await input.getAttribute('enterkeyhint'), 'send');
    await input.fill('Line one');
    await input.press('Shift+Enter');
    await input.pressSequentially('line two');
    assert.equal(await input.inputValue(), 'Line one\nline two');
    await input.press('Enter');
    await messages(page, 'Line one\nline two').and(page.locator('[data-status="sent"]')).waitFor();
    assert.equal(await input.inputValue(), '');

    // The screen becomes a touch screen (DevTools' touch emulation: hover none, pointer coarse):
    // the composer on screen follows at once, through the one listener.
    const cdp = await desk.context.newCDPSession(page);
    await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 5 });
    await waitUntil(async () => (await input.getAttribute('enterkeyhint')) === 'enter', { what: 'the keyboard hint follows to "enter"', timeout: 5000 });
    assert.equal(await help.textContent(), 'Enter adds a new line; the Send button sends.');
    const touched = await listeners();
    assert.equal(touched.touchCalls - after.touchCalls, 1, 'the change went through one listener once');
    await input.fill('Eggs');
    await input.press('Enter');
    await input.pressSequentially('flour');
    assert.equal(await input.inputValue(), 'Eggs\nflour');
    await page.getByTestId('send').click();
    await messages(page, 'Eggs\nflour').and(page.locator('[data-status="sent"]')).waitFor();
    // Still a touch screen after more switches.
    for (let i = 1; i <= 3; i++) await open(page, rooms[i % rooms.length]);
    assert.equal(await input.getAttribute('enterkeyhint'), 'enter');
    await input.fill('Wool');
    await input.press('Enter');
    assert.equal(await input.inputValue(), 'Wool\n', 'Enter added a line in a new composer');
    await input.fill('');

    // And back to a mouse: Enter sends again.
    await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: false });
    await waitUntil(async () => (await input.getAttribute('enterkeyhint')) === 'send', { what: 'the keyboard hint back to "send"', timeout: 5000 });
    assert.match(await help.textContent(), /^Press Enter to send, Shift\+Enter for a new line/);
    await input.fill('Back at the desk');
    await input.press('Enter');
    await messages(page, 'Back at the desk').and(page.locator('[data-status="sent"]')).waitFor();
    assert.equal((await listeners()).touchListeners, 1);

    // A phone: one pane at a time, switching rooms through the list several times, then Enter
    // adds a line and the Send button sends one message.
    const phone = await newPerson({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await loginViaUi(phone.page, 'wes');
    for (let i = 0; i < 4; i++) {
      const r = i % 2 ? ['Knitting', 'Hi all'] : ['Vera Wang', 'Hi Wes'];
      await open(phone.page, r, 'tap');
      await phone.page.getByTestId('back').tap();
      await phone.page.getByTestId('room-list').waitFor();
    }
    await open(phone.page, ['Vera Wang', 'Hi Wes'], 'tap');
    const phoneInput = phone.page.getByTestId('composer-input');
    assert.equal(await phoneInput.getAttribute('enterkeyhint'), 'enter');
    await phoneInput.fill('Red wool');
    await phoneInput.press('Enter');
    await phoneInput.pressSequentially('blue wool');
    assert.equal(await phoneInput.inputValue(), 'Red wool\nblue wool');
    await phone.page.getByTestId('send').tap();
    await messages(phone.page, 'Red wool\nblue wool').and(phone.page.locator('[data-status="sent"]')).waitFor();
    const fromWes = (await vera.roomMessages(dmWes.room_id)).filter((m) => m.sender_username === 'wes').map((m) => m.content);
    assert.deepEqual(fromWes, ['Red wool\nblue wool'], 'one message of two lines');
    const fromVera = (await vera.roomMessages(dmWes.room_id)).filter((m) => m.sender_username === 'vera').map((m) => m.content);
    assert.deepEqual(fromVera, ['Hi Wes', 'Line one\nline two', 'Eggs\nflour', 'Back at the desk']);
    desk.assertClean();
    phone.assertClean();
  });

  test('a new name shows at once for others: reply quotes, the reply bar, typing, sidebar, DM header, search results', { timeout: 120000 }, async () => {
    const zoe = await rest('zoe', 'Zoe Old');
    const yan = await rest('yan', 'Yan Tiersen');
    const zoeId = await yan.userId('zoe');
    const yanId = await zoe.userId('yan');
    const question = await zoe.sendDirect(yanId, 'Pick me up at noon?');
    await yan.sendDirect(zoeId, 'Sure, at the station', undefined, question.id);
    const group = await yan.createGroup('Pottery', [zoeId]);
    await zoe.sendGroup(group.id, 'Clay is in');

    const yanUi = await newPerson();
    const zoeUi = await newPerson();
    const { page } = yanUi;
    await loginViaUi(page, 'yan');
    await loginViaUi(zoeUi.page, 'zoe');
    await roomItem(zoeUi.page, 'Yan Tiersen').click();
    await messages(zoeUi.page, 'Pick me up at noon?').waitFor();

    // What Yan sees under her old name.
    const groupPreview = roomItem(page, 'Pottery').getByTestId('room-preview');
    await groupPreview.getByText('Zoe Old: Clay is in').waitFor();
    await roomItem(page, 'Zoe Old').click();
    const title = page.getByTestId('conversation-title');
    await title.getByText('Zoe Old', { exact: true }).waitFor();
    const quoteSender = messages(page, 'Sure, at the station').getByTestId('reply-quote-sender');
    assert.equal(await quoteSender.textContent(), 'Zoe Old');
    await messages(page, 'Pick me up at noon?').getByTestId('reply-button').click();
    const replyBar = page.getByTestId('composer-context-title');
    await replyBar.getByText('Replying to Zoe Old', { exact: true }).waitFor();
    const search = async () => {
      await page.getByTestId('open-search').click();
      await page.getByTestId('search-input').fill('noon');
      await page.locator('[data-testid="search-status"][data-state="done"][data-searched="noon"]').waitFor();
      return page.locator('[data-testid="search-result"]', { has: page.getByTestId('search-result-excerpt').getByText(/noon/) }).getByTestId('search-result-sender');
    };
    assert.equal(await (await search()).textContent(), 'Zoe Old: ');
    await page.keyboard.press('Escape');
    await page.getByTestId('search-dialog').waitFor({ state: 'detached' });
    for (const p of [page, zoeUi.page]) await p.getByTestId('connection-status').waitFor({ state: 'hidden' });
    // She is typing: "Zoe Old is typing…".
    const indicator = page.getByTestId('typing-indicator');
    await zoeUi.page.getByTestId('composer-input').pressSequentially('On my', { delay: 20 });
    await indicator.getByText('Zoe Old is typing…').waitFor();

    // She changes her name on another device, while still typing here (slowly: her typing
    // stays on Yan's screen meanwhile; its frames name her by id, as before).
    const stillTyping = zoeUi.page.getByTestId('composer-input').pressSequentially(' way, wait', { delay: 250 });
    await zoe.call('PATCH', '/auth/me', { full_name: 'Zoe New' });
    // Everything Yan has on screen follows at once, without a reload or a new message.
    await indicator.getByText('Zoe New is typing…').waitFor({ timeout: 2500 });
    await stillTyping;
    await title.getByText('Zoe New', { exact: true }).waitFor();
    await roomItem(page, 'Zoe New').waitFor();
    await waitUntil(async () => (await quoteSender.textContent()) === 'Zoe New', { what: 'the quote in the bubble names her anew' });
    await replyBar.getByText('Replying to Zoe New', { exact: true }).waitFor();
    await groupPreview.getByText('Zoe New: Clay is in').waitFor();
    assert.equal(await page.getByTestId('room-list').getByText(/Zoe Old/).count(), 0, 'the old name is gone from the sidebar');
    assert.equal(await page.getByText(/Zoe Old/).count(), 0, 'the old name is gone from the page');
    // A search now names her anew.
    assert.equal(await (await search()).textContent(), 'Zoe New: ');
    await page.keyboard.press('Escape');
    // The reply goes with the quote, and shows the new name on both sides.
    await page.getByTestId('composer-input').fill('Noon it is');
    await page.getByTestId('composer-input').press('Enter');
    await messages(page, 'Noon it is').and(page.locator('[data-status="sent"]')).waitFor();
    assert.equal(await messages(page, 'Noon it is').getByTestId('reply-quote-sender').textContent(), 'Zoe New');
    await messages(zoeUi.page, 'Noon it is').getByTestId('reply-quote-sender').getByText('You', { exact: true }).waitFor();
    yanUi.assertClean();
    zoeUi.assertClean();
  });

  test('search results open while someone changes their name follow it', { timeout: 60000 }, async () => {
    const ana = await rest('ana', 'Ana Before');
    await rest('bob', 'Bob Diddley');
    const boId = await ana.userId('bob');
    await ana.sendDirect(boId, 'Lunch on Tuesday?');
    const boUi = await newPerson();
    const { page } = boUi;
    await loginViaUi(page, 'bob');
    await roomItem(page, 'Ana Before').click();
    await messages(page, 'Lunch on Tuesday?').waitFor();
    await page.getByTestId('open-search').click();
    await page.getByTestId('search-input').fill('tuesday');
    await page.locator('[data-testid="search-status"][data-state="done"][data-searched="tuesday"]').waitFor();
    const sender = page.getByTestId('search-result-sender').first();
    assert.equal(await sender.textContent(), 'Ana Before: ');
    const room = page.getByTestId('search-result-room').first();
    assert.equal(await room.textContent(), 'Ana Before');
    await ana.call('PATCH', '/auth/me', { full_name: 'Ana After' });
    // Behind the panel, the header has it at once; the panel's results should too.
    await page.getByTestId('conversation-title').getByText('Ana After', { exact: true }).waitFor();
    await waitUntil(async () => (await sender.textContent()) === 'Ana After: ' && (await room.textContent()) === 'Ana After', {
      what: 'the open results name her anew',
      timeout: 3000,
    });
    boUi.assertClean();
  });

  /** A group of two (Gus the owner, Hal) with Hal's members dialog open while an answer for it
   *  is held back: Gus adds Ivy meanwhile, the newer answer shows her, then the older one (from
   *  before she was added) is let through. */
  async function lateMembersAnswer(prefix) {
    const gus = await rest(`${prefix}gus`, 'Gus Grissom');
    await rest(`${prefix}hal`, 'Hal Hartley');
    await rest(`${prefix}ivy`, 'Ivy Compton');
    const halId = await gus.userId(`${prefix}hal`);
    const ivyId = await gus.userId(`${prefix}ivy`);
    const group = await gus.createGroup(`Band ${prefix}`, [halId]);
    await gus.sendGroup(group.id, 'Rehearsal at six');
    const hal = await newPerson();
    const { page } = hal;
    await loginViaUi(page, `${prefix}hal`);
    await roomItem(page, `Band ${prefix}`).click();
    await messages(page, 'Rehearsal at six').waitFor();
    const headerCount = page.getByTestId('conversation-status');
    await headerCount.getByText('2 members', { exact: true }).waitFor();
    await page.getByTestId('connection-status').waitFor({ state: 'hidden' });
    // The next answer for the members is fetched at once (two members) and handed over later.
    let held = null;
    let release;
    const gate = new Promise((r) => {
      release = r;
    });
    const path = `/groups/${group.id}/members`;
    await page.route(`**${path}`, async (route) => {
      if (route.request().method() !== 'GET' || held) return route.continue();
      held = { url: route.request().url() };
      const res = await route.fetch();
      held.fetched = true;
      await gate;
      await route.fulfill({ response: res });
    });
    await page.getByTestId('open-members').click();
    const dialog = page.getByTestId('members-dialog');
    await waitUntil(() => held?.fetched, { what: 'the first answer fetched and held' });
    await gus.call('POST', path, { user_ids: [ivyId] });
    const items = dialog.locator('[data-testid="member-item"]');
    await dialog.locator(`[data-testid="member-item"][data-username="${prefix}ivy"]`).waitFor();
    await headerCount.getByText('3 members', { exact: true }).waitFor();
    const done = page.waitForEvent('requestfinished', (r) => r.url() === held.url);
    release();
    await done;
    await nextFrame(page);
    await nextFrame(page);
    return { hal, dialog, items, headerCount };
  }

  test('members dialog: an older answer arriving late does not replace the newer list', { timeout: 60000 }, async () => {
    const { hal, dialog, items } = await lateMembersAnswer('a');
    assert.equal(await items.count(), 3, 'the list still has Ivy');
    assert.equal(await dialog.getByTestId('members-status').textContent(), '3 members');
    hal.assertClean();
  });

  test(
    "the header's member count: an older members answer arriving late does not replace the newer count",
    { timeout: 60000 },
    async () => {
      const { hal, headerCount } = await lateMembersAnswer('b');
      assert.equal(await headerCount.textContent(), '3 members');
      hal.assertClean();
    },
  );

  test('the members dialog follows the group live and asks before removing; the heir gets the controls at once', { timeout: 180000 }, async () => {
    const olga = await rest('olga', 'Olga Tokarczuk');
    const people = { pat: 'Pat Metheny', quinn: 'Quinn Harley', ravi: 'Ravi Shankar', sam: 'Sam Cooke' };
    const rests = {};
    const ids = {};
    for (const [u, full] of Object.entries(people)) {
      rests[u] = await rest(u, full);
      ids[u] = await olga.userId(u);
    }
    // Pat joins first: the longest-standing member, the group's heir.
    const group = await olga.createGroup('Trip', [ids.pat]);
    await olga.call('POST', `/groups/${group.id}/members`, { user_ids: [ids.quinn, ids.ravi] });
    await olga.sendGroup(group.id, 'Where to?');

    const olgaUi = await newPerson();
    const patUi = await newPerson();
    const quinnUi = await newPerson();
    const dialogs = {};
    for (const [u, p] of [
      ['olga', olgaUi],
      ['pat', patUi],
      ['quinn', quinnUi],
    ]) {
      await loginViaUi(p.page, u);
      await roomItem(p.page, 'Trip').click();
      await messages(p.page, 'Where to?').waitFor();
      await p.page.getByTestId('open-members').click();
      dialogs[u] = p.page.getByTestId('members-dialog');
      await dialogs[u].getByTestId('members-status').getByText('4 members', { exact: true }).waitFor();
    }
    const row = (u, who) => dialogs[u].locator(`[data-testid="member-item"][data-username="${who}"]`);
    const listed = (u) => dialogs[u].locator('[data-testid="member-item"]').evaluateAll((els) => els.map((e) => e.dataset.username).sort());
    const listIs = async (u, names) => {
      const want = [...names].sort();
      await waitUntil(async () => JSON.stringify(await listed(u)) === JSON.stringify(want), { what: `${u}'s list: ${want.join(', ')}` });
      await dialogs[u].getByTestId('members-status').getByText(`${names.length} member${names.length === 1 ? '' : 's'}`, { exact: true }).waitFor();
    };
    assert.equal(await dialogs.pat.getByTestId('remove-member').count(), 0, 'Pat is not the owner');
    assert.equal(await dialogs.olga.getByTestId('remove-member').count(), 3);

    // Olga adds Sam from another device; Ravi leaves: the open dialogs follow.
    await olga.call('POST', `/groups/${group.id}/members`, { user_ids: [ids.sam] });
    for (const u of ['olga', 'pat', 'quinn']) await listIs(u, ['olga', 'pat', 'quinn', 'ravi', 'sam']);
    await row('olga', 'sam').getByTestId('remove-member').waitFor();
    await rests.ravi.call('DELETE', `/groups/${group.id}/members`, { user_id: ids.ravi });
    for (const u of ['olga', 'pat', 'quinn']) await listIs(u, ['olga', 'pat', 'quinn', 'sam']);

    // Renamed on her other device: the heading and the rename field follow…
    const heading = (u, name) => dialogs[u].getByRole('heading', { name: `Members of ${name}`, exact: true });
    const renameInput = dialogs.olga.getByTestId('rename-input');
    assert.equal(await renameInput.inputValue(), 'Trip');
    await olga.call('PATCH', `/groups/${group.id}`, { name: 'Trip to Oslo' });
    for (const u of ['olga', 'pat']) await heading(u, 'Trip to Oslo').waitFor();
    await waitUntil(async () => (await renameInput.inputValue()) === 'Trip to Oslo', { what: 'the rename field follows' });
    // …unless a new name is being written there: it is kept.
    await renameInput.fill('Trip to Ber');
    await olga.call('PATCH', `/groups/${group.id}`, { name: 'Oslo trip' });
    await heading('olga', 'Oslo trip').waitFor();
    assert.equal(await renameInput.inputValue(), 'Trip to Ber', 'what she is writing is kept');
    await renameInput.fill('Oslo trip');
    // Leaving asks with the group's name as it is now.
    await dialogs.pat.getByTestId('leave-group').click();
    await dialogs.pat.getByTestId('leave-question').getByText('Leave “Oslo trip”? You will stop receiving its messages.').waitFor();
    await dialogs.pat.getByRole('button', { name: 'Stay' }).click();
    await dialogs.pat.getByTestId('leave-group').waitFor();

    // Removing asks first, naming the person and the group as it is now; Cancel keeps them.
    const confirm = olgaUi.page.getByTestId('remove-member-dialog');
    await row('olga', 'quinn').getByTestId('remove-member').click();
    await confirm.getByText('Quinn Harley will be removed from “Oslo trip” and stop receiving its messages.', { exact: false }).waitFor();
    await confirm.getByRole('heading', { name: 'Remove Quinn Harley?' }).waitFor();
    await confirm.getByTestId('cancel-remove-member').click();
    await confirm.waitFor({ state: 'detached' });
    assert.equal(await row('olga', 'quinn').count(), 1, 'Cancel keeps Quinn');
    assert.ok((await olga.call('GET', `/groups/${group.id}/members`)).some((m) => m.user_id === ids.quinn), 'on the server too');
    assert.ok(await dialogs.quinn.isVisible(), "Quinn's dialog is still open");
    // For real: gone everywhere; Quinn's own dialog closes by itself.
    await row('olga', 'quinn').getByTestId('remove-member').click();
    await confirm.getByTestId('confirm-remove-member').click();
    await confirm.waitFor({ state: 'detached' });
    await olgaUi.page.getByTestId('toast').getByText('Quinn Harley was removed from the group.').waitFor();
    for (const u of ['olga', 'pat']) await listIs(u, ['olga', 'pat', 'sam']);
    await waitUntil(async () => (await olgaUi.page.evaluate(() => document.activeElement?.dataset?.testid)) === 'remove-member', { what: 'focus on the next Remove' });
    await dialogs.quinn.waitFor({ state: 'detached' });

    // Olga deletes her account: Pat's open dialog gives him the owner's controls at once.
    await olga.call('DELETE', '/auth/me', { password: PASSWORD });
    await listIs('pat', ['pat', 'sam']);
    await row('pat', 'sam').getByTestId('remove-member').waitFor();
    await dialogs.pat.getByTestId('rename-form').waitFor();
    await dialogs.pat.getByTestId('add-members').waitFor();
    assert.match(await row('pat', 'pat').textContent(), /creator/);
    // His controls work, asking first too.
    await row('pat', 'sam').getByTestId('remove-member').click();
    const patConfirm = patUi.page.getByTestId('remove-member-dialog');
    await patConfirm.getByTestId('confirm-remove-member').click();
    await listIs('pat', ['pat']);
    assert.deepEqual(
      (await rests.pat.call('GET', `/groups/${group.id}/members`)).map((m) => m.user_id),
      [ids.pat],
    );
    for (const p of [olgaUi, patUi, quinnUi]) p.assertClean();
  });
});
