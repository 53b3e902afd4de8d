// history.test.mjs — long conversations in the web client: older pages come one at a time
// (Home, a fast wheel, End: never a chain of requests, and the reader keeps their place);
// opening a room with unread messages shows a "New messages" separator above the first; a
// message that arrives while the reader is scrolled up is not read until it has been on
// screen, and "jump to latest" takes them there. Each person in their own browser context.
// Screenshots go to docs/screenshots/.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtures } from './lib/fixtures.mjs';
import { waitUntil, messages, roomItem, loginViaUi, screenshot } from './lib/browser.mjs';

const { server, newPerson, rest, hooks } = fixtures();

/** Record the page's requests for older pages of history (`…/messages?…before=…`). */
function olderPages(page) {
  const rec = { started: 0, inFlight: 0 };
  const isOlder = (r) => /\/rooms\/\d+\/messages\?/.test(r.url()) && new URL(r.url()).searchParams.has('before');
  page.on('request', (r) => {
    if (!isOlder(r)) return;
    rec.started += 1;
    rec.inFlight += 1;
  });
  const done = (r) => {
    if (isOlder(r)) rec.inFlight -= 1;
  };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  return rec;
}

/** Wait until the message list has stopped moving (the same scrollTop for 10 frames in a
 *  row) with no request for history on its way, and no new one started meanwhile. */
async function settle(page, rec) {
  await waitUntil(
    async () => {
      if (rec.inFlight) return false;
      const started = rec.started;
      const still = await page.getByTestId('message-list').evaluate(
        (el) =>
          new Promise((resolve) => {
            let last = el.scrollTop;
            let same = 0;
            let frames = 0;
            const tick = () => {
              frames += 1;
              if (el.scrollTop === last) same += 1;
              else {
                same = 0;
                last = el.scrollTop;
              }
              if (same >= 10) resolve(true);
              else if (frames > 600) resolve(false);
              else requestAnimationFrame(tick);
            };
            requestAnimationFrame(tick);
          }),
      );
      return still && !rec.inFlight && rec.started === started;
    },
    { what: 'the history to settle', timeout: 20000 },
  );
}

/** Whether the message with this text is (at least partly) inside the list's visible area. */
async function onScreen(page, text) {
  const list = await page.getByTestId('message-list').boundingBox();
  const box = await messages(page, text).boundingBox();
  return Boolean(box && list && box.y + box.height > list.y && box.y < list.y + list.height);
}

/** The seqs shown, in order. */
function shownSeqs(page) {
  return page.locator('[data-testid="message"]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
}

describe('history in the web client', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('Home, a fast wheel and End: one page at a time, the place kept, never a chain of requests', { timeout: 180000 }, async () => {
    const gil = await rest('gil', 'Gil Scott');
    await rest('hal', 'Hal Holbrook');
    const halId = await gil.userId('hal');
    const total = 300;
    for (let i = 1; i <= total; i++) await gil.sendDirect(halId, `History ${i}`);
    const hal = await newPerson();
    const rec = olderPages(hal.page);
    await loginViaUi(hal.page, 'hal');
    await roomItem(hal.page, 'Gil Scott').click();
    await messages(hal.page, `History ${total}`).waitFor();
    const list = hal.page.getByTestId('message-list');
    await settle(hal.page, rec);
    assert.equal(rec.started, 0, 'the newest page only, at first');
    assert.equal(await hal.page.locator('[data-testid="message"]').count(), 50);

    // Home: to the top of what is loaded; one older page comes, and the reader stays where
    // the top was (the old client fetched every page back to back and landed on message 1).
    await list.focus();
    await hal.page.keyboard.press('Home');
    await messages(hal.page, 'History 201').waitFor();
    await settle(hal.page, rec);
    assert.equal(rec.started, 1, 'one request for one Home');
    assert.equal(await hal.page.locator('[data-testid="message"]').count(), 100);
    assert.ok(await onScreen(hal.page, 'History 251'), 'the message that was at the top is still on screen');
    assert.equal(await messages(hal.page, 'History 1').count(), 0);

    // Home again: the next page, and only that one.
    await hal.page.keyboard.press('Home');
    await messages(hal.page, 'History 151').waitFor();
    await settle(hal.page, rec);
    assert.equal(rec.started, 2, 'one more request for the second Home');
    assert.ok(await onScreen(hal.page, 'History 201'), 'the place is kept again');

    // A fast wheel up, far past the top: one page.
    const box = await list.boundingBox();
    await hal.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await hal.page.mouse.wheel(0, -50000);
    await messages(hal.page, 'History 101').waitFor();
    await settle(hal.page, rec);
    assert.equal(rec.started, 3, 'one page for one fast wheel');
    assert.equal(await messages(hal.page, 'History 100').count(), 0, 'nothing older than that page');

    // End: back to the newest, nothing loaded.
    await list.focus();
    await hal.page.keyboard.press('End');
    await waitUntil(() => onScreen(hal.page, `History ${total}`), { what: 'the newest message on screen after End' });
    await settle(hal.page, rec);
    assert.equal(rec.started, 3, 'End loads nothing');
    const seqs = await shownSeqs(hal.page);
    assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => seqs[0] + i), 'in order, no gaps, no duplicates');
    hal.assertClean();
  });

  test('"New messages" above the first unread; scrolled up, a new message waits unread with "jump to latest"', { timeout: 180000 }, async () => {
    const ivy = await rest('ivy', 'Ivy Smith');
    const jon = await rest('jon', 'Jon Snow');
    const jonId = await ivy.userId('jon');
    let last;
    for (let i = 1; i <= 60; i++) last = await ivy.sendDirect(jonId, `Earlier ${i}`);
    const roomId = last.room_id;
    await jon.markRead(roomId, last.seq); // Jon read everything so far (on another device)
    for (let i = 1; i <= 5; i++) await ivy.sendDirect(jonId, `Unread ${i}`);
    const jonPosition = async () => (await ivy.call('GET', `/rooms/${roomId}/reads`)).find((r) => r.username === 'jon').last_read_seq;

    const jonUi = await newPerson();
    await loginViaUi(jonUi.page, 'jon');
    const item = roomItem(jonUi.page, 'Ivy Smith');
    assert.equal(await item.getByTestId('unread-badge').textContent(), '5');
    await item.click();
    const separator = jonUi.page.getByTestId('unread-separator');
    await separator.getByText('New messages').waitFor();
    const next = await separator.evaluate((el) => el.nextElementSibling?.querySelector('[data-testid="message-content"]')?.textContent);
    assert.equal(next, 'Unread 1', 'the separator sits right above the first unread message');
    assert.ok(await onScreen(jonUi.page, 'Unread 1'), 'opened at the first unread message');
    // They have been on screen: read, up to the last one.
    const unread5 = Number(await messages(jonUi.page, 'Unread 5').getAttribute('data-seq'));
    await waitUntil(async () => (await jonPosition()) === unread5, { what: "Jon's read position at Unread 5" });
    await item.getByTestId('unread-badge').waitFor({ state: 'detached' });
    await screenshot(jonUi.page, 'new-messages.png');

    // Scrolled up (the separator stays), a new message arrives: not read, and a button says so.
    const list = jonUi.page.getByTestId('message-list');
    await list.evaluate((el) => {
      el.scrollTop = Math.floor(el.scrollHeight / 3);
    });
    assert.equal(await onScreen(jonUi.page, 'Unread 5'), false);
    await ivy.sendDirect(jonId, 'While you were up there');
    await messages(jonUi.page, 'While you were up there').waitFor({ state: 'attached' });
    const jump = jonUi.page.getByTestId('jump-latest');
    await jump.getByText(/1 new message/).waitFor();
    // A second one: had the first been marked read, the counts would not reach 2.
    const late = await ivy.sendDirect(jonId, 'And one more');
    await messages(jonUi.page, 'And one more').waitFor({ state: 'attached' });
    await jump.getByText(/2 new messages/).waitFor();
    await item.getByTestId('unread-badge').getByText('2', { exact: true }).waitFor();
    assert.equal(await jonPosition(), unread5, 'not read while never on screen');
    await screenshot(jonUi.page, 'jump-to-latest.png');

    await jump.click();
    await waitUntil(() => onScreen(jonUi.page, 'And one more'), { what: 'the newest message on screen' });
    await jump.waitFor({ state: 'hidden' });
    await waitUntil(async () => (await jonPosition()) === late.seq, { what: "Jon's read position at the new message" });
    await item.getByTestId('unread-badge').waitFor({ state: 'detached' });
    assert.equal(await separator.count(), 1, 'the separator stays while the room is open');
    jonUi.assertClean();
  });

  test('more unread than a page: "N more unread above", nothing read before it was loaded and seen', {
    timeout: 180000,
  }, async () => {
    const kim = await rest('kim', 'Kim Wexler');
    await rest('lou', 'Lou Reed');
    const louId = await kim.userId('lou');
    const total = 130;
    let last;
    for (let i = 1; i <= total; i++) last = await kim.sendDirect(louId, `Many ${i}`);
    const roomId = last.room_id;
    const louPosition = async () => (await kim.call('GET', `/rooms/${roomId}/reads`)).find((r) => r.username === 'lou')?.last_read_seq ?? 0;

    const lou = await newPerson();
    // Every read position the page sends, on the socket or over REST, in order.
    const reads = [];
    lou.page.on('websocket', (ws) =>
      ws.on('framesent', (f) => {
        try {
          const frame = JSON.parse(String(f.payload));
          if (frame.type === 'read' && frame.room_id === roomId) reads.push(frame.up_to);
        } catch {
          /* not JSON */
        }
      }),
    );
    lou.page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith(`/rooms/${roomId}/read`)) reads.push(JSON.parse(r.postData() || '{}').up_to);
    });
    const rec = olderPages(lou.page);
    await loginViaUi(lou.page, 'lou');
    await roomItem(lou.page, 'Kim Wexler').click();
    const more = lou.page.getByTestId('more-unread');
    await more.waitFor();
    await settle(lou.page, rec);
    // Whatever was loaded at opening: the line counts the unread messages not loaded yet.
    const loaded = await lou.page.locator('[data-testid="message"]').count();
    if (loaded < total) assert.equal((await more.textContent()).trim(), `${total - loaded} more unread above`);
    await screenshot(lou.page, 'more-unread.png');

    // The newest message on screen: still nothing read (the older unread ones were never loaded).
    const list = lou.page.getByTestId('message-list');
    await list.focus();
    await lou.page.keyboard.press('End');
    await waitUntil(() => onScreen(lou.page, `Many ${total}`), { what: 'the newest message on screen' });
    await settle(lou.page, rec);

    // Back up to the oldest unread message, a page at a time; then "New messages" above it.
    for (let i = 0; i < 5 && !(await messages(lou.page, 'Many 1').count()); i++) {
      await list.focus();
      await lou.page.keyboard.press('Home');
      await settle(lou.page, rec);
    }
    await messages(lou.page, 'Many 1').waitFor();
    await more.waitFor({ state: 'detached' });
    const separator = lou.page.getByTestId('unread-separator');
    await separator.getByText('New messages').waitFor();
    const next = await separator.evaluate((el) => el.nextElementSibling?.querySelector('[data-testid="message-content"]')?.textContent);
    assert.equal(next, 'Many 1', 'the separator sits right above the first unread message');
    // The first read position sent is one on screen now, near the top — not the newest one that
    // was on screen while older unread messages were not loaded (the old client sent that).
    await waitUntil(() => reads.length > 0, { what: 'a read position sent' });
    assert.ok(reads[0] < last.seq, `the first read position (${reads[0]}) is not the newest (${last.seq})`);
    const firstPosition = await waitUntil(async () => {
      const at = await louPosition();
      return at > 0 && at;
    }, { what: "Lou's read position moving" });
    assert.ok(firstPosition < last.seq);

    // All the way down: all read.
    await list.focus();
    await lou.page.keyboard.press('End');
    await waitUntil(async () => (await louPosition()) === last.seq, { what: "Lou's read position at the newest message" });
    await roomItem(lou.page, 'Kim Wexler').getByTestId('unread-badge').waitFor({ state: 'detached' });
    lou.assertClean();
  });
});
