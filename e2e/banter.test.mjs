// banter.test.mjs — Banter's web client end to end: a real server binary, Chromium, one
// browser context per person. Run with `npm test` here (or `node --test e2e/`); set BANTER_BIN
// to the server binary. Screenshots go to docs/screenshots/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BanterServer } from './lib/server.mjs';
import { fixtures } from './lib/fixtures.mjs';
import { RestClient } from './lib/rest.mjs';
import {
  launch,
  person,
  waitUntil,
  messages,
  roomItem,
  registerViaUi,
  loginViaUi,
  sendViaUi,
  screenshot,
  assertNoOverflow,
} from './lib/browser.mjs';

const { server, newPerson, rest, hooks } = fixtures();

describe('Banter web client', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('two people find each other, chat live, see typing and unread, reload history', { timeout: 180000 }, async () => {
    const alice = await newPerson();
    const bob = await newPerson();

    await alice.page.goto('/');
    await alice.page.getByTestId('login-form').waitFor();
    await screenshot(alice.page, 'login.png');

    // Registration errors from the server are shown next to their field.
    await alice.page.getByTestId('tab-register').click();
    const form = alice.page.getByTestId('register-form');
    await form.getByTestId('input-username').fill('a!');
    await form.getByTestId('input-email').fill('alice@example.com');
    await form.getByTestId('input-password').fill('correct-horse-9');
    await form.getByTestId('register-submit').click();
    await form.getByTestId('error-username').waitFor();

    await registerViaUi(alice.page, { username: 'alice', fullName: 'Alice Liddell' });
    await registerViaUi(bob.page, { username: 'bob', fullName: 'Bob Builder' });

    // Taken usernames are refused, inline.
    const carol = await newPerson();
    await carol.page.goto('/');
    await carol.page.getByTestId('tab-register').click();
    const cform = carol.page.getByTestId('register-form');
    await cform.getByTestId('input-username').fill('alice');
    await cform.getByTestId('input-email').fill('other-alice@example.com');
    await cform.getByTestId('input-password').fill('correct-horse-9');
    await cform.getByTestId('register-submit').click();
    await cform.getByTestId('error-username').getByText(/already/i).waitFor();

    // Alice finds Bob by name and writes first: the DM room is created by that message.
    await alice.page.getByTestId('new-dm').click();
    const dlg = alice.page.getByTestId('new-dm-dialog');
    await dlg.getByTestId('user-search').fill('Bob');
    await dlg.locator('[data-testid="user-result"][data-username="bob"]').click();
    await alice.page.getByTestId('conversation-title').getByText('Bob Builder').waitFor();
    await sendViaUi(alice.page, 'Hello Bob!');

    // Bob sees it live, with an unread badge, without reloading.
    const bobItem = roomItem(bob.page, 'Alice Liddell');
    await bobItem.getByTestId('room-preview').getByText('Hello Bob!').waitFor();
    assert.equal(await bobItem.getByTestId('unread-badge').textContent(), '1');
    await sendViaUi(alice.page, 'Are you there?');
    await waitUntil(async () => (await bobItem.getByTestId('unread-badge').textContent()) === '2', { what: 'unread badge 2' });
    await screenshot(bob.page, 'conversations.png');

    // Opening the conversation shows the history and clears the badge.
    await bobItem.click();
    await messages(bob.page, 'Hello Bob!').waitFor();
    await messages(bob.page, 'Are you there?').waitFor();
    await bobItem.getByTestId('unread-badge').waitFor({ state: 'detached' });

    // Typing indicator: Bob types, Alice sees it; it goes away when the message arrives.
    await bob.page.getByTestId('composer-input').pressSequentially('Hi Ali', { delay: 20 });
    await alice.page.getByTestId('typing-indicator').getByText('Bob Builder is typing…').waitFor();
    await bob.page.getByTestId('composer-input').pressSequentially('ce!');
    await bob.page.getByTestId('composer-input').press('Enter');
    await messages(alice.page, 'Hi Alice!').waitFor();
    await waitUntil(async () => (await alice.page.getByTestId('typing-indicator').textContent()) === '', { what: 'typing indicator to clear' });

    // Shift+Enter makes a new line instead of sending.
    await alice.page.getByTestId('composer-input').fill('Line one');
    await alice.page.getByTestId('composer-input').press('Shift+Enter');
    await alice.page.getByTestId('composer-input').pressSequentially('Line two');
    await alice.page.getByTestId('composer-input').press('Enter');
    await messages(bob.page, 'Line one\nLine two').waitFor();
    await sendViaUi(bob.page, 'See you at the café ☕ — <b>not bold</b>');
    await messages(alice.page, 'See you at the café ☕ — <b>not bold</b>').waitFor();
    assert.equal(await alice.page.locator('.msg-content b').count(), 0, 'user text is never markup');
    assert.ok((await alice.page.getByTestId('day-separator').count()) >= 1);
    await screenshot(alice.page, 'dm.png');

    // A reload keeps Alice logged in and in the conversation, with its history, once each.
    await alice.page.reload();
    await alice.page.getByTestId('conversation-title').getByText('Bob Builder').waitFor();
    for (const text of ['Hello Bob!', 'Are you there?', 'Hi Alice!', 'Line one\nLine two']) {
      await messages(alice.page, text).first().waitFor();
      assert.equal(await messages(alice.page, text).count(), 1, `"${text}" shown once`);
    }
    alice.assertClean();
    bob.assertClean();
  });

  test('a group of three; the creator removes a member, who stops receiving it', { timeout: 180000 }, async () => {
    const dave = await newPerson();
    const erinRest = await rest('erin', 'Erin Example');
    await rest('frank', 'Frank Castle');
    const carol = await newPerson();
    const erin = await newPerson();
    const frank = await newPerson();

    await registerViaUi(carol.page, { username: 'carol', fullName: 'Carol Danvers' });
    await registerViaUi(dave.page, { username: 'dave', fullName: 'Dave Lister' });
    await loginViaUi(erin.page, 'erin@example.com'); // by email
    await loginViaUi(frank.page, 'FRANK'); // by username, any case

    // Carol makes a group by picking names.
    await carol.page.getByTestId('new-group').click();
    const dlg = carol.page.getByTestId('new-group-dialog');
    await dlg.getByTestId('group-name').fill('Weekend trip');
    for (const [query, username] of [['Dave', 'dave'], ['eri', 'erin'], ['Frank', 'frank']]) {
      await dlg.getByTestId('user-search').fill(query);
      await dlg.locator(`[data-testid="user-result"][data-username="${username}"]`).click();
      await dlg.locator(`[data-testid="selected-member"]`).filter({ hasText: new RegExp(username, 'i') }).waitFor();
    }
    await dlg.getByTestId('create-group').click();
    await dlg.waitFor({ state: 'detached' });
    await carol.page.getByTestId('conversation-title').getByText('Weekend trip').waitFor();
    await carol.page.getByTestId('conversation-status').getByText('4 members').waitFor();
    await sendViaUi(carol.page, 'Welcome to the trip!');

    for (const p of [dave, erin, frank]) {
      const item = roomItem(p.page, 'Weekend trip');
      await item.getByTestId('room-preview').getByText('Welcome to the trip!').waitFor();
      await item.click();
      await messages(p.page, 'Welcome to the trip!').waitFor();
    }
    await sendViaUi(erin.page, 'Thanks Carol!');
    await messages(carol.page, 'Thanks Carol!').waitFor();
    await messages(dave.page, 'Thanks Carol!').waitFor();
    await screenshot(carol.page, 'group.png');

    // Carol removes Dave (keyboard: Escape closes the dialog).
    await carol.page.getByTestId('open-members').click();
    const members = carol.page.getByTestId('members-dialog');
    await members.locator('[data-testid="member-item"]').nth(3).waitFor();
    await members.locator('[data-testid="member-item"][data-username="dave"]').getByTestId('remove-member').click();
    await carol.page.getByTestId('remove-member-dialog').getByTestId('confirm-remove-member').click();
    await waitUntil(async () => (await members.locator('[data-testid="member-item"]').count()) === 3, { what: '3 members left' });
    await carol.page.keyboard.press('Escape');
    await members.waitFor({ state: 'detached' });
    await carol.page.getByTestId('conversation-status').getByText('3 members').waitFor();

    // Dave is told, and can no longer write there.
    await dave.page.getByTestId('not-member').waitFor();
    assert.equal(await dave.page.getByTestId('composer').isVisible(), false);

    // A message after the removal reaches the others, never Dave.
    await sendViaUi(carol.page, 'Plans after Dave left');
    await messages(erin.page, 'Plans after Dave left').waitFor();
    await messages(frank.page, 'Plans after Dave left').waitFor();
    // Sync point: a later DM from Carol does reach Dave, so the group message had its chance.
    const carolRest = new RestClient(server.url);
    await carolRest.login('carol');
    await carolRest.sendDirect(dave.page && (await userId(carolRest, 'dave')), 'Sorry Dave');
    await roomItem(dave.page, 'Carol Danvers').getByTestId('room-preview').getByText('Sorry Dave').waitFor();
    assert.equal(await dave.page.getByText('Plans after Dave left').count(), 0, 'removed member never sees it');
    assert.equal(await messages(dave.page, 'Thanks Carol!').count(), 1, 'earlier history stays');

    // Frank leaves by himself.
    await frank.page.getByTestId('open-members').click();
    await frank.page.getByTestId('leave-group').click();
    await frank.page.getByTestId('confirm-leave').click();
    await roomItem(frank.page, 'Weekend trip').waitFor({ state: 'detached' });
    await sendViaUi(erin.page, 'Bye Frank');
    await messages(carol.page, 'Bye Frank').waitFor();
    assert.equal(await frank.page.getByText('Bye Frank').count(), 0);

    // Carol adds Dave back by name: his view is live again, with the history he missed.
    await carol.page.getByTestId('open-members').click();
    const add = carol.page.getByTestId('members-dialog').getByTestId('add-members');
    await add.getByTestId('user-search').fill('dav');
    await add.locator('[data-testid="user-result"][data-username="dave"]').click();
    await carol.page.getByTestId('members-dialog').locator('[data-testid="member-item"][data-username="dave"]').waitFor();
    await carol.page.getByTestId('dialog-close').click();
    await roomItem(dave.page, 'Weekend trip').click();
    await dave.page.getByTestId('composer').waitFor();
    assert.equal(await dave.page.getByTestId('not-member').isVisible(), false);
    await sendViaUi(carol.page, 'Welcome back Dave');
    await messages(dave.page, 'Welcome back Dave').waitFor();
    assert.equal(await messages(dave.page, 'Welcome back Dave').count(), 1);
    assert.ok(erinRest.user.id > 0);
    for (const p of [carol, dave, erin, frank]) p.assertClean();
  });

  test('the server restarts mid-conversation; the client reconnects and catches up once', { timeout: 180000 }, async () => {
    const grace = await rest('grace', 'Grace Hopper');
    const heidi = await newPerson();
    await registerViaUi(heidi.page, { username: 'heidi', fullName: 'Heidi Lamarr' });
    const heidiId = await userId(grace, 'heidi');
    await grace.sendDirect(heidiId, 'Before the restart');
    const item = roomItem(heidi.page, 'Grace Hopper');
    await item.click();
    await messages(heidi.page, 'Before the restart').waitFor();

    // Down: the client says so, and a message written now is shown as not sent (yet).
    await server.stop({ signal: 'SIGKILL' });
    const status = heidi.page.getByTestId('connection-status');
    await status.getByText('Reconnecting…').waitFor();
    const input = heidi.page.getByTestId('composer-input');
    await input.fill('Written while offline');
    await input.press('Enter');
    const failed = messages(heidi.page, 'Written while offline');
    await failed.and(heidi.page.locator('[data-status="failed"]')).waitFor();
    await failed.getByTestId('retry').waitFor();

    // Up again on the same port and database; Grace writes at once, over REST.
    await server.start();
    const missed = ['Missed one', 'Missed two', 'Missed three'];
    for (const text of missed) await grace.sendDirect(heidiId, text);

    await status.waitFor({ state: 'hidden', timeout: 30000 });
    for (const text of missed) await messages(heidi.page, text).waitFor();
    // Back online, it goes by itself (no Retry needed), with its client_id: stored once.
    const sent = messages(heidi.page, 'Written while offline').and(heidi.page.locator('[data-status="sent"]'));
    await sent.waitFor();
    assert.equal(await sent.getByTestId('retry').count(), 0, 'nothing left to retry');
    await grace.sendDirect(heidiId, 'Marker after catch-up');
    await messages(heidi.page, 'Marker after catch-up').waitFor();
    for (const text of [...missed, 'Before the restart', 'Written while offline']) {
      assert.equal(await messages(heidi.page, text).count(), 1, `"${text}" shown exactly once`);
    }
    const roomId = (await grace.rooms()).find((r) => r.other_user?.username === 'heidi').room_id;
    const stored = await grace.roomMessages(roomId);
    assert.equal(stored.filter((m) => m.content === 'Written while offline').length, 1, 'stored exactly once');
    heidi.assertClean();
  });

  test('long history pages in on scrolling up; an expired access token is refreshed silently', { timeout: 180000 }, async () => {
    // The history is written while Leo is away, so his client has to fetch it page by page.
    const kim = await rest('kim', 'Kim Possible');
    await rest('leo', 'Leo Tolstoy');
    const leoId = await userId(kim, 'leo');
    const total = 130;
    for (let i = 1; i <= total; i++) await kim.sendDirect(leoId, `History ${i}`);
    const leo = await newPerson();
    await loginViaUi(leo.page, 'leo');

    await roomItem(leo.page, 'Kim Possible').click();
    await messages(leo.page, `History ${total}`).waitFor();
    const all = leo.page.locator('[data-testid="message"]');
    assert.ok((await all.count()) < total, 'only the newest page at first');
    // Scroll to the top until the first message is there (each scroll may fetch one page).
    await waitUntil(
      async () => {
        await leo.page.getByTestId('message-list').evaluate((el) => {
          el.scrollTop = 0;
        });
        return (await messages(leo.page, 'History 1').count()) === 1;
      },
      { what: 'the oldest message after scrolling up', timeout: 20000, interval: 300 },
    );
    assert.equal(await all.count(), total, 'every message exactly once');
    await leo.page.getByTestId('history-note').getByText(/beginning/).waitFor();
    const seqs = await all.evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    assert.deepEqual(seqs, Array.from({ length: total }, (_, i) => i + 1), 'in seq order, no gaps');

    // A bad access token: REST and the socket both hit 401/4001 at once. They must share one
    // refresh (the refresh token rotates: a second use would end the session).
    const before = await leo.page.evaluate(() => localStorage.getItem('banter.refresh'));
    await leo.page.evaluate(() => localStorage.setItem('banter.access', 'not-a-valid-token'));
    await leo.page.reload();
    await messages(leo.page, `History ${total}`).waitFor();
    await waitUntil(async () => (await leo.page.evaluate(() => localStorage.getItem('banter.access'))) !== 'not-a-valid-token', {
      what: 'a new access token',
    });
    const after = await leo.page.evaluate(() => localStorage.getItem('banter.refresh'));
    assert.notEqual(after, before, 'the rotated refresh token was stored');
    await leo.page.getByTestId('connection-status').waitFor({ state: 'hidden' });
    await kim.sendDirect(leoId, 'Still here after the refresh');
    await messages(leo.page, 'Still here after the refresh').waitFor();
    await sendViaUi(leo.page, 'Me too');
    leo.assertClean();
  });

  test('socket close codes: 4001 refreshes, 4008/1001 reconnect and fill gaps with sync, 4003 logs out', { timeout: 180000 }, async () => {
    const omar = await rest('omar', 'Omar Little');
    const nina = await newPerson();
    const { page } = nina;
    // Stand between the page and the server's /ws: record what the page sends, close sockets
    // with chosen codes, and (while `hold`) turn new connections away as a server going away.
    const sockets = [];
    let hold = false;
    await page.routeWebSocket(
      (url) => url.pathname === '/ws',
      (ws) => {
        const rec = { url: ws.url(), sent: [], received: [], route: ws };
        sockets.push(rec);
        if (hold) {
          rec.held = true;
          setTimeout(() => ws.close({ code: 1001, reason: 'going away' }).catch(() => {}), 50);
          return;
        }
        const server = ws.connectToServer();
        ws.onMessage((m) => {
          rec.sent.push(JSON.parse(String(m)));
          server.send(m);
        });
        server.onMessage((m) => {
          rec.received.push(JSON.parse(String(m)));
          ws.send(m);
        });
      },
    );
    const live = () => sockets.filter((s) => !s.held).at(-1);
    const connected = (rec) => rec.received.some((f) => f.type === 'connected');
    const consoleText = [];
    page.on('console', (msg) => consoleText.push(msg.text()));

    await registerViaUi(page, { username: 'nina', fullName: 'Nina Simone' });
    const ninaId = await userId(omar, 'nina');
    await omar.sendDirect(ninaId, 'Before the gap');
    await roomItem(page, 'Omar Little').click();
    await messages(page, 'Before the gap').waitFor();
    const status = page.getByTestId('connection-status');

    // 4001: the token is refused; the client refreshes (the refresh token rotates) and is back.
    const refreshBefore = await page.evaluate(() => localStorage.getItem('banter.refresh'));
    await waitUntil(() => connected(live()), { what: 'a connected socket' });
    const before4001 = sockets.length;
    await live().route.close({ code: 4001, reason: 'bad token' });
    await waitUntil(() => sockets.length > before4001 && connected(live()), { what: 'a new socket after 4001' });
    assert.notEqual(await page.evaluate(() => localStorage.getItem('banter.refresh')), refreshBefore, 'refreshed after 4001');

    // 4008, then the server turns connections away (1001) for a while. Meanwhile Omar writes,
    // and Nina's own message goes over REST, landing after one she has not seen yet.
    hold = true;
    await live().route.close({ code: 4008, reason: 'too slow' });
    await status.getByText('Reconnecting…').waitFor();
    await omar.sendDirect(ninaId, 'Gap one');
    await sendViaUi(page, 'Sent while away');
    await omar.sendDirect(ninaId, 'Gap two');
    await waitUntil(() => sockets.some((x) => x.held), { what: 'a connection turned away' });
    hold = false;
    await page.evaluate(() => window.dispatchEvent(new Event('online'))); // skip the backoff
    await status.waitFor({ state: 'hidden', timeout: 30000 });
    for (const text of ['Before the gap', 'Gap one', 'Sent while away', 'Gap two']) {
      await messages(page, text).waitFor();
      assert.equal(await messages(page, text).count(), 1, `"${text}" shown once`);
    }
    const seqs = await page.locator('[data-testid="message"]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => seqs[0] + i), 'in seq order, no gaps');

    // The protocol as sent: token only in the first frame, one `sync` per socket, never
    // `subscribe_all`, never a token in a URL.
    const tokens = new Set();
    for (const s of sockets.filter((x) => !x.held && connected(x))) {
      assert.equal(new URL(s.url).pathname, '/ws', 'no token in the socket URL');
      assert.equal(s.sent[0]?.type, 'auth', 'authenticates with the first frame');
      tokens.add(s.sent[0].token);
      assert.equal(s.sent.filter((f) => f.type === 'subscribe_all').length, 0, 'no subscribe_all');
      assert.equal(s.sent.filter((f) => f.type === 'sync').length, 1, 'one sync per connection');
    }

    // An unsent draft stays with its author; 4003 (revoked) ends the session for good.
    await page.getByTestId('composer-input').fill('Not for Omar');
    const before4003 = sockets.length;
    await live().route.close({ code: 4003, reason: 'revoked' });
    await page.getByTestId('auth-notice').getByText(/logged out/i).waitFor();
    await page.waitForTimeout(1500);
    assert.equal(sockets.length, before4003, 'no reconnect after 4003');

    // Omar logs in on the same browser: he shares that room, but not Nina's draft.
    await loginViaUi(page, 'omar');
    await roomItem(page, 'Nina Simone').click();
    await messages(page, 'Sent while away').waitFor();
    assert.equal(await page.getByTestId('composer-input').inputValue(), '', "the previous user's draft is gone");

    for (const t of tokens) assert.ok(!consoleText.some((line) => line.includes(t)), 'no token in the console');
    nina.assertClean();
  });

  test('account: change password, log out, log in again, log out everywhere, delete', { timeout: 180000 }, async () => {
    const mia = await newPerson();
    await registerViaUi(mia.page, { username: 'mia', fullName: 'Mia Wallace' });
    const other = await newPerson(); // a second device of Mia's
    await loginViaUi(other.page, 'mia');

    // Change password: this device stays in (new tokens), the other one is logged out.
    await mia.page.getByTestId('open-settings').click();
    const settings = mia.page.getByTestId('settings-dialog');
    await settings.getByTestId('input-current_password').fill('wrong-password');
    await settings.getByTestId('input-new_password').fill('new-password-42');
    await settings.getByTestId('change-password').click();
    await settings.locator('[data-testid="error-current_password"], [data-testid="form-error"]').first().waitFor();
    await settings.getByTestId('input-current_password').fill('correct-horse-9');
    await settings.getByTestId('change-password').click();
    await mia.page.getByTestId('toast').getByText(/Password changed/).waitFor();
    await mia.page.keyboard.press('Escape');
    await settings.waitFor({ state: 'detached' });
    await other.page.getByTestId('login-form').waitFor({ timeout: 20000 });
    await mia.page.getByTestId('connection-status').waitFor({ state: 'hidden' });
    assert.equal(await mia.page.getByTestId('login-form').count(), 0, 'this device is still logged in');

    // Log out of this device, then log in with the new password.
    await mia.page.getByTestId('open-settings').click();
    await mia.page.getByTestId('logout').click();
    await mia.page.getByTestId('login-form').waitFor();
    await loginViaUi(mia.page, 'mia@example.com', 'new-password-42');
    await loginViaUi(other.page, 'mia', 'new-password-42');

    // Log out everywhere.
    await mia.page.getByTestId('open-settings').click();
    await mia.page.getByTestId('logout-all').click();
    await mia.page.getByTestId('login-form').waitFor();
    await other.page.getByTestId('login-form').waitFor({ timeout: 20000 });

    // Delete the account; logging in again fails with a sentence, not JSON.
    await loginViaUi(mia.page, 'mia', 'new-password-42');
    await mia.page.getByTestId('open-settings').click();
    await mia.page.getByTestId('delete-password').fill('new-password-42');
    await mia.page.getByTestId('delete-account').click();
    await mia.page.getByTestId('auth-notice').getByText(/deleted/).waitFor();
    const form = mia.page.getByTestId('login-form');
    await form.getByTestId('input-username').fill('mia');
    await form.getByTestId('input-password').fill('new-password-42');
    await form.getByTestId('login-submit').click();
    await form.getByTestId('form-error').waitFor();
    const err = await form.getByTestId('form-error').textContent();
    assert.match(err, /invalid username or password/i);
    assert.doesNotMatch(err, /[{}"]/);
    mia.assertClean();
  });

  test('a phone-sized screen in light and dark mode has no overflow or overlap', { timeout: 180000 }, async () => {
    const ivan = await rest('ivan', 'Ivan the Terribly Long Named Person Of Many Words');
    const judyRest = await rest('judy', 'Judy');
    const judyId = await userId(ivan, 'judy');
    await ivan.sendDirect(judyId, 'A long line without spaces: ' + 'x'.repeat(300));
    await ivan.sendDirect(judyId, 'Short one');
    assert.ok(judyRest.user.id === judyId);

    for (const [scheme, file] of [['light', 'mobile.png'], ['dark', 'dark.png']]) {
      const p = await newPerson({ viewport: { width: 390, height: 844 }, colorScheme: scheme, isMobile: true, hasTouch: true });
      const { page } = p;
      await page.goto('/');
      await page.getByTestId('login-form').waitFor();
      await assertNoOverflow(page, `${scheme} login`);
      await loginViaUi(page, 'judy');
      await assertNoOverflow(page, `${scheme} list`);
      const item = roomItem(page, 'Ivan');
      await item.click();
      await messages(page, 'Short one').waitFor();
      assert.equal(await page.getByTestId('room-list').isVisible(), false, 'one pane at a time');
      await assertNoOverflow(page, `${scheme} conversation`);
      const list = await page.getByTestId('message-list').boundingBox();
      const composer = await page.getByTestId('composer').boundingBox();
      assert.ok(list && composer, 'list and composer rendered');
      assert.ok(list.y + list.height <= composer.y + 1, `message list (${list.y}+${list.height}) ends above the composer (${composer.y})`);
      assert.ok(composer.y + composer.height <= 844 + 1, 'composer inside the viewport');
      assert.ok(composer.x >= 0 && composer.x + composer.width <= 390 + 1, 'composer inside the width');
      const dark = await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches);
      assert.equal(dark, scheme === 'dark');
      await screenshot(page, file);
      await page.getByTestId('back').click();
      await page.getByTestId('room-list').waitFor({ state: 'visible' });
      p.assertClean();
    }
  });
});

async function userId(client, username) {
  const found = await client.call('GET', `/users/search?q=${encodeURIComponent(username)}`);
  const u = found.find((x) => x.username === username);
  assert.ok(u, `user ${username} found by search`);
  return u.id;
}



describe('registration modes in the web client', { timeout: 5 * 60 * 1000 }, () => {
  let modeBrowser;
  const servers = [];
  before(async () => {
    modeBrowser = await launch();
  });
  after(async () => {
    await modeBrowser?.close().catch(() => {});
    for (const s of servers) {
      await s.stop();
      s.cleanup();
    }
  });

  test('closed: no way to register, and the page says so; invite: an invite code is asked for', { timeout: 120000 }, async () => {
    const closed = new BanterServer({ REGISTRATION: 'closed' });
    const invite = new BanterServer({ REGISTRATION: 'invite' });
    servers.push(closed, invite);
    await closed.start();
    await invite.start();

    const a = await person(modeBrowser, closed.url);
    await a.page.goto('/');
    await a.page.getByTestId('registration-closed').waitFor({ state: 'visible' });
    assert.match(await a.page.getByTestId('registration-closed').innerText(), /Registration is closed/);
    assert.equal(await a.page.getByTestId('tab-register').isVisible(), false);
    await a.context.close();

    const b = await person(modeBrowser, invite.url);
    await b.page.goto('/');
    await b.page.getByTestId('tab-register').click();
    const code = b.page.getByLabel('Invite code');
    await code.waitFor({ state: 'visible' });
    // Without a valid code the server refuses, and the form says why.
    await b.page.getByLabel('Username').fill('invitee');
    await b.page.getByLabel('Email').fill('invitee@example.com');
    await b.page.getByLabel('Password').fill('invitee-password');
    await code.fill('not-a-real-code');
    await b.page.getByTestId('register-submit').click();
    const error = b.page.getByTestId('register-form').getByTestId('form-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.innerText(), /invite code/i);
    await b.context.close();
  });
});
