// search-mentions.test.mjs — finding and calling people, end to end: the search panel (words
// in any case and accents, highlights, paging, "only in this conversation", a jump to a message
// older than the loaded history, never a room you are not in), `@` autocomplete and highlighted
// mentions with the sidebar's "@" badge, mute following you to your other devices, desktop
// notifications (through the real Notification API, recorded by a wrapper) and the unread total
// in the tab's title. Each person in their own browser context. Screenshots go to
// docs/screenshots/.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtures } from './lib/fixtures.mjs';
import { waitUntil, messages, roomItem, loginViaUi, sendViaUi, screenshot, assertNoOverflow } from './lib/browser.mjs';

const { server, newPerson, rest, hooks } = fixtures();

/** The message element with this id. */
function byId(page, id) {
  return page.locator(`[data-testid="message"][data-message-id="${id}"]`);
}

async function focused(page) {
  return page.evaluate(() => document.activeElement?.dataset?.testid || document.activeElement?.tagName);
}

/** Type `q` into the open search panel and wait for its results ('all' rooms or this 'room'). */
async function searchFor(page, q, scope = 'all') {
  await page.getByTestId('search-input').fill(q);
  await page.locator(`[data-testid="search-status"][data-state="done"][data-scope="${scope}"]`).and(page.locator(`[data-searched="${q}"]`)).waitFor();
  return page.getByTestId('search-result');
}

/** The rooms named by the results shown, in order. */
async function resultRooms(page) {
  return page.getByTestId('search-result-room').allTextContents();
}

/**
 * Record desktop notifications: the page's Notification is wrapped (the app still goes through
 * the real constructor), and the browser context is allowed to show them.
 */
async function recordNotifications(p) {
  await p.context.grantPermissions(['notifications'], { origin: server.url });
  await p.context.addInitScript(() => {
    const Real = window.Notification;
    const shown = [];
    window.__notifications = shown;
    window.Notification = class extends Real {
      constructor(title, options = {}) {
        super(title, options);
        shown.push({ title, body: options.body, tag: options.tag, instance: this });
      }
    };
  });
}

function notifications(page) {
  return page.evaluate(() => window.__notifications.map(({ title, body, tag }) => ({ title, body, tag })));
}

describe('search, mentions and notifications in the web client', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('search: any case and accents, highlights, paging, this conversation only, a jump to an old message, never a room you are not in', { timeout: 240000 }, async () => {
    await rest('ada', 'Ada Lovelace');
    const ben = await rest('ben', 'Ben Franklin');
    const cyd = await rest('cyd', 'Cyd Charisse');
    const adaId = await ben.userId('ada');
    const cydId = await ben.userId('cyd');
    // The message to find, then more than a page of history after it: it is not loaded at first.
    const target = await ben.sendDirect(adaId, 'Meet me at the Café Müller at noon');
    for (let i = 1; i <= 65; i++) await ben.sendDirect(adaId, `Filler ${i}`);
    const tomorrow = await cyd.sendDirect(adaId, 'Café tomorrow? <b>cafe</b> au lait');
    // A group Ada is not in: its words are never found by her.
    const secret = await ben.createGroup('Secret plans', [cydId]);
    await ben.sendGroup(secret.id, 'The cafe secret is out');

    const ada = await newPerson();
    const { page } = ada;
    await loginViaUi(page, 'ada');
    await roomItem(page, 'Cyd Charisse').waitFor();

    // The sidebar's button opens the panel, its box focused; it starts with a hint.
    await page.getByTestId('open-search').click();
    const dialog = page.getByTestId('search-dialog');
    await dialog.waitFor();
    assert.equal(await focused(page), 'search-input');
    await page.getByTestId('search-status').filter({ hasText: /type a word/ }).waitFor();
    assert.equal(await page.getByTestId('search-this-room').isVisible(), false, 'no conversation open: no "only in" choice');

    // "cafe" finds "Café" (and "cafe"), newest first, marked, with the room and the sender; the
    // group Ada is not in is never among them; server text is never markup.
    let results = await searchFor(page, 'cafe');
    assert.deepEqual(await resultRooms(page), ['Cyd Charisse', 'Ben Franklin']);
    const benResult = page.locator(`[data-testid="search-result"][data-message-id="${target.id}"]`);
    assert.equal(await benResult.getByTestId('search-result-sender').textContent(), 'Ben Franklin: ');
    assert.equal(await benResult.getByTestId('search-result-excerpt').textContent(), 'Meet me at the Café Müller at noon');
    assert.deepEqual(await benResult.locator('mark').allTextContents(), ['Café']);
    const cydResult = page.locator(`[data-testid="search-result"][data-message-id="${tomorrow.id}"]`);
    assert.deepEqual(await cydResult.locator('mark').allTextContents(), ['Café', 'cafe']);
    assert.equal(await dialog.locator('b').count(), 0, 'user text is never markup');
    assert.equal(await dialog.getByText('The cafe secret is out').count(), 0, 'a room Ada is not in');
    await page.mouse.move(0, 0);
    await screenshot(page, 'search.png');

    // Accents in the text, none in the query, another case.
    results = await searchFor(page, 'MULLER');
    assert.equal(await results.count(), 1);
    assert.deepEqual(await results.locator('mark').allTextContents(), ['Müller']);
    // Words only in the room Ada is not in: nothing, said plainly.
    results = await searchFor(page, 'secret');
    assert.equal(await results.count(), 0);
    assert.match(await page.getByTestId('search-status').textContent(), /No messages found for “secret”/);

    // Paging: 65 matches come 20 at a time, newest first, each once.
    results = await searchFor(page, 'filler');
    assert.equal(await results.count(), 20);
    assert.match(await page.getByTestId('search-status').textContent(), /20\+ messages found/);
    assert.equal(await results.first().getByTestId('search-result-excerpt').textContent(), 'Filler 65');
    const more = page.getByTestId('search-more');
    await more.click();
    await waitUntil(async () => (await results.count()) === 40, { what: '40 results' });
    await more.click();
    await waitUntil(async () => (await results.count()) === 60, { what: '60 results' });
    await more.click();
    await waitUntil(async () => (await results.count()) === 65, { what: '65 results' });
    await more.waitFor({ state: 'hidden' });
    const excerpts = await page.getByTestId('search-result-excerpt').allTextContents();
    assert.deepEqual(excerpts, Array.from({ length: 65 }, (_, i) => `Filler ${65 - i}`));

    // A click on a result opens its room and pages back through history to the message, which
    // is highlighted and in view.
    await searchFor(page, 'cafe');
    await page.locator(`[data-testid="search-result"][data-message-id="${target.id}"]`).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('conversation-title').getByText('Ben Franklin').waitFor();
    const found = byId(page, target.id);
    await found.and(page.locator('.flash')).waitFor();
    await waitUntil(
      async () => {
        const box = await found.boundingBox();
        const list = await page.getByTestId('message-list').boundingBox();
        return box && list && box.y >= list.y - 1 && box.y + box.height <= list.y + list.height + 1;
      },
      { what: 'the message scrolled into view' },
    );
    assert.ok((await page.locator('[data-testid="message"]').count()) >= 66, 'older pages were loaded');
    assert.equal(await messages(page, 'Meet me at the Café Müller at noon').count(), 1, 'shown once');

    // Ctrl+K opens it again where it was; "only in Ben Franklin" limits the results to this DM.
    await page.keyboard.press('Control+k');
    await dialog.waitFor();
    assert.equal(await page.getByTestId('search-input').inputValue(), 'cafe');
    assert.equal(await results.count(), 2);
    const scope = page.getByTestId('search-this-room');
    await page.getByText('Only in Ben Franklin').waitFor();
    await scope.check();
    await page.locator('[data-testid="search-status"][data-state="done"][data-scope="room"][data-searched="cafe"]').waitFor();
    assert.deepEqual(await resultRooms(page), ['Ben Franklin']);
    await scope.uncheck();
    await page.locator('[data-testid="search-status"][data-state="done"][data-scope="all"][data-searched="cafe"]').waitFor();
    assert.equal(await results.count(), 2);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    // By keyboard alone: "/" (outside a text box) opens it, ↓ reaches the results, Enter opens one.
    await page.evaluate(() => {
      location.hash = '#/';
    });
    await page.getByTestId('no-conversation').waitFor();
    await page.keyboard.press('/');
    await dialog.waitFor();
    assert.equal(await focused(page), 'search-input');
    await searchFor(page, 'tomorrow');
    await page.keyboard.press('ArrowDown');
    assert.equal(await focused(page), 'search-result');
    await page.keyboard.press('Enter');
    await page.getByTestId('conversation-title').getByText('Cyd Charisse').waitFor();
    await byId(page, tomorrow.id).and(page.locator('.flash')).waitFor();
    ada.assertClean();
  });

  test('@ autocomplete, highlighted mentions and the "@" badge; mute on every device; desktop notifications; unread in the title', { timeout: 240000 }, async () => {
    const gilRest = await rest('gil', 'Gil Scott');
    const hanaRest = await rest('hana', 'Hana Mori');
    await rest('ivo', 'Ivo Andric');
    const hanaId = await gilRest.userId('hana');
    const group = await gilRest.createGroup('Launch crew', [hanaId, await gilRest.userId('ivo')]);
    const hello = await gilRest.sendDirect(hanaId, 'Hi Hana');
    const dmId = hello.room_id;
    await hanaRest.markRead(dmId, hello.seq);

    const gil = await newPerson();
    const hana = await newPerson();
    await recordNotifications(hana);
    const hana2 = await newPerson(); // Hana's other device
    await loginViaUi(gil.page, 'gil');
    await loginViaUi(hana.page, 'hana');
    await loginViaUi(hana2.page, 'hana');

    // Hana turns desktop notifications on in the settings (the browser's permission is given).
    await hana.page.getByTestId('open-settings').click();
    const toggle = hana.page.getByTestId('notifications-toggle');
    assert.equal(await toggle.isChecked(), false, 'off until turned on');
    await toggle.check();
    await hana.page.getByTestId('notifications-hint').getByText(/^On:/).waitFor();
    await hana.page.keyboard.press('Escape');
    await hana.page.getByTestId('settings-dialog').waitFor({ state: 'detached' });

    // Gil writes "@": the group's other members are offered; typing narrows them; Escape closes
    // the list and leaves the text alone; Enter picks.
    await roomItem(gil.page, 'Launch crew').click();
    const input = gil.page.getByTestId('composer-input');
    const list = gil.page.getByTestId('mention-list');
    const options = gil.page.getByTestId('mention-option');
    await input.pressSequentially('Thanks @');
    await list.waitFor();
    assert.deepEqual(await options.evaluateAll((els) => els.map((e) => e.dataset.username)), ['hana', 'ivo']);
    assert.equal(await options.first().getAttribute('aria-selected'), 'true');
    await input.press('ArrowDown');
    assert.equal(await options.nth(1).getAttribute('aria-selected'), 'true');
    assert.equal(await input.getAttribute('aria-activedescendant'), await options.nth(1).getAttribute('id'));
    await input.press('Escape');
    await list.waitFor({ state: 'hidden' });
    assert.equal(await input.inputValue(), 'Thanks @');
    await input.fill('');
    await input.pressSequentially('Thanks @ha');
    await list.waitFor();
    assert.deepEqual(await options.evaluateAll((els) => els.map((e) => e.dataset.username)), ['hana']);
    await input.press('Enter');
    await list.waitFor({ state: 'hidden' });
    assert.equal(await input.inputValue(), 'Thanks @hana ', 'the name goes in, and a space');
    // Tab picks too; a name matches by its full name as well ("Andric").
    await input.pressSequentially('and @andr');
    await list.waitFor();
    await input.press('Tab');
    assert.equal(await input.inputValue(), 'Thanks @hana and @ivo ');
    assert.equal(await focused(gil.page), 'composer-input');
    await input.pressSequentially('for the slides');
    await input.press('Enter');
    const sent = messages(gil.page, 'Thanks @hana and @ivo for the slides');
    await sent.and(gil.page.locator('[data-status="sent"]')).waitFor();
    await waitUntil(async () => (await sent.getByTestId('mention').count()) === 2, { what: "the mentions marked in Gil's own message" });
    assert.equal(await sent.locator('[data-testid="mention"][data-me="true"]').count(), 0);

    // Hana (no conversation open): an unread badge and an "@" badge; a notification.
    const crew = roomItem(hana.page, 'Launch crew');
    await crew.getByTestId('mention-badge').waitFor();
    assert.equal(await crew.getByTestId('unread-badge').textContent(), '1');
    await waitUntil(async () => (await notifications(hana.page)).some((n) => n.title === 'Gil Scott mentioned you in Launch crew'), { what: 'a notification for the mention' });
    assert.equal((await notifications(hana.page)).find((n) => n.title === 'Gil Scott mentioned you in Launch crew').body, 'Thanks @hana and @ivo for the slides');
    assert.equal(await hana.page.title(), '(1) Banter');

    // She opens it: her own name stands out, Ivo's is marked plainly, the message has an accent;
    // the badges go.
    await crew.click();
    const mention = messages(hana.page, 'Thanks @hana and @ivo for the slides');
    await mention.locator('[data-testid="mention"][data-me="true"]').getByText('@hana', { exact: true }).waitFor();
    assert.equal(await mention.locator('[data-testid="mention"]:not([data-me])').textContent(), '@ivo');
    assert.match(await mention.getAttribute('class'), /\bmentions-me\b/);
    await crew.getByTestId('mention-badge').waitFor({ state: 'detached' });
    await crew.getByTestId('unread-badge').waitFor({ state: 'detached' });
    await waitUntil(async () => (await hana.page.title()) === 'Banter', { what: 'the title without unread' });

    // Mute on one device: shown there at once, and on her other device live, and after a reload.
    const mute = hana.page.getByTestId('mute-toggle');
    assert.equal(await mute.getAttribute('aria-pressed'), 'false');
    await mute.click();
    await waitUntil(async () => (await mute.getAttribute('aria-pressed')) === 'true', { what: 'muted' });
    await crew.getByTestId('muted-icon').waitFor();
    await hana.page.getByTestId('conversation-status').getByText('3 members · Muted').waitFor();
    const crew2 = roomItem(hana2.page, 'Launch crew');
    await crew2.getByTestId('muted-icon').waitFor();
    await hana2.page.reload();
    await crew2.getByTestId('muted-icon').waitFor();

    // Notifications, with the group open: a DM notifies.
    await gilRest.sendDirect(hanaId, 'Are you free at 3?');
    await waitUntil(async () => (await notifications(hana.page)).some((n) => n.body === 'Are you free at 3?'), { what: 'a notification for the DM' });
    const dmNote = (await notifications(hana.page)).find((n) => n.body === 'Are you free at 3?');
    assert.equal(dmNote.title, 'Gil Scott');
    assert.equal(dmNote.tag, `banter-room-${dmId}`);

    // With the DM open: the muted group does not notify (it still counts unread), a mention in
    // it does; the open DM does not; never our own messages.
    await roomItem(hana.page, 'Gil Scott').click();
    await messages(hana.page, 'Are you free at 3?').waitFor();
    await gilRest.sendGroup(group.id, 'Standup moved to 10');
    await waitUntil(async () => (await crew.getByTestId('unread-badge').textContent().catch(() => '')) === '1', { what: 'the muted group counts unread' });
    await gilRest.sendDirect(hanaId, '@hana still there?');
    await messages(hana.page, '@hana still there?').locator('[data-testid="mention"][data-me="true"]').waitFor();
    await sendViaUi(hana.page, 'Yes, 3 works');
    await gilRest.sendGroup(group.id, '@hana can you take notes?');
    await waitUntil(async () => (await notifications(hana.page)).some((n) => n.body === '@hana can you take notes?'), { what: 'a notification for a mention in a muted group' });
    await crew.getByTestId('mention-badge').waitFor();
    const bodies = (await notifications(hana.page)).map((n) => n.body);
    assert.ok(!bodies.some((b) => /Standup/.test(b)), `no notification from the muted group: ${JSON.stringify(bodies)}`);
    assert.ok(!bodies.includes('@hana still there?'), 'none for the open room, mention or not');
    assert.ok(!bodies.includes('Yes, 3 works'), 'none for our own message');
    // The unread total (muted rooms included) is in the title (once the open room's new
    // message has been on screen long enough to count as read).
    await waitUntil(async () => (await hana.page.title()) === '(2) Banter', { what: 'the title with two unread' });
    const hanaInput = hana.page.getByTestId('composer-input');
    await hanaInput.pressSequentially('On it @g');
    await hana.page.getByTestId('mention-list').waitFor();
    await screenshot(hana.page, 'mentions.png');
    await hanaInput.press('Escape');
    await hanaInput.fill('');

    // A click on a notification opens its room.
    await hana.page.evaluate(() => window.__notifications.at(-1).instance.dispatchEvent(new Event('click')));
    await hana.page.getByTestId('conversation-title').getByText('Launch crew').waitFor();
    await messages(hana.page, '@hana can you take notes?').waitFor();
    await waitUntil(async () => (await hana.page.title()) === 'Banter', { what: 'the title without unread' });

    // Unmuted from the other device: back to normal here.
    await roomItem(hana2.page, 'Launch crew').click();
    await hana2.page.getByTestId('mute-toggle').click();
    await crew.getByTestId('muted-icon').waitFor({ state: 'detached' });
    await waitUntil(async () => (await mute.getAttribute('aria-pressed')) === 'false', { what: 'unmuted here too' });
    gil.assertClean();
    hana.assertClean();
    hana2.assertClean();
  });

  test('on a phone-sized screen in dark mode the search panel and the @ list fit', { timeout: 120000 }, async () => {
    const kim = await rest('kim', 'Kim Novak');
    await rest('leo', 'Leopold Bloom-Longsurname');
    const leoId = await kim.userId('leo');
    const g = await kim.createGroup('Night owls', [leoId, (await rest('max', 'Max Ernst')).user.id]);
    await kim.sendGroup(g.id, 'Pizza at the Trattoria Fantastico after the show? Everyone welcome, bring friends and an appetite');
    await kim.sendGroup(g.id, 'Or pizza at home, @leo decides');

    const p = await newPerson({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    const { page } = p;
    await loginViaUi(page, 'leo');
    await page.getByTestId('open-search').tap();
    const dialog = page.getByTestId('search-dialog');
    await dialog.waitFor();
    const results = await searchFor(page, 'pizza');
    assert.equal(await results.count(), 2);
    const box = await dialog.boundingBox();
    assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= 390 + 1 && box.y + box.height <= 844 + 1, `the panel is on screen: ${JSON.stringify(box)}`);
    await assertNoOverflow(page, 'search panel');
    await screenshot(page, 'search-mobile-dark.png');
    await results.last().tap();
    await page.getByTestId('conversation-title').getByText('Night owls').waitFor();
    await page.locator('.flash').waitFor();
    const mine = messages(page, 'Or pizza at home, @leo decides');
    await mine.locator('[data-testid="mention"][data-me="true"]').waitFor();
    await page.getByTestId('composer-input').tap();
    await page.getByTestId('composer-input').pressSequentially('@');
    const list = page.getByTestId('mention-list');
    await list.waitFor();
    const lb = await list.boundingBox();
    assert.ok(lb.x >= 0 && lb.x + lb.width <= 390 + 1 && lb.y >= 0, 'the @ list is on screen');
    await page.getByTestId('mention-option').filter({ hasText: 'Kim Novak' }).tap();
    assert.equal(await page.getByTestId('composer-input').inputValue(), '@kim ');
    await assertNoOverflow(page, 'composer with a mention');
    p.assertClean();
  });
});
