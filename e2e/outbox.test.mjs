// outbox.test.mjs — messages written but not sent yet outlive the page: kept in localStorage per
// user (outbox.js), put back when the page starts again and sent by themselves once connected
// (oldest first, same client_id, stored once); never sent, or shown, as the next person who logs
// in on the same browser. Each person in their own browser context (its localStorage is that
// person's browser); a "tab" is a page of that context. Screenshots go to docs/screenshots/.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtures } from './lib/fixtures.mjs';
import { waitUntil, messages, roomItem, loginViaUi, sendViaUi, screenshot } from './lib/browser.mjs';

const { server, newPerson, rest, hooks } = fixtures();

const outboxKey = (userId) => `banter.outbox.${userId}`;

/** A user's saved outbox in this browser (null when there is none). */
function savedOutbox(page, userId) {
  return page.evaluate((key) => JSON.parse(localStorage.getItem(key) || 'null'), outboxKey(userId));
}

/** Whether the saved outbox holds no message (gone, or only Discard marks). */
async function savedEmpty(page, userId) {
  const saved = await savedOutbox(page, userId);
  return !saved || saved.messages.length === 0;
}

/** The stored messages of a room with this text (over REST, as the server has them). */
async function stored(client, roomId, text) {
  return (await client.roomMessages(roomId)).filter((m) => m.content === text);
}

/** Page errors and CSP violations of a page opened after the person's first one. */
function watch(page, problems) {
  page.setDefaultTimeout(15000);
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
}

/** Write a message in the open conversation and wait for its bubble (whatever its fate). */
async function write(page, text) {
  const input = page.getByTestId('composer-input');
  await input.fill(text);
  await input.press('Enter');
  await messages(page, text).waitFor();
}

const withStatus = (page, text, status) => messages(page, text).and(page.locator(`[data-status="${status}"]`));

/** The texts of the open conversation's messages, top to bottom. */
function shownTexts(page) {
  return page.locator('[data-testid="message"] [data-testid="message-content"]').allTextContents();
}

describe('the outbox outlives the page', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('offline, two messages, the tab closed: a new tab sends them by itself, in order, once', { timeout: 120000 }, async () => {
    const ann = await rest('ann', 'Ann Arbor');
    const ben = await rest('ben', 'Ben Nevis');
    const hello = await ben.sendDirect(ann.user.id, 'Hello Ann');
    const roomId = hello.room_id;
    const annUi = await newPerson();
    const benUi = await newPerson();
    await loginViaUi(annUi.page, 'ann');
    await loginViaUi(benUi.page, 'ben');
    await roomItem(annUi.page, 'Ben Nevis').click();
    await roomItem(benUi.page, 'Ann Arbor').click();
    await messages(annUi.page, 'Hello Ann').waitFor();
    await messages(benUi.page, 'Hello Ann').waitFor();
    const status = annUi.page.getByTestId('connection-status');
    await status.waitFor({ state: 'hidden' });

    await annUi.context.setOffline(true);
    await status.getByText(/You're offline/).waitFor();
    const texts = ['First, written offline', 'Second, written offline'];
    for (const text of texts) {
      await write(annUi.page, text);
      await withStatus(annUi.page, text, 'failed').waitFor();
    }
    // Saved as they are written: what a resend needs, and never a token.
    const saved = await savedOutbox(annUi.page, ann.user.id);
    assert.deepEqual(saved.messages.map((m) => m.content), texts);
    for (const m of saved.messages) {
      assert.equal(m.room_id, roomId);
      assert.equal(m.recipient_id, ben.user.id);
      assert.match(m.client_id, /^c-/);
    }
    const secrets = await annUi.page.evaluate(() => [localStorage.getItem('banter.access'), localStorage.getItem('banter.refresh')]);
    const raw = JSON.stringify(saved);
    for (const secret of secrets) assert.ok(secret && !raw.includes(secret), 'no token in the saved outbox');
    const url = annUi.page.url();

    // The tab is closed while offline (a reload is impossible offline); nothing reached the server.
    await annUi.page.close();
    for (const text of texts) assert.equal((await stored(ann, roomId, text)).length, 0, 'not sent before the tab closed');
    await annUi.context.setOffline(false);
    const problems = [];
    const page = await annUi.context.newPage();
    watch(page, problems);
    await page.goto(url);
    // Back, and sent by themselves (nobody clicks Retry), in the order written.
    for (const text of texts) await withStatus(page, text, 'sent').waitFor({ timeout: 30000 });
    for (const text of texts) assert.equal(await messages(page, text).count(), 1, `"${text}" shown once`);
    const mine = await shownTexts(page);
    assert.ok(mine.indexOf(texts[0]) < mine.indexOf(texts[1]), 'in order for Ann');
    for (const text of texts) await messages(benUi.page, text).waitFor({ timeout: 30000 });
    for (const text of texts) assert.equal(await messages(benUi.page, text).count(), 1, `"${text}" reaches Ben once`);
    const bens = await shownTexts(benUi.page);
    assert.ok(bens.indexOf(texts[0]) < bens.indexOf(texts[1]), 'in order for Ben');
    const copies = await Promise.all(texts.map((t) => stored(ben, roomId, t)));
    for (const c of copies) assert.equal(c.length, 1, 'stored once');
    assert.ok(copies[0][0].seq < copies[1][0].seq, 'stored in the order written');
    assert.equal(copies[0][0].client_id, saved.messages[0].client_id, 'with the client_id it was written with');
    await waitUntil(() => savedEmpty(page, ann.user.id), { what: 'the saved outbox emptied once sent' });
    await screenshot(page, 'outbox-restored.png');
    assert.deepEqual(problems, []);
    benUi.assertClean();
  });

  test('the server restarted and the page reloaded before its socket was back, or before the answer: sent once', { timeout: 150000 }, async () => {
    const cy = await rest('cyt', 'Cy Twombly');
    const dee = await rest('dee', 'Dee Snider');
    const hello = await dee.sendDirect(cy.user.id, 'Hi Cy');
    const roomId = hello.room_id;
    const cyUi = await newPerson();
    const deeUi = await newPerson();
    // Cy's sockets go through the test: held (closed at once, as a server not back yet would),
    // or passed on with every frame from the server that mentions `muted` lost on the way.
    let hold = false;
    let muted = null;
    const sentFrames = [];
    await cyUi.page.routeWebSocket(
      (u) => u.pathname === '/ws',
      (ws) => {
        if (hold) {
          setTimeout(() => ws.close({ code: 1001, reason: 'going away' }).catch(() => {}), 50);
          return;
        }
        const upstream = ws.connectToServer();
        ws.onMessage((m) => {
          sentFrames.push(String(m));
          upstream.send(m);
        });
        upstream.onMessage((m) => {
          if (muted && String(m).includes(muted)) return;
          ws.send(m);
        });
      },
    );
    await loginViaUi(cyUi.page, 'cyt');
    await loginViaUi(deeUi.page, 'dee');
    await roomItem(cyUi.page, 'Dee Snider').click();
    await roomItem(deeUi.page, 'Cy Twombly').click();
    await messages(cyUi.page, 'Hi Cy').waitFor();
    await messages(deeUi.page, 'Hi Cy').waitFor();
    const status = cyUi.page.getByTestId('connection-status');
    await status.waitFor({ state: 'hidden' });

    // 1. The server stops; a message written meanwhile fails. The server is back, but Cy's socket
    //    is not yet (held) when the page is reloaded: the new page sends it, once.
    const down = 'Written while the server was down';
    hold = true;
    await server.stop();
    try {
      await status.waitFor({ state: 'visible' });
      await write(cyUi.page, down);
      await withStatus(cyUi.page, down, 'failed').waitFor({ timeout: 30000 });
      assert.equal((await savedOutbox(cyUi.page, cy.user.id)).messages.length, 1, 'saved');
    } finally {
      await server.start();
    }
    assert.equal((await stored(cy, roomId, down)).length, 0, 'not sent before the reload');
    assert.ok(!sentFrames.some((f) => f.includes(down)), 'never on a socket before the reload');
    hold = false;
    await cyUi.page.reload();
    await withStatus(cyUi.page, down, 'sent').waitFor({ timeout: 30000 });
    assert.equal(await messages(cyUi.page, down).count(), 1, 'shown once');
    await messages(deeUi.page, down).waitFor({ timeout: 40000 });
    assert.equal(await messages(deeUi.page, down).count(), 1, 'reaches Dee once');
    assert.equal((await stored(dee, roomId, down)).length, 1, 'stored once');
    await waitUntil(() => savedEmpty(cyUi.page, cy.user.id), { what: 'the saved outbox emptied' });
    await status.waitFor({ state: 'hidden' });

    // 2. A message goes out on the socket and is stored, but its answer (ack, new_message) is
    //    lost, and the page is reloaded before the fallback: the new page sends it again with
    //    the same client_id, and the server's first copy is what both sides show, once.
    const lost = 'Stored, but the answer was lost';
    muted = lost;
    await write(cyUi.page, lost);
    await waitUntil(async () => (await stored(cy, roomId, lost)).length === 1, { interval: 50, what: 'the server stored it' });
    assert.equal(await withStatus(cyUi.page, lost, 'pending').count(), 1, 'still "Sending…" on Cy\'s page');
    assert.ok((await savedOutbox(cyUi.page, cy.user.id)).messages.some((m) => m.content === lost), 'saved while unanswered');
    muted = null;
    await cyUi.page.reload();
    await withStatus(cyUi.page, lost, 'sent').waitFor({ timeout: 30000 });
    assert.equal(await messages(cyUi.page, lost).count(), 1, 'shown once');
    await messages(deeUi.page, lost).waitFor({ timeout: 30000 });
    assert.equal(await messages(deeUi.page, lost).count(), 1, 'reaches Dee once');
    assert.equal((await stored(dee, roomId, lost)).length, 1, 'stored once');
    await waitUntil(() => savedEmpty(cyUi.page, cy.user.id), { what: 'the saved outbox emptied' });
    cyUi.assertClean();
    deeUi.assertClean();
  });

  test('logged out with an unsent message: the next person on this browser never sends or sees it', { timeout: 120000 }, async () => {
    const eve = await rest('eve', 'Eve Moneypenny');
    const fay = await rest('fay', 'Fay Wray');
    const gil = await rest('gil', 'Gil Scott');
    const hello = await fay.sendDirect(eve.user.id, 'Hello Eve');
    await fay.sendDirect(gil.user.id, 'Hello Gil');
    const eveRoom = hello.room_id;
    const ui = await newPerson();
    const { page } = ui;
    await loginViaUi(page, 'eve');
    await roomItem(page, 'Fay Wray').click();
    await messages(page, 'Hello Eve').waitFor();
    await page.getByTestId('connection-status').waitFor({ state: 'hidden' });

    await ui.context.setOffline(true);
    const unsent = 'Only ever from Eve';
    await write(page, unsent);
    await withStatus(page, unsent, 'failed').waitFor();
    assert.equal((await savedOutbox(page, eve.user.id)).messages.length, 1, 'saved');

    // Logging out (offline: the server hears of it later) wipes Eve's saved outbox.
    await page.getByTestId('open-settings').click();
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    assert.equal(await savedOutbox(page, eve.user.id), null, "Eve's outbox is gone with her session");
    await ui.context.setOffline(false);

    // What a session of Eve's that ended elsewhere left behind (her tab was closed, offline,
    // when she logged out everywhere from another device): the next person to log in here who
    // is not Eve wipes it, unsent.
    const expired = 'Left by a session that ended elsewhere';
    await page.evaluate(
      ({ key, entry }) => localStorage.setItem(key, JSON.stringify({ v: 1, messages: [entry], discarded: [] })),
      {
        key: outboxKey(eve.user.id),
        entry: {
          client_id: 'c-left-behind-by-eve',
          room_id: eveRoom,
          recipient_id: fay.user.id,
          group: false,
          content: expired,
          created_at: Date.now(),
          reply_to_id: null,
          attachment_ids: [],
          attachments: [],
          reply_to: null,
        },
      },
    );
    await loginViaUi(page, 'gil');
    assert.equal(await savedOutbox(page, eve.user.id), null, "Eve's leftovers wiped when Gil logs in");
    await roomItem(page, 'Fay Wray').click();
    await messages(page, 'Hello Gil').waitFor();
    await page.getByTestId('connection-status').waitFor({ state: 'hidden' });
    // Gil's session is connected and has sent something of its own: anything restored would
    // have gone before it.
    await sendViaUi(page, 'Marker from Gil');
    for (const text of [unsent, expired]) assert.equal(await messages(page, text).count(), 0, `"${text}" not shown to Gil`);
    const fayRooms = await fay.rooms();
    for (const room of fayRooms) {
      const texts = (await fay.roomMessages(room.room_id)).map((m) => m.content);
      for (const text of [unsent, expired]) assert.ok(!texts.includes(text), `"${text}" never sent (room ${room.room_id})`);
    }

    // Eve again on this browser: her message went with her logout; nothing comes back.
    await page.getByTestId('open-settings').click();
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    await loginViaUi(page, 'eve');
    await roomItem(page, 'Fay Wray').click();
    await messages(page, 'Hello Eve').waitFor();
    await page.getByTestId('connection-status').waitFor({ state: 'hidden' });
    await sendViaUi(page, 'Marker from Eve');
    for (const text of [unsent, expired]) assert.equal(await messages(page, text).count(), 0, `"${text}" not back for Eve`);
    for (const text of [unsent, expired]) assert.equal((await stored(fay, eveRoom, text)).length, 0, `"${text}" never stored`);
    ui.assertClean();
  });

  test('two tabs of one user hold the same unsent messages: one sent once and shown once in each, one discarded in either is gone from both', { timeout: 150000 }, async () => {
    const hal = await rest('hal', 'Hal Incandenza');
    const ida = await rest('ida', 'Ida Lupino');
    const hello = await ida.sendDirect(hal.user.id, 'Hello Hal');
    const roomId = hello.room_id;
    const halUi = await newPerson();
    const idaUi = await newPerson();
    const { context } = halUi;
    // Hal's browser loses the server for both tabs: sockets held (closed at once), sends refused.
    let hold = false;
    const sockets = [];
    await context.routeWebSocket(
      (u) => u.pathname === '/ws',
      (ws) => {
        if (hold) {
          setTimeout(() => ws.close({ code: 1001, reason: 'going away' }).catch(() => {}), 50);
          return;
        }
        sockets.push(ws);
        ws.connectToServer();
      },
    );
    let blockSends = false;
    await context.route(
      (u) => u.pathname === '/messages/send',
      (route) => (blockSends ? route.abort('connectionrefused') : route.continue()),
    );
    await loginViaUi(halUi.page, 'hal');
    await loginViaUi(idaUi.page, 'ida');
    await roomItem(halUi.page, 'Ida Lupino').click();
    await roomItem(idaUi.page, 'Hal Incandenza').click();
    await messages(halUi.page, 'Hello Hal').waitFor();
    await messages(idaUi.page, 'Hello Hal').waitFor();
    const tabA = halUi.page;
    await tabA.getByTestId('connection-status').waitFor({ state: 'hidden' });

    hold = true;
    blockSends = true;
    for (const ws of sockets) await ws.close({ code: 1001, reason: 'going away' }).catch(() => {});
    await tabA.getByTestId('connection-status').waitFor({ state: 'visible' });
    const kept = 'Held by both tabs';
    const dropped = 'Discarded in the other tab';
    for (const text of [kept, dropped]) {
      await write(tabA, text);
      await withStatus(tabA, text, 'failed').waitFor({ timeout: 30000 });
    }

    // A second tab opens meanwhile: it takes in what the first holds unsent.
    const problems = [];
    const tabB = await context.newPage();
    watch(tabB, problems);
    await tabB.goto(tabA.url());
    for (const text of [kept, dropped]) await withStatus(tabB, text, 'failed').waitFor();
    // Discard there is final here too.
    await withStatus(tabB, dropped, 'failed').getByTestId('discard').click();
    await messages(tabB, dropped).waitFor({ state: 'detached' });
    await messages(tabA, dropped).waitFor({ state: 'detached' });

    // The server is reachable again, for both tabs at once: both send what they hold.
    hold = false;
    blockSends = false;
    for (const tab of [tabA, tabB]) await tab.evaluate(() => window.dispatchEvent(new Event('online')));
    for (const tab of [tabA, tabB]) await withStatus(tab, kept, 'sent').waitFor({ timeout: 30000 });
    await messages(idaUi.page, kept).waitFor({ timeout: 30000 });
    // A marker after it: whatever either tab still had on its way has arrived by now.
    await sendViaUi(tabA, 'Marker after both tabs');
    await messages(idaUi.page, 'Marker after both tabs').waitFor();
    await messages(tabB, 'Marker after both tabs').waitFor();
    for (const tab of [tabA, tabB, idaUi.page]) {
      assert.equal(await messages(tab, kept).count(), 1, 'shown once in each tab, and to Ida');
      assert.equal(await messages(tab, dropped).count(), 0, 'the discarded one nowhere');
    }
    assert.equal((await stored(ida, roomId, kept)).length, 1, 'stored once');
    assert.equal((await stored(ida, roomId, dropped)).length, 0, 'the discarded one never stored');
    await waitUntil(() => savedEmpty(tabA, hal.user.id), { what: 'the saved outbox emptied' });
    assert.deepEqual(problems, []);
    halUi.assertClean();
    idaUi.assertClean();
  });

  test('a first message to someone with no conversation yet, written offline: listed after the tab comes back, sent once connected', { timeout: 120000 }, async () => {
    await rest('kim', 'Kim Deal');
    const lee = await rest('lee', 'Lee Miller');
    const kimUi = await newPerson();
    await loginViaUi(kimUi.page, 'kim');
    await kimUi.page.evaluate((id) => {
      location.hash = `#/user/${id}`;
    }, lee.user.id);
    await kimUi.page.getByTestId('conversation-title').getByText('Lee Miller', { exact: true }).waitFor();
    await kimUi.page.getByTestId('connection-status').waitFor({ state: 'hidden' });

    await kimUi.context.setOffline(true);
    const text = 'Hello Lee, from the tunnel';
    await write(kimUi.page, text);
    await withStatus(kimUi.page, text, 'failed').waitFor();
    const [entry] = (await savedOutbox(kimUi.page, (await kimUi.page.evaluate(() => JSON.parse(localStorage.getItem('banter.user')).id)))).messages;
    assert.deepEqual([entry.room_id, entry.recipient_id, entry.recipient?.username, entry.recipient?.full_name], [null, lee.user.id, 'lee', 'Lee Miller']);
    await kimUi.page.close();
    await kimUi.context.setOffline(false);

    // A new tab on the home page, its socket held back: the person is listed with what waits.
    let hold = true;
    let release = null;
    await kimUi.context.routeWebSocket(
      (u) => u.pathname === '/ws',
      (ws) => {
        if (hold) {
          release = () => ws.close({ code: 1001, reason: 'going away' }).catch(() => {});
          return;
        }
        ws.connectToServer();
      },
    );
    const problems = [];
    const page = await kimUi.context.newPage();
    watch(page, problems);
    await page.goto(server.url);
    const draft = page.locator(`[data-draft-user="${lee.user.id}"]`);
    await draft.getByText('Not sent yet').waitFor();
    assert.match(await draft.textContent(), /Lee Miller/);
    await draft.click();
    await withStatus(page, text, 'failed').waitFor();

    // The socket comes: the message goes by itself, the conversation is made, once.
    await waitUntil(() => release !== null, { what: 'the held socket' });
    hold = false;
    release();
    await withStatus(page, text, 'sent').waitFor({ timeout: 30000 });
    await roomItem(page, 'Lee Miller').waitFor();
    await draft.waitFor({ state: 'detached' });
    const rooms = await lee.rooms();
    assert.equal(rooms.length, 1, 'one conversation');
    assert.equal((await stored(lee, rooms[0].room_id, text)).length, 1, 'stored once');
    assert.deepEqual(problems, []);
  });
});
