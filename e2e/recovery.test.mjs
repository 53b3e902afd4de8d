// recovery.test.mjs — the client through outages and on small things people notice: a server
// down for minutes (the page's clock jumped forward, so the retries of several minutes take
// seconds) with the client retrying for ever and reconnecting by itself; the browser going
// offline (Playwright's setOffline): the banner, our own presence and others' (unknown) at once; the outbox
// (what was written meanwhile goes out by itself once, Discard is final); typing right after
// sending; Enter on a touch screen; times in the browser's languages. Each person in their
// own browser context. Screenshots go to docs/screenshots/.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BanterServer } from './lib/server.mjs';
import { fixtures } from './lib/fixtures.mjs';
import { RestClient } from './lib/rest.mjs';
import { waitUntil, messages, roomItem, loginViaUi, sendViaUi, screenshot } from './lib/browser.mjs';

const { server, newPerson, rest, hooks } = fixtures();

/** Our own presence, as the sidebar shows it ('true' / 'false'). */
function ownPresence(page) {
  return page.getByTestId('open-settings').getByTestId('online-dot').getAttribute('data-online');
}

/** Count the page's WebSocket connection attempts (each `new WebSocket`). */
function countSockets(page) {
  const counter = { opened: 0 };
  page.on('websocket', () => {
    counter.opened += 1;
  });
  return counter;
}

/** Jump the page's clock forward 31 s at a time (more than the longest wait between two
 *  attempts) until the client starts another connection attempt. */
async function jumpToNextAttempt(page, sockets, what) {
  const before = sockets.opened;
  await waitUntil(
    async () => {
      if (sockets.opened > before) return true;
      await page.clock.fastForward(31000);
      return sockets.opened > before;
    },
    { interval: 500, timeout: 20000, what },
  );
}

/** The stored messages of a room with this text (over REST, as the server has them). */
async function stored(client, roomId, text) {
  return (await client.roomMessages(roomId)).filter((m) => m.content === text);
}

describe('recovery and basics in the web client', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('a server down for minutes: retries never stop, the banner is honest, the client is back by itself and sends what was written', { timeout: 240000 }, async () => {
    const ann = await rest('ann', 'Ann Arbor');
    await rest('ben', 'Ben Nevis');
    const benId = await ann.userId('ben');
    const first = await ann.sendDirect(benId, 'Before the outage');
    const annUi = await newPerson();
    // Ann's page runs on a clock the test can jump forward: minutes of retrying in seconds.
    await annUi.context.clock.install();
    const benUi = await newPerson();
    const sockets = countSockets(annUi.page);
    await loginViaUi(annUi.page, 'ann');
    await loginViaUi(benUi.page, 'ben');
    await roomItem(annUi.page, 'Ben Nevis').click();
    await roomItem(benUi.page, 'Ann Arbor').click();
    await messages(annUi.page, 'Before the outage').waitFor();
    await messages(benUi.page, 'Before the outage').waitFor();
    const status = annUi.page.getByTestId('connection-status');
    await status.waitFor({ state: 'hidden' });
    await waitUntil(async () => (await ownPresence(annUi.page)) === 'true', { what: 'Ann shown online' });

    await server.stop();
    const outage = messages(annUi.page, 'Written during the outage');
    try {
      await status.getByText('Reconnecting…').waitFor();
      await waitUntil(async () => (await ownPresence(annUi.page)) === 'false', { what: 'Ann shown offline while disconnected' });
      // Written while the server is down: not sent yet, and said so.
      const input = annUi.page.getByTestId('composer-input');
      await input.fill('Written during the outage');
      await input.press('Enter');
      await outage.and(annUi.page.locator('[data-status="failed"]')).waitFor();

      // Six minutes of the page's time: an attempt after each jump, never giving up (the old
      // client stopped after its tenth failure, 46–52 s in).
      for (let i = 1; i <= 12; i++) await jumpToNextAttempt(annUi.page, sockets, `connection attempt ${i} after the jumps began`);
      await status.getByText(/Can't reach the server/).waitFor();
      const text = await status.textContent();
      assert.doesNotMatch(text, /back online/, `the network is up: no "back online" (${text})`);
      assert.equal(await status.getAttribute('data-state'), 'unreachable');
      await screenshot(annUi.page, 'server-unreachable.png');
    } finally {
      await server.start(); // back (also for the next tests, whatever happened above)
    }

    // Within one capped wait (30 s) the client is connected again, without a click. (A second
    // jump only if the first raced the connection.)
    let jumps = 0;
    await waitUntil(
      async () => {
        if (await status.isHidden()) return true;
        jumps += 1;
        await annUi.page.clock.fastForward(31000);
        return false;
      },
      { interval: 1500, timeout: 30000, what: 'connected again after one capped wait' },
    );
    assert.ok(jumps <= 2, `connected after ${jumps} jumps of 31 s`);
    await waitUntil(async () => (await ownPresence(annUi.page)) === 'true', { what: 'Ann shown online again' });
    // What she wrote goes out by itself, once.
    await outage.and(annUi.page.locator('[data-status="sent"]')).waitFor();
    await messages(benUi.page, 'Written during the outage').waitFor({ timeout: 45000 });
    await sendViaUi(annUi.page, 'After the outage');
    await messages(benUi.page, 'After the outage').waitFor({ timeout: 45000 });
    assert.equal(await messages(benUi.page, 'Written during the outage').count(), 1, 'shown once to Ben');
    assert.equal(await messages(annUi.page, 'Written during the outage').count(), 1, 'shown once to Ann');
    assert.equal((await stored(ann, first.room_id, 'Written during the outage')).length, 1, 'stored once');
    annUi.assertClean();
    benUi.assertClean();
  });

  test('the browser goes offline: banner and own presence at once; back online, it reconnects at once', { timeout: 120000 }, async () => {
    const cara = await rest('cara', 'Cara Delgado');
    await rest('dan', 'Dan Dare');
    const danId = await cara.userId('dan');
    await cara.sendDirect(danId, 'Are you on the train?');
    const caraUi = await newPerson();
    await loginViaUi(caraUi.page, 'cara');
    await roomItem(caraUi.page, 'Dan Dare').click();
    await messages(caraUi.page, 'Are you on the train?').waitFor();
    const status = caraUi.page.getByTestId('connection-status');
    await status.waitFor({ state: 'hidden' });
    await waitUntil(async () => (await ownPresence(caraUi.page)) === 'true', { what: 'Cara shown online' });

    await caraUi.context.setOffline(true);
    await status.getByText(/You're offline/).waitFor({ timeout: 3000 });
    assert.equal(await status.getAttribute('data-state'), 'offline');
    await waitUntil(async () => (await ownPresence(caraUi.page)) === 'false', { what: 'Cara shown offline', timeout: 3000 });
    // What she knew of Dan may be stale by now: unknown, neither "Online" nor "Offline".
    const danStatus = caraUi.page.getByTestId('conversation-status');
    await waitUntil(async () => (await danStatus.textContent()) === 'Status unknown: not connected', { what: "Dan's status unknown" });
    assert.equal(await roomItem(caraUi.page, 'Dan Dare').getByTestId('online-dot').count(), 0, 'no presence dot in the list');
    const input = caraUi.page.getByTestId('composer-input');
    await input.fill('Written in the tunnel');
    await input.press('Enter');
    const tunnel = messages(caraUi.page, 'Written in the tunnel');
    await tunnel.and(caraUi.page.locator('[data-status="failed"]')).waitFor();
    assert.match(await tunnel.getByRole('alert').textContent(), /offline/i);
    await screenshot(caraUi.page, 'offline.png');

    await caraUi.context.setOffline(false);
    await status.waitFor({ state: 'hidden', timeout: 5000 });
    await waitUntil(async () => (await ownPresence(caraUi.page)) === 'true', { what: 'Cara online again' });
    await waitUntil(async () => (await danStatus.textContent()) === 'Offline', { what: "Dan's status known again (no socket: offline)" });
    await tunnel.and(caraUi.page.locator('[data-status="sent"]')).waitFor();
    const roomId = (await cara.rooms()).find((r) => r.other_user?.username === 'dan').room_id;
    assert.equal((await stored(cara, roomId, 'Written in the tunnel')).length, 1, 'stored once');
    caraUi.assertClean();
  });

  test('Discard is final: a message discarded while offline never reaches the server', { timeout: 120000 }, async () => {
    const eve = await rest('eve', 'Eve Online');
    const fin = await rest('fin', 'Fin Shepard');
    const finId = await eve.userId('fin');
    const hello = await eve.sendDirect(finId, 'Ping me when you can');
    const eveUi = await newPerson();
    const finUi = await newPerson();
    await loginViaUi(eveUi.page, 'eve');
    await loginViaUi(finUi.page, 'fin');
    await roomItem(eveUi.page, 'Fin Shepard').click();
    await roomItem(finUi.page, 'Eve Online').click();
    await messages(eveUi.page, 'Ping me when you can').waitFor();
    await messages(finUi.page, 'Ping me when you can').waitFor();
    await eveUi.page.getByTestId('connection-status').waitFor({ state: 'hidden' });

    await eveUi.context.setOffline(true);
    const input = eveUi.page.getByTestId('composer-input');
    await input.fill('Never mind this one');
    await input.press('Enter');
    const discarded = messages(eveUi.page, 'Never mind this one');
    await discarded.and(eveUi.page.locator('[data-status="failed"]')).waitFor({ timeout: 20000 });
    assert.equal(await discarded.getByTestId('message-status').textContent(), 'Not sent');
    await discarded.getByTestId('discard').click();
    await discarded.waitFor({ state: 'detached' });
    await input.fill('But this one, yes');
    await input.press('Enter');
    const kept = messages(eveUi.page, 'But this one, yes');
    await kept.and(eveUi.page.locator('[data-status="failed"]')).waitFor({ timeout: 20000 });

    await eveUi.context.setOffline(false);
    // The one kept goes out by itself; a marker sent after it is the sync point.
    await kept.and(eveUi.page.locator('[data-status="sent"]')).waitFor({ timeout: 30000 });
    await sendViaUi(eveUi.page, 'Marker after the discard');
    await messages(finUi.page, 'Marker after the discard').waitFor({ timeout: 30000 });
    await messages(finUi.page, 'But this one, yes').waitFor();
    assert.equal(await messages(finUi.page, 'Never mind this one').count(), 0, 'Fin never gets it');
    assert.equal(await messages(eveUi.page, 'Never mind this one').count(), 0, 'it does not come back for Eve');
    assert.equal((await stored(fin, hello.room_id, 'Never mind this one')).length, 0, 'never stored');
    assert.equal((await stored(fin, hello.room_id, 'But this one, yes')).length, 1, 'the kept one stored once');
    eveUi.assertClean();
    finUi.assertClean();
  });

  test('reads made while offline reach the server once back online', { timeout: 120000 }, async () => {
    const oto = await rest('oto', 'Oto Kraus');
    const quin = await rest('quin', 'Quin Fabray');
    await rest('pia', 'Pia Zadora');
    const piaId = await oto.userId('pia');
    const first = await oto.sendDirect(piaId, 'First of the day');
    await quin.sendDirect(piaId, 'Elsewhere');
    const roomId = first.room_id;
    const piaPosition = async () => (await oto.call('GET', `/rooms/${roomId}/reads`)).find((r) => r.username === 'pia')?.last_read_seq ?? 0;
    const piaUi = await newPerson();
    await loginViaUi(piaUi.page, 'pia');
    const otoItem = roomItem(piaUi.page, 'Oto Kraus');
    await otoItem.click();
    await messages(piaUi.page, 'First of the day').waitFor();
    await waitUntil(async () => (await piaPosition()) === first.seq, { what: "Pia's position at the first message" });
    // Away in another conversation, a message arrives (loaded, not seen).
    await roomItem(piaUi.page, 'Quin Fabray').click();
    await messages(piaUi.page, 'Elsewhere').waitFor();
    const status = piaUi.page.getByTestId('connection-status');
    await status.waitFor({ state: 'hidden' });
    const later = await oto.sendDirect(piaId, 'Read me offline');
    await otoItem.getByTestId('unread-badge').getByText('1', { exact: true }).waitFor();

    // Offline, she opens it and reads it: the badge goes, the server cannot know yet.
    await piaUi.context.setOffline(true);
    await status.getByText(/You're offline/).waitFor();
    await otoItem.click();
    await messages(piaUi.page, 'Read me offline').waitFor();
    await otoItem.getByTestId('unread-badge').waitFor({ state: 'detached' });
    assert.equal(await piaPosition(), first.seq, 'the server has not heard of it');

    // Back online: the read position she reached goes to the server by itself.
    await piaUi.context.setOffline(false);
    await status.waitFor({ state: 'hidden' });
    await waitUntil(async () => (await piaPosition()) === later.seq, { what: "Pia's read position sent after reconnecting" });
    piaUi.assertClean();
  });

  test('rate limited: messages wait their turn and go one by one, never "can\'t reach the server", never twice', { timeout: 120000 }, async () => {
    // A server of its own, with a tight send limit: 1 message a second (bursts of 2).
    const slow = new BanterServer({ SEND_RATE_LIMIT: '1' });
    await slow.start();
    try {
      const rob = new RestClient(slow.url);
      await rob.register('rob', { full_name: 'Rob Roy' });
      const sue = new RestClient(slow.url);
      await sue.register('sue', { full_name: 'Sue Storm' });
      const robId = await sue.userId('rob');
      const hello = await rob.sendDirect(await rob.userId('sue'), 'Ready when you are');
      const sueUi = await newPerson(undefined, slow.url);
      // REST sends (there should be none: a rate-limited frame waits; it does not go over REST).
      let restSends = 0;
      sueUi.page.on('request', (r) => {
        if (r.method() === 'POST' && /\/(messages|groups)\/send$/.test(r.url())) restSends += 1;
      });
      const rateErrors = [];
      sueUi.page.on('websocket', (ws) =>
        ws.on('framereceived', (f) => {
          try {
            const frame = JSON.parse(String(f.payload));
            if (frame.type === 'error' && frame.code === 'rate_limited') rateErrors.push(frame);
          } catch {
            /* not JSON */
          }
        }),
      );
      await loginViaUi(sueUi.page, 'sue');
      await roomItem(sueUi.page, 'Rob Roy').click();
      await messages(sueUi.page, 'Ready when you are').waitFor();
      await sueUi.page.getByTestId('connection-status').waitFor({ state: 'hidden' });
      // Anything ever shown as failed, or as a connection problem, is remembered.
      await sueUi.page.evaluate(() => {
        window.__everFailed = [];
        const check = () => {
          for (const el of document.querySelectorAll('[data-status="failed"]')) window.__everFailed.push(el.textContent);
          const banner = document.querySelector('[data-testid="connection-status"]');
          if (banner && !banner.hidden && banner.textContent.trim()) window.__everFailed.push(`banner: ${banner.textContent}`);
        };
        new MutationObserver(check).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
      });
      const input = sueUi.page.getByTestId('composer-input');
      const texts = Array.from({ length: 6 }, (_, i) => `Quick ${i + 1}`);
      for (const t of texts) {
        await input.fill(t);
        await input.press('Enter');
      }
      for (const t of texts) await messages(sueUi.page, t).and(sueUi.page.locator('[data-status="sent"]')).waitFor({ timeout: 30000 });
      assert.ok(rateErrors.length > 0, 'the server did refuse some for going too fast');
      assert.ok(rateErrors.every((f) => typeof f.retry_after_ms === 'number'), 'each refusal says how long to wait');
      assert.deepEqual(await sueUi.page.evaluate(() => window.__everFailed), [], 'never shown as failed or unreachable');
      assert.equal(restSends, 0, 'no REST attempt besides the socket');
      const mine = (await rob.roomMessages(hello.room_id)).filter((m) => m.sender_username === 'sue').map((m) => m.content);
      assert.deepEqual(mine, texts, 'each stored once, in order');
      sueUi.assertClean();
    } finally {
      await slow.stop();
      slow.cleanup();
    }
  });

  test('typing right after sending shows at once, not after the repeat interval', { timeout: 120000 }, async () => {
    await rest('gia', 'Gia Long');
    const hugo = await rest('hugo', 'Hugo Weaving');
    const giaId = await hugo.userId('gia');
    await hugo.sendDirect(giaId, 'Got a minute?');
    const giaUi = await newPerson();
    const hugoUi = await newPerson();
    await loginViaUi(giaUi.page, 'gia');
    await loginViaUi(hugoUi.page, 'hugo');
    await roomItem(giaUi.page, 'Hugo Weaving').click();
    await roomItem(hugoUi.page, 'Gia Long').click();
    await messages(giaUi.page, 'Got a minute?').waitFor();
    await messages(hugoUi.page, 'Got a minute?').waitFor();
    await giaUi.page.getByTestId('connection-status').waitFor({ state: 'hidden' });
    await hugoUi.page.getByTestId('connection-status').waitFor({ state: 'hidden' });

    const input = giaUi.page.getByTestId('composer-input');
    const indicator = hugoUi.page.getByTestId('typing-indicator');
    await input.pressSequentially('Sure', { delay: 30 });
    await indicator.getByText('Gia Long is typing…').waitFor();
    await input.press('Enter');
    await messages(hugoUi.page, 'Sure').waitFor();
    await waitUntil(async () => (await indicator.textContent()) === '', { what: 'the indicator cleared by the message' });
    // One key right after sending, then nothing: sending ended the typing (on the server too,
    // which relays the next start at once), so the client announces it at once — well within the
    // server's 2 s between two relayed starts (the old client waited for those, or never said it).
    await input.press('W');
    await indicator.getByText('Gia Long is typing…').waitFor({ timeout: 1500 });
    giaUi.assertClean();
    hugoUi.assertClean();
  });

  test('on a touch screen Enter adds a line and the Send button sends', { timeout: 120000 }, async () => {
    const ida = await rest('ida', 'Ida Lupino');
    await rest('jay', 'Jay Gatsby');
    const jayId = await ida.userId('jay');
    const hello = await ida.sendDirect(jayId, 'Shopping list?');
    const jay = await newPerson({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await loginViaUi(jay.page, 'jay');
    await roomItem(jay.page, 'Ida Lupino').click();
    await messages(jay.page, 'Shopping list?').waitFor();
    const input = jay.page.getByTestId('composer-input');
    await input.fill('Milk');
    await input.press('Enter');
    await input.pressSequentially('Bread');
    assert.equal(await input.inputValue(), 'Milk\nBread');
    await jay.page.getByTestId('send').tap();
    await messages(jay.page, 'Milk\nBread').and(jay.page.locator('[data-status="sent"]')).waitFor();
    assert.equal(await input.inputValue(), '');
    const mine = (await ida.roomMessages(hello.room_id)).filter((m) => m.sender_username === 'jay');
    assert.deepEqual(
      mine.map((m) => m.content),
      ['Milk\nBread'],
      'one message of two lines',
    );
    assert.equal(await input.getAttribute('enterkeyhint'), 'enter', 'the keyboard shows a return key, not "send"');
    jay.assertClean();
  });

  test("times follow the browser's languages", { timeout: 120000 }, async () => {
    const kai = await rest('kai', 'Kai Havertz');
    await rest('lou', 'Lou Reed');
    const louId = await kai.userId('lou');
    await kai.sendDirect(louId, 'What time is it?');
    // A time zone where it is now around 4 PM: "4:55 PM" in American English (no leading zero).
    const offset = (((16 - new Date().getUTCHours()) % 24) + 24) % 24;
    const hours = offset > 14 ? offset - 24 : offset;
    const timezoneId = hours === 0 ? 'Etc/GMT' : `Etc/GMT${hours > 0 ? '-' : '+'}${Math.abs(hours)}`;
    const expected = (locale, iso) =>
      new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit', timeZone: timezoneId }).format(new Date(iso));

    const us = await newPerson({ locale: 'en-US', timezoneId });
    // English user interface, German as the language the person prefers (their browser's
    // language settings): times follow the preference.
    const de = await newPerson({ locale: 'en-US', timezoneId });
    await de.context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'languages', { get: () => ['de-DE', 'de', 'en-US'], configurable: true });
      Object.defineProperty(Navigator.prototype, 'language', { get: () => 'de-DE', configurable: true });
    });
    for (const [p, locale] of [
      [us, 'en-US'],
      [de, 'de-DE'],
    ]) {
      await loginViaUi(p.page, 'lou');
      await roomItem(p.page, 'Kai Havertz').click();
      const time = messages(p.page, 'What time is it?').locator('time');
      await time.waitFor();
      const iso = await time.getAttribute('datetime');
      assert.equal(await time.textContent(), expected(locale, iso), `${locale}: the message's time`);
      p.assertClean();
    }
  });
});
