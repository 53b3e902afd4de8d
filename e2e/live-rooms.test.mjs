// live-rooms.test.mjs — groups that change while people look at them, end to end: the member
// count and system lines ("… added …", "… left", "… removed …", "… renamed the group …") in a
// second member's open group, the rename control only for the creator, a confirmation before
// removing someone; the creator deleting their account (the heir gets the owner's controls at
// once, a DM with them becomes a read-only "Deleted User" conversation everywhere, also after a
// reload). System lines are the server's notices: the same after a reload. Several people, each in their own browser context. Screenshots go to
// docs/screenshots/.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtures } from './lib/fixtures.mjs';
import { RestClient } from './lib/rest.mjs';
import { waitUntil, messages, roomItem, loginViaUi, sendViaUi, screenshot } from './lib/browser.mjs';

const { server, newPerson, rest, hooks } = fixtures();

/** The texts of the system lines in the open conversation, in order. */
function systemLines(page) {
  return page.getByTestId('system-line-text').allTextContents();
}

/** What the open conversation's list shows, in order: "m:<text>" and "n:<system line>". */
function timeline(page) {
  return page.getByTestId('message-items').evaluate((ol) =>
    [...ol.children]
      .map((li) => {
        if (li.dataset.testid === 'message') return `m:${li.querySelector('[data-testid="message-content"]')?.textContent ?? ''}`;
        if (li.dataset.testid === 'system-line') return `n:${li.querySelector('[data-testid="system-line-text"]').textContent}`;
        return null;
      })
      .filter(Boolean),
  );
}

async function statusIs(page, text) {
  await waitUntil(async () => (await page.getByTestId('conversation-status').textContent()) === text, { what: `status "${text}"` });
}

describe('groups and people, live', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('a member sees people added, leaving and removed, and a rename, live; removing asks first', { timeout: 180000 }, async () => {
    const carolRest = await rest('carol', 'Carol Danvers');
    await rest('dave', 'Dave Lister');
    const erin = await rest('erin', 'Erin Brockovich');
    await rest('frank', 'Frank Castle');
    await rest('gina', 'Gina Linetti');
    const ids = {};
    for (const u of ['dave', 'erin', 'frank', 'gina']) ids[u] = await carolRest.userId(u);
    const group = await carolRest.createGroup('Book club', [ids.dave, ids.erin, ids.frank]);
    await carolRest.sendGroup(group.id, 'First chapter by Friday');

    const carol = await newPerson();
    const dave = await newPerson();
    await loginViaUi(carol.page, 'carol');
    await loginViaUi(dave.page, 'dave');
    for (const p of [carol, dave]) {
      await roomItem(p.page, 'Book club').click();
      await messages(p.page, 'First chapter by Friday').waitFor();
      await statusIs(p.page, '4 members');
    }

    // Carol adds Gina from the members dialog: Dave's open group says so at once.
    await carol.page.getByTestId('open-members').click();
    const carolMembers = carol.page.getByTestId('members-dialog');
    const add = carolMembers.getByTestId('add-members');
    await add.getByTestId('user-search').fill('Gina');
    await add.locator('[data-testid="user-result"][data-username="gina"]').click();
    await carolMembers.locator('[data-testid="member-item"][data-username="gina"]').waitFor();
    await statusIs(dave.page, '5 members');
    await dave.page.getByTestId('system-line-text').getByText('Carol Danvers added Gina Linetti').waitFor();

    // Erin leaves (from her own device, over REST).
    await erin.call('DELETE', `/groups/${group.id}/members`, { user_id: ids.erin });
    await statusIs(dave.page, '4 members');
    await dave.page.getByTestId('system-line-text').getByText('Erin Brockovich left').waitFor();

    // Carol removes Frank: a confirmation first; Cancel keeps him.
    const frankRow = carolMembers.locator('[data-testid="member-item"][data-username="frank"]');
    await frankRow.getByTestId('remove-member').click();
    const confirm = carol.page.getByTestId('remove-member-dialog');
    await confirm.getByText('Frank Castle will be removed from “Book club”').waitFor();
    assert.equal(
      await carol.page.evaluate(() => document.activeElement?.dataset?.testid),
      'cancel-remove-member',
      'focus starts on Cancel',
    );
    await confirm.getByTestId('cancel-remove-member').click();
    await confirm.waitFor({ state: 'detached' });
    assert.equal(await frankRow.count(), 1, 'Cancel keeps Frank');
    assert.ok(await carolMembers.isVisible(), 'the members dialog stays open');
    const stillThere = await carolRest.call('GET', `/groups/${group.id}/members`);
    assert.ok(stillThere.some((m) => m.user_id === ids.frank), 'Frank is still a member on the server');
    // Escape closes the confirmation only.
    await frankRow.getByTestId('remove-member').click();
    await confirm.waitFor();
    await carol.page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'detached' });
    assert.ok(await carolMembers.isVisible(), 'Escape closed only the confirmation');
    assert.equal(await frankRow.count(), 1);
    // Now for real.
    await frankRow.getByTestId('remove-member').click();
    await confirm.getByTestId('confirm-remove-member').click();
    await frankRow.waitFor({ state: 'detached' });
    await statusIs(dave.page, '3 members');
    await dave.page.getByTestId('system-line-text').getByText('Carol Danvers removed Frank Castle').waitFor();
    await carol.page.getByTestId('system-line-text').getByText('You removed Frank Castle').waitFor();

    // Dave is not the creator: no rename field, no add or remove controls.
    await dave.page.getByTestId('open-members').click();
    const daveMembers = dave.page.getByTestId('members-dialog');
    await daveMembers.locator('[data-testid="member-item"]').nth(2).waitFor();
    assert.equal(await daveMembers.locator('[data-testid="member-item"]').count(), 3);
    assert.equal(await daveMembers.getByTestId('rename-form').count(), 0, 'no rename control for a member');
    assert.equal(await daveMembers.getByTestId('add-members').count(), 0);
    assert.equal(await daveMembers.getByTestId('remove-member').count(), 0);

    // Carol renames the group; Dave's dialog, header and sidebar follow live.
    const rename = carolMembers.getByTestId('rename-form');
    await rename.getByTestId('rename-input').fill('Reading circle');
    await rename.getByTestId('rename-group').click();
    await daveMembers.getByRole('heading', { name: 'Members of Reading circle' }).waitFor();
    await dave.page.keyboard.press('Escape');
    await daveMembers.waitFor({ state: 'detached' });
    await dave.page.getByTestId('conversation-title').getByText('Reading circle', { exact: true }).waitFor();
    await roomItem(dave.page, 'Reading circle').waitFor();
    assert.equal(await roomItem(dave.page, 'Book club').count(), 0, 'the old name is gone from the sidebar');
    await dave.page.getByTestId('system-line-text').getByText('Carol Danvers renamed the group to “Reading circle”').waitFor();
    await carol.page.keyboard.press('Escape');
    await carolMembers.waitFor({ state: 'detached' });
    await carol.page.getByTestId('conversation-title').getByText('Reading circle', { exact: true }).waitFor();
    // A member who tries anyway (over REST) is refused by the server.
    const daveRest = new RestClient(server.url);
    await daveRest.login('dave');
    await assert.rejects(daveRest.call('PATCH', `/groups/${group.id}`, { name: 'Mine now' }), /403/);

    // The lines sit between the messages, in the order things happened.
    await sendViaUi(carol.page, 'Welcome Gina!');
    await messages(dave.page, 'Welcome Gina!').waitFor();
    assert.deepEqual(await timeline(dave.page), [
      'm:First chapter by Friday',
      'n:Carol Danvers added Gina Linetti',
      'n:Erin Brockovich left',
      'n:Carol Danvers removed Frank Castle',
      'n:Carol Danvers renamed the group to “Reading circle”',
      'm:Welcome Gina!',
    ]);
    // Carol's own lines speak of "you".
    assert.deepEqual(await systemLines(carol.page), [
      'You added Gina Linetti',
      'Erin Brockovich left',
      'You removed Frank Castle',
      'You renamed the group to “Reading circle”',
    ]);
    // The sender's name shows again after a system line.
    assert.equal(await messages(dave.page, 'Welcome Gina!').getByTestId('message-sender').textContent(), 'Carol Danvers');
    await screenshot(dave.page, 'group-live.png');
    // The lines are the server's (GET /rooms/{id}/notices): a reload shows the same timeline.
    const before = await timeline(dave.page);
    await dave.page.reload();
    await messages(dave.page, 'Welcome Gina!').waitFor();
    await waitUntil(async () => (await systemLines(dave.page)).length === 4, { what: 'the system lines after a reload' });
    assert.deepEqual(await timeline(dave.page), before);
    carol.assertClean();
    dave.assertClean();
  });

  test('the creator deletes their account: the heir gets the controls at once, the DM is read-only as "Deleted User"', { timeout: 180000 }, async () => {
    const idaRest = await rest('ida', 'Ida Wells');
    await rest('jon', 'Jon Snow');
    await rest('kay', 'Kay Thompson');
    const jonId = await idaRest.userId('jon');
    const kayId = await idaRest.userId('kay');
    // Jon joins first, so he is the longest-standing member: the group goes to him.
    const group = await idaRest.createGroup('Chess club', [jonId]);
    await idaRest.call('POST', `/groups/${group.id}/members`, { user_ids: [kayId] });
    await idaRest.sendGroup(group.id, 'Board at seven');
    await idaRest.sendDirect(jonId, 'Bring the clock?');

    // Ida is online (her own browser); Jon has two devices: the group on one, the DM on the other.
    const ida = await newPerson();
    const jonGroup = await newPerson();
    const jonDm = await newPerson();
    await loginViaUi(ida.page, 'ida');
    await loginViaUi(jonGroup.page, 'jon');
    await loginViaUi(jonDm.page, 'jon');
    await roomItem(jonGroup.page, 'Chess club').click();
    await messages(jonGroup.page, 'Board at seven').waitFor();
    await statusIs(jonGroup.page, '3 members');
    // What happened before Jon looked is there too: the server keeps the group's notices.
    await waitUntil(async () => (await systemLines(jonGroup.page)).length === 1, { what: 'the earlier notice' });
    assert.deepEqual(await systemLines(jonGroup.page), ['Ida Wells added Kay Thompson']);
    await roomItem(jonDm.page, 'Ida Wells').click();
    await messages(jonDm.page, 'Bring the clock?').waitFor();
    await statusIs(jonDm.page, 'Online');

    await jonGroup.page.getByTestId('open-members').click();
    const dialog = jonGroup.page.getByTestId('members-dialog');
    await dialog.locator('[data-testid="member-item"]').nth(2).waitFor();
    assert.equal(await dialog.getByTestId('remove-member').count(), 0, 'not the owner yet');
    assert.equal(await dialog.getByTestId('rename-form').count(), 0);

    // Ida deletes her account.
    await ida.page.getByTestId('open-settings').click();
    await ida.page.getByTestId('delete-password').fill('correct-horse-9');
    await ida.page.getByTestId('delete-account').click();
    await ida.page.getByTestId('auth-notice').getByText(/deleted/).waitFor();

    // Jon's open members dialog: Ida gone, Jon the creator, with the owner's controls.
    await waitUntil(async () => (await dialog.locator('[data-testid="member-item"]').count()) === 2, { what: 'two members left' });
    await dialog.getByTestId('rename-form').waitFor();
    await dialog.getByTestId('add-members').waitFor();
    await dialog.locator('[data-testid="member-item"][data-username="kay"]').getByTestId('remove-member').waitFor();
    assert.match(await dialog.locator('[data-testid="member-item"][data-username="jon"]').textContent(), /creator/);
    assert.equal(await dialog.locator('[data-testid="member-item"][data-username="ida"]').count(), 0);
    await screenshot(jonGroup.page, 'members-new-owner.png');
    await jonGroup.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await statusIs(jonGroup.page, '2 members');
    // A deleted account is "Deleted User" in its lines too, as everywhere.
    assert.deepEqual(await systemLines(jonGroup.page), [
      'Deleted User added Kay Thompson',
      'Deleted User left (account deleted)',
      'You are now the owner of this group',
    ]);
    // Her old message is from "Deleted User" now, as the server says after a reload.
    await waitUntil(async () => (await messages(jonGroup.page, 'Board at seven').getByTestId('message-sender').textContent()) === 'Deleted User', {
      what: 'the sender shown as Deleted User',
    });

    // The DM on Jon's other device: "Deleted User" in the header and the sidebar, offline, and
    // the composer replaced by an explanation.
    const checkDeletedDm = async (page) => {
      await page.getByTestId('conversation-title').getByText('Deleted User', { exact: true }).waitFor();
      await statusIs(page, 'This account was deleted');
      await page.getByTestId('read-only').getByText('This account was deleted. You can read the conversation but not reply.').waitFor();
      assert.equal(await page.getByTestId('composer').isVisible(), false, 'no composer');
      await roomItem(page, 'Deleted User').waitFor();
      assert.equal(await roomItem(page, 'Ida Wells').count(), 0);
      assert.equal(await page.getByTestId('room-list').getByText('Unknown').count(), 0, 'never "Unknown"');
      await messages(page, 'Bring the clock?').waitFor(); // still readable
    };
    await checkDeletedDm(jonDm.page);
    await jonDm.page.reload();
    await messages(jonDm.page, 'Bring the clock?').waitFor();
    await checkDeletedDm(jonDm.page);
    await screenshot(jonDm.page, 'dm-deleted-account.png');

    // The heir's controls work: he renames the group, and Kay's view (over REST) has it.
    await jonGroup.page.getByTestId('open-members').click();
    await dialog.getByTestId('rename-input').fill('Chess and tea');
    await dialog.getByTestId('rename-group').click();
    await jonGroup.page.getByTestId('conversation-title').getByText('Chess and tea', { exact: true }).waitFor();
    const kay = new RestClient(server.url);
    await kay.login('kay');
    await waitUntil(async () => (await kay.rooms()).some((r) => r.room_id === group.id && r.name === 'Chess and tea' && r.created_by === jonId), {
      what: 'the server has the new name and owner',
    });
    await jonGroup.page.keyboard.press('Escape');
    // After a reload too, Jon is the owner.
    await jonGroup.page.reload();
    await statusIs(jonGroup.page, '2 members');
    await jonGroup.page.getByTestId('open-members').click();
    await dialog.getByTestId('rename-form').waitFor();
    await waitUntil(async () => (await systemLines(jonGroup.page)).length === 4, { what: 'the system lines after a reload' });
    assert.deepEqual(await systemLines(jonGroup.page), [
      'Deleted User added Kay Thompson',
      'Deleted User left (account deleted)',
      'You are now the owner of this group',
      'You renamed the group to “Chess and tea”',
    ]);
    for (const p of [ida, jonGroup, jonDm]) p.assertClean();
  });

  test('a change by someone this client has never met names them — never "Someone" or "Deleted User"', { timeout: 120000 }, async () => {
    const lena = await rest('lena', 'Lena Headey');
    await rest('milo', 'Milo Ventimiglia');
    await rest('nora', 'Nora Ephron');
    const miloId = await lena.userId('milo');
    const noraId = await lena.userId('nora');
    const group = await lena.createGroup('Night owls', [miloId]);
    const milo = await newPerson();
    await loginViaUi(milo.page, 'milo');
    const item = roomItem(milo.page, 'Night owls');
    await item.waitFor();
    // Milo has not opened the group: Lena is known to his client by id only. She adds Nora,
    // then writes (the message comes after the change: once it shows, the change arrived).
    await lena.call('POST', `/groups/${group.id}/members`, { user_ids: [noraId] });
    await lena.sendGroup(group.id, 'Welcome, Nora');
    await item.getByText(/Welcome, Nora/).waitFor();
    await item.click();
    const line = milo.page.getByTestId('system-line-text').getByText(/added Nora Ephron$/);
    await line.waitFor();
    // The server names the actor in the notice.
    assert.equal(await line.textContent(), 'Lena Headey added Nora Ephron');
    milo.assertClean();
  });

  test('frames that cross on the way never take a group back in time', { timeout: 120000 }, async () => {
    const rosa = await rest('rosa', 'Rosa Parks');
    await rest('sam', 'Sam Vimes');
    const tom = await rest('tom', 'Tom Bombadil');
    await rest('uma', 'Uma Thurman');
    const samId = await rosa.userId('sam');
    const tomId = await rosa.userId('tom');
    const umaId = await rosa.userId('uma');
    const group = await rosa.createGroup('Crossed', [samId, tomId]);
    const sam = await newPerson();
    // Sam's socket passes everything through, except that it holds back the first
    // `members_added` until told, as a slow node might.
    let holding = true;
    let held = null;
    let release = null;
    await sam.page.routeWebSocket(
      (url) => url.pathname === '/ws',
      (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((m) => server.send(m));
        server.onMessage((m) => {
          const f = JSON.parse(String(m));
          if (holding && f.type === 'room_changed' && f.change === 'members_added') {
            holding = false;
            held = f;
            release = () => ws.send(m);
            return;
          }
          ws.send(m);
        });
      },
    );
    await loginViaUi(sam.page, 'sam');
    await roomItem(sam.page, 'Crossed').click();
    await statusIs(sam.page, '3 members');

    await rosa.call('POST', `/groups/${group.id}/members`, { user_ids: [umaId] }); // 4 members: held
    await rosa.call('DELETE', `/groups/${group.id}/members`, { user_id: umaId }); // 3 again
    await tom.call('DELETE', `/groups/${group.id}/members`, { user_id: tomId }); // 2
    await sam.page.getByTestId('system-line-text').getByText('Tom Bombadil left').waitFor();
    await waitUntil(() => held !== null, { what: 'the first frame held' });
    assert.equal(held.member_count, 4);
    release();
    await sam.page.getByTestId('system-line-text').getByText('Rosa Parks added Uma Thurman').waitFor();
    // The late frame's line takes its place; its older state does not come back: not the count,
    // nor Uma among the members (whom "@" offers).
    assert.deepEqual(await systemLines(sam.page), ['Rosa Parks added Uma Thurman', 'Rosa Parks removed Uma Thurman', 'Tom Bombadil left']);
    await statusIs(sam.page, '2 members');
    const input = sam.page.getByTestId('composer-input');
    const options = sam.page.getByTestId('mention-option');
    await input.pressSequentially('Hi @');
    await sam.page.getByTestId('mention-list').waitFor();
    await waitUntil(async () => (await options.evaluateAll((els) => els.map((e) => e.dataset.username))).join() === 'rosa', {
      what: 'only Rosa offered',
    });
    await input.press('Escape');
    await sam.page.getByTestId('open-members').click();
    const dialog = sam.page.getByTestId('members-dialog');
    await waitUntil(async () => (await dialog.locator('[data-testid="member-item"]').count()) === 2, { what: 'two members listed' });
    assert.equal(await dialog.locator('[data-testid="member-item"][data-username="uma"]').count(), 0);
    assert.equal(await dialog.locator('[data-testid="member-item"][data-username="tom"]').count(), 0);
    await statusIs(sam.page, '2 members');
    sam.assertClean();
  });

  test('older system lines come with older history: hidden until their place is loaded, paged in from the server', { timeout: 180000 }, async () => {
    const ola = await rest('ola', 'Ola Nordmann');
    await rest('pat', 'Pat Smith');
    await rest('quinn', 'Quinn Fabray');
    const patId = await ola.userId('pat');
    const quinnId = await ola.userId('quinn');
    const group = await ola.createGroup('Archive', [patId]);
    // 110 notices before the first message (more than one page of them), 60 messages, and one
    // more notice after them.
    for (let i = 0; i < 55; i++) {
      await ola.call('POST', `/groups/${group.id}/members`, { user_ids: [quinnId] });
      await ola.call('DELETE', `/groups/${group.id}/members`, { user_id: quinnId });
    }
    for (let i = 1; i <= 60; i++) await ola.sendGroup(group.id, `Old ${i}`);
    await ola.call('POST', `/groups/${group.id}/members`, { user_ids: [quinnId] });

    const pat = await newPerson();
    const noticeRequests = [];
    pat.page.on('request', (r) => {
      if (new URL(r.url()).pathname === `/rooms/${group.id}/notices`) noticeRequests.push(new URL(r.url()).search);
    });
    await loginViaUi(pat.page, 'pat');
    await roomItem(pat.page, 'Archive').click();
    await messages(pat.page, 'Old 60').waitFor();
    // The newest page of history (Old 11–60): of the lines, only the one after it has its place.
    await waitUntil(async () => (await systemLines(pat.page)).length === 1, { what: 'the newest line' });
    assert.deepEqual(await systemLines(pat.page), ['Ola Nordmann added Quinn Fabray']);
    assert.equal((await timeline(pat.page)).at(-1), 'n:Ola Nordmann added Quinn Fabray');

    // The rest of the history: the 110 older lines come before Old 1, the older ones paged in.
    await pat.page.getByTestId('message-list').focus();
    await pat.page.keyboard.press('Home');
    await messages(pat.page, 'Old 1').waitFor();
    await waitUntil(async () => (await systemLines(pat.page)).length === 111, { what: 'every line', timeout: 20000 });
    const lines = await timeline(pat.page);
    assert.equal(lines.indexOf('m:Old 1'), 110, 'the 110 lines first, then the messages');
    assert.deepEqual(lines.slice(0, 4), [
      'n:Ola Nordmann added Quinn Fabray',
      'n:Ola Nordmann removed Quinn Fabray',
      'n:Ola Nordmann added Quinn Fabray',
      'n:Ola Nordmann removed Quinn Fabray',
    ]);
    assert.equal(lines.filter((l) => l.startsWith('m:')).length, 60);
    assert.equal(noticeRequests.length, 2, `two pages of notices: ${noticeRequests}`);
    assert.match(noticeRequests[1], /before=\d+/);
    pat.assertClean();
  });
});
