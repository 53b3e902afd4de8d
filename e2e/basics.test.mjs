// basics.test.mjs — what people expect of a chat without thinking about it, end to end: the name
// they choose in their profile (settings) is what others see, live — the DM's header, the
// sidebar, the typing indicator ("Ada Lovelace is typing…"); web addresses in messages are
// links that open in a new tab without handing over this page (rel="noopener noreferrer"),
// and only http(s) ones: `javascript:` and other schemes stay text. Two people, each in their
// own browser context. Screenshots go to docs/screenshots/.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtures } from './lib/fixtures.mjs';
import { waitUntil, messages, roomItem, loginViaUi, sendViaUi, screenshot } from './lib/browser.mjs';

const { server, newPerson, rest, hooks } = fixtures();

describe('basics', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('a name changed in the settings shows to others live: header, sidebar, typing', { timeout: 180000 }, async () => {
    const adaRest = await rest('ada'); // no full name yet: others see the username
    await rest('ben', 'Ben Franklin');
    const benId = await adaRest.userId('ben');
    await adaRest.sendDirect(benId, 'Hello Ben');

    const ada = await newPerson();
    const ben = await newPerson();
    await loginViaUi(ada.page, 'ada');
    await loginViaUi(ben.page, 'ben');
    await roomItem(ada.page, 'Ben Franklin').click();
    await messages(ada.page, 'Hello Ben').waitFor();
    await roomItem(ben.page, 'ada').click();
    await messages(ben.page, 'Hello Ben').waitFor();
    await ben.page.getByTestId('conversation-title').getByText('ada', { exact: true }).waitFor();
    for (const p of [ada, ben]) await p.page.getByTestId('connection-status').waitFor({ state: 'hidden' });

    // Typing shows the name Ben knows her by (her username, for now).
    const input = ada.page.getByTestId('composer-input');
    const indicator = ben.page.getByTestId('typing-indicator');
    await input.pressSequentially('Hi', { delay: 20 });
    await indicator.getByText('ada is typing…').waitFor();
    await input.fill('');

    // Ada sets her full name in the settings.
    await ada.page.getByTestId('open-settings').click();
    const settings = ada.page.getByTestId('settings-dialog');
    const name = settings.getByTestId('profile-full-name');
    assert.equal(await name.inputValue(), '');
    await name.fill('Ada Lovelace');
    await settings.getByTestId('save-profile').click();
    await settings.getByTestId('account-name').getByText('Ada Lovelace', { exact: true }).waitFor();
    await ada.page.getByTestId('me-name').getByText('Ada Lovelace', { exact: true }).waitFor();
    await screenshot(ada.page, 'settings-profile.png');

    // Ben's open DM and his sidebar change at once, without a reload.
    await ben.page.getByTestId('conversation-title').getByText('Ada Lovelace', { exact: true }).waitFor();
    await roomItem(ben.page, 'Ada Lovelace').waitFor();
    await ada.page.keyboard.press('Escape');
    await settings.waitFor({ state: 'detached' });

    // The typing indicator uses the full name; her message arrives and clears it. (The server
    // relays one typing start per 2 s: wait for the last one to end before starting again.)
    await waitUntil(async () => (await indicator.textContent()) === '', { what: 'the earlier typing to end', timeout: 10000 });
    await input.pressSequentially('Call me Ada', { delay: 30 });
    await indicator.getByText('Ada Lovelace is typing…').waitFor();
    await input.press('Enter');
    await messages(ben.page, 'Call me Ada').waitFor();
    await waitUntil(async () => (await indicator.textContent()) === '', { what: 'the indicator cleared by the message' });

    // The server has it, and a reload keeps it on both sides.
    assert.equal((await adaRest.call('GET', '/auth/me')).full_name, 'Ada Lovelace');
    await ben.page.reload();
    await ben.page.getByTestId('conversation-title').getByText('Ada Lovelace', { exact: true }).waitFor();
    await ada.page.reload();
    await ada.page.getByTestId('me-name').getByText('Ada Lovelace', { exact: true }).waitFor();

    // Clearing it brings the username back, there and here.
    await ada.page.getByTestId('open-settings').click();
    assert.equal(await name.inputValue(), 'Ada Lovelace');
    await name.fill('');
    await settings.getByTestId('save-profile').click();
    await settings.getByTestId('account-name').getByText('ada', { exact: true }).waitFor();
    await ben.page.getByTestId('conversation-title').getByText('ada', { exact: true }).waitFor();
    ada.assertClean();
    ben.assertClean();
  });

  test('web addresses are links (http and https only) that open in a new tab without a referrer or opener', { timeout: 180000 }, async () => {
    const cleoRest = await rest('cleo', 'Cleo Patra');
    await rest('dex', 'Dex Ter');
    const dexId = await cleoRest.userId('dex');
    await cleoRest.sendDirect(dexId, 'Hi Dex');
    const cleo = await newPerson();
    const dex = await newPerson();
    await loginViaUi(cleo.page, 'cleo');
    await loginViaUi(dex.page, 'dex');
    await roomItem(cleo.page, 'Dex Ter').click();
    await roomItem(dex.page, 'Cleo Patra').click();
    await messages(dex.page, 'Hi Dex').waitFor();

    const text =
      'Read https://example.com/wiki/Foo_(bar)?a=1&b=2#top, then (http://example.org/x). ' +
      'Not these: javascript:alert(document.domain) data:text/html,<b>x</b> ftp://example.net/f ' +
      'JavaScript://example.com/%0Aalert(1) <a href="https://evil.example/">tag</a>';
    await sendViaUi(cleo.page, text);
    const msg = messages(dex.page, text);
    await msg.waitFor();
    const links = await msg.locator('a').evaluateAll((as) =>
      as.map((a) => ({ href: a.getAttribute('href'), text: a.textContent, target: a.target, rel: a.rel, testid: a.dataset.testid })),
    );
    assert.deepEqual(links, [
      { href: 'https://example.com/wiki/Foo_(bar)?a=1&b=2#top', text: 'https://example.com/wiki/Foo_(bar)?a=1&b=2#top', target: '_blank', rel: 'noopener noreferrer', testid: 'message-link' },
      { href: 'http://example.org/x', text: 'http://example.org/x', target: '_blank', rel: 'noopener noreferrer', testid: 'message-link' },
      // Inside what looks like a tag, the address is still only text made a link: the tag itself stays text.
      { href: 'https://evil.example/', text: 'https://evil.example/', target: '_blank', rel: 'noopener noreferrer', testid: 'message-link' },
    ]);
    // The whole text reads as written, and nothing else became markup.
    assert.equal(await msg.getByTestId('message-content').textContent(), text);
    assert.equal(await msg.locator('b').count(), 0);
    for (const side of [cleo, dex]) {
      const bad = await side.page.locator('a[href]').evaluateAll((as) => as.filter((a) => !/^(https?:|#|\/)/i.test(a.getAttribute('href'))).length);
      assert.equal(bad, 0, 'no link with another scheme anywhere');
    }

    // A message that is only a `javascript:` address: no link at all.
    await sendViaUi(cleo.page, 'javascript:alert(1)');
    await messages(dex.page, 'javascript:alert(1)').waitFor();
    assert.equal(await messages(dex.page, 'javascript:alert(1)').locator('a').count(), 0);

    // A click opens a new tab, which gets neither a handle on Banter nor its address.
    await dex.context.route('http://example.org/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<title>Example</title>' }));
    const [popup] = await Promise.all([dex.context.waitForEvent('page'), msg.getByRole('link', { name: 'http://example.org/x' }).click()]);
    await popup.waitForLoadState('domcontentloaded');
    assert.equal(popup.url(), 'http://example.org/x');
    assert.deepEqual(await popup.evaluate(() => ({ opener: window.opener, referrer: document.referrer })), { opener: null, referrer: '' });
    await popup.close();
    // Banter stayed where it was.
    await dex.page.getByTestId('conversation-title').getByText('Cleo Patra').waitFor();
    cleo.assertClean();
    dex.assertClean();
  });
});
