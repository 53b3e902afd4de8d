// changes.test.mjs — messages people change, end to end: edit (from the message's menu, and ↑
// in an empty composer), delete with a confirmation (a tombstone for everyone), reactions,
// replies (the quote, and a jump to an original that is not loaded yet), "Seen" / "Seen by",
// and catching up on changes missed while the socket was down. Two or three people, each in
// their own browser context; one flow driven by the keyboard alone. Screenshots go to
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

async function idOf(page, text) {
  return Number(await messages(page, text).getAttribute('data-message-id'));
}

/** Wait until `emoji` shows `count` on a message (0: not shown), pressed or not. */
async function reactionIs(page, message, emoji, count, pressed = false) {
  const chip = message.locator(`[data-testid="reaction"][data-emoji="${emoji}"]`);
  await waitUntil(
    async () => {
      const n = await chip.count();
      if (count === 0) return n === 0;
      if (n !== 1) return false;
      const shown = await chip.getByTestId('reaction-count').textContent();
      return shown === String(count) && (await chip.getAttribute('aria-pressed')) === String(pressed);
    },
    { what: `${emoji} × ${count}${pressed ? ' (ours)' : ''}` },
  );
  return chip;
}

async function focused(page) {
  return page.evaluate(() => document.activeElement?.dataset?.testid || document.activeElement?.tagName);
}

/** Stand between a page and the server's /ws (as in banter.test.mjs): record frames both
 *  ways, and while `hold` is set turn new connections away as a server going away would. */
async function proxySockets(page) {
  const ctl = { sockets: [], hold: false };
  await page.routeWebSocket(
    (url) => url.pathname === '/ws',
    (ws) => {
      const rec = { sent: [], received: [], route: ws };
      ctl.sockets.push(rec);
      if (ctl.hold) {
        rec.held = true;
        setTimeout(() => ws.close({ code: 1001, reason: 'going away' }).catch(() => {}), 50);
        return;
      }
      const upstream = ws.connectToServer();
      ws.onMessage((m) => {
        rec.sent.push(JSON.parse(String(m)));
        upstream.send(m);
      });
      upstream.onMessage((m) => {
        rec.received.push(JSON.parse(String(m)));
        ws.send(m);
      });
    },
  );
  ctl.live = () => ctl.sockets.filter((s) => !s.held).at(-1);
  ctl.connected = (rec) => Boolean(rec?.received.some((f) => f.type === 'connected'));
  return ctl;
}

describe('changing messages in the web client', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('edit, delete, react and reply, live on both sides; one flow by keyboard alone', { timeout: 240000 }, async () => {
    const oliveRest = await rest('olive', 'Olive Oyl');
    await rest('pete', 'Pete Puma');
    const peteId = await oliveRest.userId('pete');
    // An old question, then more than a page of messages after it: it is not loaded at first.
    const original = await oliveRest.sendDirect(peteId, 'Where shall we meet on Friday?');
    for (let i = 1; i <= 60; i++) await oliveRest.sendDirect(peteId, `Filler ${i}`);

    const olive = await newPerson();
    const pete = await newPerson();
    await loginViaUi(olive.page, 'olive');
    await loginViaUi(pete.page, 'pete');
    await roomItem(olive.page, 'Pete Puma').click();
    await roomItem(pete.page, 'Olive Oyl').click();
    await messages(olive.page, 'Filler 60').waitFor();
    await messages(pete.page, 'Filler 60').waitFor();
    assert.equal(await messages(pete.page, 'Where shall we meet on Friday?').count(), 0, 'the old question is not loaded yet');

    // Reply (mouse): the quote goes above the composer; × cancels it; the reply shows the
    // quoted excerpt on both sides.
    const peteInput = pete.page.getByTestId('composer-input');
    await messages(pete.page, 'Filler 60').hover();
    await messages(pete.page, 'Filler 60').getByTestId('reply-button').click();
    const context = pete.page.getByTestId('composer-context');
    await context.getByText('Replying to Olive Oyl').waitFor();
    assert.equal(await context.getByTestId('composer-context-excerpt').textContent(), 'Filler 60');
    assert.equal(await focused(pete.page), 'composer-input', 'focus goes to the composer');
    await context.getByTestId('cancel-context').click();
    await context.waitFor({ state: 'hidden' });
    await messages(pete.page, 'Filler 60').hover();
    await messages(pete.page, 'Filler 60').getByTestId('reply-button').click();
    await context.waitFor();
    await sendViaUi(pete.page, 'Sounds good, see you there');
    await context.waitFor({ state: 'hidden' });
    for (const p of [pete, olive]) {
      const quote = messages(p.page, 'Sounds good, see you there').getByTestId('reply-quote');
      await quote.getByTestId('reply-quote-text').getByText('Filler 60', { exact: true }).waitFor();
      assert.equal(await quote.getByTestId('reply-quote-sender').textContent(), p === pete ? 'Olive Oyl' : 'You');
    }

    // A reply to the old question: a click on its quote pages back through history to it and
    // highlights it.
    await oliveRest.sendDirect(peteId, 'Did anyone answer this?', undefined, original.id);
    const answer = messages(pete.page, 'Did anyone answer this?');
    await answer.getByTestId('reply-quote-text').getByText('Where shall we meet on Friday?').waitFor();
    await answer.getByTestId('reply-quote').click();
    const old = byId(pete.page, original.id);
    await old.and(pete.page.locator('.flash')).waitFor();
    await waitUntil(
      async () => {
        const box = await old.boundingBox();
        const list = await pete.page.getByTestId('message-list').boundingBox();
        return box && list && box.y >= list.y - 1 && box.y + box.height <= list.y + list.height + 1;
      },
      { what: 'the original scrolled into view' },
    );
    assert.ok((await pete.page.locator('[data-testid="message"]').count()) >= 63, 'older pages were loaded');
    assert.equal(await messages(pete.page, 'Where shall we meet on Friday?').count(), 1, 'shown once');

    // Edit from the message's menu: the text goes into the composer; Enter saves; both sides
    // show the new text and "edited".
    const oliveInput = olive.page.getByTestId('composer-input');
    await sendViaUi(olive.page, 'Lets meet at the caffe');
    const typo = messages(olive.page, 'Lets meet at the caffe');
    await typo.hover();
    await typo.getByTestId('message-menu-button').click();
    await olive.page.getByTestId('message-menu').getByTestId('menu-edit').click();
    await olive.page.getByTestId('composer-context').getByText('Editing your message').waitFor();
    assert.equal(await oliveInput.inputValue(), 'Lets meet at the caffe');
    await oliveInput.fill("Let's meet at the café");
    await screenshot(olive.page, 'edit.png');
    await oliveInput.press('Enter');
    for (const p of [olive, pete]) {
      await messages(p.page, "Let's meet at the café").getByTestId('message-edited').waitFor();
      assert.equal(await messages(p.page, 'Lets meet at the caffe').count(), 0);
    }
    assert.match(await messages(pete.page, "Let's meet at the café").getByTestId('message-edited').getAttribute('title'), /^Edited /);
    assert.equal(await oliveInput.inputValue(), '', 'the composer is empty again');

    // ↑ in the empty composer edits the last message; Escape cancels (the draft comes back).
    await sendViaUi(olive.page, 'See you at 7');
    await oliveInput.fill('');
    await oliveInput.press('ArrowUp');
    assert.equal(await oliveInput.inputValue(), 'See you at 7');
    await oliveInput.press('Escape');
    assert.equal(await oliveInput.inputValue(), '');
    await olive.page.getByTestId('composer-context').waitFor({ state: 'hidden' });
    await oliveInput.press('ArrowUp');
    await oliveInput.press('ControlOrMeta+a');
    await olive.page.keyboard.type('See you at 8');
    await olive.page.keyboard.press('Enter');
    await messages(pete.page, 'See you at 8').getByTestId('message-edited').waitFor();
    await messages(olive.page, 'See you at 8').getByTestId('message-edited').waitFor();

    // Reactions (mouse): the picker, counts, our own highlighted, live on the other side;
    // a click on a reaction toggles ours; "more" has the rest.
    const cafe = (p) => messages(p.page, "Let's meet at the café");
    await cafe(pete).hover();
    await cafe(pete).getByTestId('react-button').click();
    const picker = pete.page.getByTestId('emoji-picker');
    await picker.locator('[data-testid="emoji-option"][data-emoji="👍"]').click();
    await picker.waitFor({ state: 'detached' });
    await reactionIs(pete.page, cafe(pete), '👍', 1, true);
    const oliveThumb = await reactionIs(olive.page, cafe(olive), '👍', 1, false);
    assert.match(await oliveThumb.getAttribute('title'), /Pete Puma/);
    await oliveThumb.click();
    await reactionIs(olive.page, cafe(olive), '👍', 2, true);
    await reactionIs(pete.page, cafe(pete), '👍', 2, true);
    assert.match(await cafe(olive).locator('[data-testid="reaction"][data-emoji="👍"]').getAttribute('title'), /Pete Puma and you/);
    await cafe(pete).getByTestId('reaction-add').click();
    await picker.getByTestId('more-emoji').click();
    await picker.locator('[data-testid="emoji-option"][data-emoji="🚀"]').click();
    await reactionIs(olive.page, cafe(olive), '🚀', 1, false);
    await cafe(pete).locator('[data-testid="reaction"][data-emoji="👍"]').click();
    await reactionIs(pete.page, cafe(pete), '👍', 1, false);
    await reactionIs(olive.page, cafe(olive), '👍', 1, true);
    await reactionIs(pete.page, cafe(pete), '🚀', 1, true);
    await pete.page.getByTestId('message-list').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await screenshot(pete.page, 'reactions-and-replies.png');

    // By keyboard alone (Pete): Shift+Tab from the composer reaches the newest message's
    // actions; its menu reacts ❤️ (arrow keys in the picker), then replies; then Pete deletes
    // his reply, confirming in the dialog.
    await sendViaUi(olive.page, 'Bring snacks?');
    const snacks = messages(pete.page, 'Bring snacks?');
    await snacks.waitFor();
    await peteInput.focus();
    await pete.page.keyboard.press('Shift+Tab');
    assert.equal(await focused(pete.page), 'message-menu-button', 'Shift+Tab reaches the newest message');
    await pete.page.keyboard.press('Enter');
    await pete.page.getByTestId('message-menu').waitFor();
    assert.equal(await focused(pete.page), 'menu-reply');
    await pete.page.keyboard.press('ArrowDown');
    assert.equal(await focused(pete.page), 'menu-react');
    await pete.page.keyboard.press('Enter');
    await picker.waitFor();
    await pete.page.keyboard.press('ArrowRight');
    await pete.page.keyboard.press('Enter');
    await reactionIs(pete.page, snacks, '❤️', 1, true);
    await reactionIs(olive.page, messages(olive.page, 'Bring snacks?'), '❤️', 1, false);
    await waitUntil(async () => (await focused(pete.page)) === 'message-menu-button', { what: 'focus back on the menu button' });
    await pete.page.keyboard.press('Enter');
    await pete.page.getByTestId('message-menu').waitFor();
    await pete.page.keyboard.press('Enter'); // Reply
    await pete.page.getByTestId('composer-context').getByText('Replying to Olive Oyl').waitFor();
    assert.equal(await focused(pete.page), 'composer-input');
    await pete.page.keyboard.type('Yes, crisps');
    await pete.page.keyboard.press('Enter');
    const crisps = messages(pete.page, 'Yes, crisps');
    await crisps.and(pete.page.locator('[data-status="sent"]')).waitFor();
    await messages(olive.page, 'Yes, crisps').getByTestId('reply-quote-text').getByText('Bring snacks?').waitFor();
    const crispsId = await idOf(pete.page, 'Yes, crisps');
    await pete.page.keyboard.press('Shift+Tab');
    assert.equal(await focused(pete.page), 'message-menu-button');
    await pete.page.keyboard.press('Enter');
    await pete.page.keyboard.press('End');
    assert.equal(await focused(pete.page), 'menu-delete');
    await pete.page.keyboard.press('Enter');
    const dialog = pete.page.getByTestId('delete-dialog');
    await dialog.waitFor();
    assert.equal(await focused(pete.page), 'cancel-delete', 'the safe choice has focus');
    await pete.page.keyboard.press('Tab');
    assert.equal(await focused(pete.page), 'confirm-delete');
    await pete.page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached' });
    for (const p of [pete, olive]) await byId(p.page, crispsId).getByTestId('message-deleted').waitFor();
    assert.equal(await focused(pete.page), 'composer-input', 'focus continues in the composer');

    // Delete (mouse) with a confirmation: Cancel keeps it; Delete leaves "Message deleted" on
    // both sides, and the reply that quoted it says so too.
    const filler = messages(olive.page, 'Filler 60');
    const fillerId = await idOf(olive.page, 'Filler 60');
    await filler.hover();
    await filler.getByTestId('message-menu-button').click();
    await olive.page.getByTestId('menu-delete').click();
    const oliveDialog = olive.page.getByTestId('delete-dialog');
    await oliveDialog.getByTestId('delete-preview').getByText('Filler 60').waitFor();
    await oliveDialog.getByTestId('cancel-delete').click();
    await oliveDialog.waitFor({ state: 'detached' });
    assert.equal(await filler.count(), 1, 'Cancel deletes nothing');
    await filler.hover();
    await filler.getByTestId('message-menu-button').click();
    await olive.page.getByTestId('menu-delete').click();
    await oliveDialog.getByTestId('confirm-delete').click();
    await oliveDialog.waitFor({ state: 'detached' });
    for (const p of [olive, pete]) {
      await byId(p.page, fillerId).getByTestId('message-deleted').getByText('Message deleted').waitFor();
      assert.equal(await byId(p.page, fillerId).getByTestId('message-content').count(), 0, 'the text is gone');
      await messages(p.page, 'Sounds good, see you there').getByTestId('reply-quote-text').getByText('Message deleted').waitFor();
    }
    await byId(olive.page, fillerId).scrollIntoViewIfNeeded();
    await screenshot(olive.page, 'deleted.png');
    olive.assertClean();
    pete.assertClean();
  });

  test('changes missed while offline arrive on reconnect; "Seen" and "Seen by …" live', { timeout: 180000 }, async () => {
    const rita = await rest('rita', 'Rita Moreno');
    const quinn = await rest('quinn', 'Quinn Fabray');
    await rest('sam', 'Sam Cooke');
    const samId = await rita.userId('sam');
    const first = await rita.sendDirect(samId, 'First plan');
    const second = await rita.sendDirect(samId, 'Second plan');

    const sam = await newPerson();
    const sockets = await proxySockets(sam.page);
    const ritaUi = await newPerson();
    await loginViaUi(sam.page, 'sam');
    await loginViaUi(ritaUi.page, 'rita');
    await roomItem(sam.page, 'Rita Moreno').click();
    await messages(sam.page, 'Second plan').waitFor();
    await roomItem(ritaUi.page, 'Sam Cooke').click();
    await messages(ritaUi.page, 'Second plan').waitFor();
    const roomId = first.room_id;

    // Live first: a reaction over REST reaches Sam as a message_updated frame.
    await rita.react(first.id, '🎉');
    await reactionIs(sam.page, messages(sam.page, 'First plan'), '🎉', 1, false);

    // Sam's socket goes away and stays away while Rita edits, reacts and deletes.
    const status = sam.page.getByTestId('connection-status');
    await waitUntil(() => sockets.connected(sockets.live()), { what: 'a connected socket' });
    const before = sockets.live();
    // What this socket delivered (the proxy goes on recording after the page's side closes).
    const delivered = before.received.filter((f) => f.room_id === roomId && typeof f.seq === 'number');
    sockets.hold = true;
    await before.route.close({ code: 1001, reason: 'going away' });
    await status.getByText('Reconnecting…').waitFor();
    await rita.editMessage(first.id, 'First plan, revised');
    await rita.react(first.id, '👍');
    await rita.deleteMessage(second.id);
    await rita.sendDirect(samId, 'Third plan');
    await waitUntil(() => sockets.sockets.some((x) => x.held), { what: 'a connection turned away' });
    sockets.hold = false;
    await sam.page.evaluate(() => window.dispatchEvent(new Event('online')));
    await status.waitFor({ state: 'hidden', timeout: 30000 });
    const revised = messages(sam.page, 'First plan, revised');
    await revised.getByTestId('message-edited').waitFor();
    await reactionIs(sam.page, revised, '👍', 1, false);
    await reactionIs(sam.page, revised, '🎉', 1, false);
    await byId(sam.page, second.id).getByTestId('message-deleted').waitFor();
    await messages(sam.page, 'Third plan').waitFor();
    assert.equal(await messages(sam.page, 'Third plan').count(), 1);
    // The catch-up started from the newest change seen, not only the newest message.
    const newest = delivered.reduce((a, f) => (f.seq > (a?.seq || 0) ? f : a), null);
    assert.equal(newest?.type, 'message_updated', 'the newest event delivered was a change');
    const after = sockets.sockets.filter((s) => !s.held && sockets.connected(s)).at(-1);
    const sync = after.sent.find((f) => f.type === 'sync');
    assert.ok(sync, 'the new socket sent sync');
    assert.equal(sync.rooms[String(roomId)], newest.seq, 'sync continues from the newest event seen (message_updated included)');

    // "Seen" (DM): Rita writes while Sam looks elsewhere; it appears when he opens the room.
    await sam.page.evaluate(() => {
      location.hash = '#/';
    });
    await sam.page.getByTestId('no-conversation').waitFor();
    await sendViaUi(ritaUi.page, 'Are you still there?');
    await roomItem(sam.page, 'Rita Moreno').getByTestId('unread-badge').waitFor();
    assert.equal(await ritaUi.page.getByTestId('seen').count(), 0, 'not seen yet');
    await roomItem(sam.page, 'Rita Moreno').click();
    await messages(sam.page, 'Are you still there?').waitFor();
    const seenLine = ritaUi.page.getByTestId('seen');
    await seenLine.getByText('Seen', { exact: true }).waitFor();
    const afterMessage = await messages(ritaUi.page, 'Are you still there?').evaluate((el) => el.nextElementSibling?.dataset.testid);
    assert.equal(afterMessage, 'seen', '"Seen" sits under the message that was read');

    // "Seen by …" (group): each reader under the newest message they have read, live.
    const group = await rita.createGroup('Book club', [samId, await rita.userId('quinn')]);
    await roomItem(ritaUi.page, 'Book club').click();
    await sendViaUi(ritaUi.page, 'Chapter one tonight');
    const chapter = await ritaUi.page.locator('[data-testid="message"]').last().getAttribute('data-seq');
    await quinn.markRead(group.id, Number(chapter));
    await ritaUi.page.getByTestId('seen').getByText('Seen by Quinn', { exact: true }).waitFor();
    await roomItem(sam.page, 'Book club').click();
    await messages(sam.page, 'Chapter one tonight').waitFor();
    await ritaUi.page.getByTestId('seen').getByText('Seen by Quinn and Sam', { exact: true }).waitFor();
    assert.match(await ritaUi.page.getByTestId('seen').getAttribute('title'), /Quinn Fabray and Sam Cooke/);
    sam.assertClean();
    ritaUi.assertClean();
  });

  test('on a phone-sized screen in dark mode the new parts fit and work by touch', { timeout: 120000 }, async () => {
    const uma = await rest('uma', 'Uma Thurman');
    await rest('vic', 'Victor Frankenstein-Longname');
    const vicId = await uma.userId('vic');
    const q = await uma.sendDirect(vicId, 'Who brings the record player for the party on Saturday night?');
    const a = await uma.sendDirect(vicId, 'And the lights?', undefined, q.id);
    await uma.react(q.id, '🎉');
    await uma.react(a.id, '😂');
    await uma.editMessage(a.id, 'And the fairy lights?');

    const vic = await newPerson({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    const { page } = vic;
    await loginViaUi(page, 'vic');
    await roomItem(page, 'Uma Thurman').click();
    const lights = messages(page, 'And the fairy lights?');
    await lights.getByTestId('message-edited').waitFor();
    await assertNoOverflow(page, 'conversation with reactions and a reply');
    // A tap on the bubble shows its actions; the picker fits the screen.
    await lights.getByTestId('message-content').tap();
    await lights.getByTestId('react-button').tap();
    const picker = page.getByTestId('emoji-picker');
    await picker.waitFor();
    const box = await picker.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 390 && box.y >= 0 && box.y + box.height <= 844, 'the picker is on screen');
    await picker.locator('[data-testid="emoji-option"][data-emoji="😂"]').tap();
    await reactionIs(page, lights, '😂', 2, true);
    await assertNoOverflow(page, 'after reacting');
    await lights.getByTestId('reply-button').tap();
    await page.getByTestId('composer-context').waitFor();
    const composer = await page.getByTestId('composer').boundingBox();
    assert.ok(composer.y + composer.height <= 844 + 1, 'the composer with its reply bar fits');
    await assertNoOverflow(page, 'replying');
    await screenshot(page, 'mobile-reactions-dark.png');
    vic.assertClean();
  });
});
