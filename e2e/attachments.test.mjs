// attachments.test.mjs — files in messages, end to end: the attach button (the real file
// chooser), drag-and-drop onto the conversation and pasted images each upload at once into the
// composer's tray (progress, × to remove, the server's reason when one is refused: the server
// runs with a 200 000-byte limit here); a message sent with them, with text or without; the
// other person sees image previews live (the space kept before the thumbnail arrives) and opens
// them full size, and downloads other files byte for byte; file names never become markup; at
// most 10 files a message; a deleted message keeps none; a send that failed keeps its files for
// Retry. Each person in their own browser context. Screenshots go to docs/screenshots/.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { fixtures } from './lib/fixtures.mjs';
import { waitUntil, messages, roomItem, loginViaUi, screenshot, assertNoOverflow } from './lib/browser.mjs';

const LIMIT = 200000;
const { server, newPerson, rest, hooks } = fixtures({ MAX_UPLOAD_BYTES: String(LIMIT) });

const PHONE = { viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true };

/** A PNG of width×height drawn on a canvas in the page (a sky, a sun, the sea). */
async function makePng(page, width, height, hue = 20) {
  const b64 = await page.evaluate(
    async ({ width, height, hue }) => {
      const c = document.createElement('canvas');
      c.width = width;
      c.height = height;
      const g = c.getContext('2d');
      const sky = g.createLinearGradient(0, 0, 0, height);
      sky.addColorStop(0, `hsl(${hue + 220} 60% 30%)`);
      sky.addColorStop(0.62, `hsl(${hue} 90% 66%)`);
      g.fillStyle = sky;
      g.fillRect(0, 0, width, height);
      g.fillStyle = `hsl(${hue + 35} 100% 78%)`;
      g.beginPath();
      g.arc(width * 0.5, height * 0.62, Math.min(width, height) * 0.16, 0, Math.PI * 2);
      g.fill();
      g.fillStyle = `hsl(${hue + 210} 55% 24%)`;
      g.fillRect(0, height * 0.64, width, height * 0.36);
      const blob = await new Promise((resolve) => c.toBlob(resolve, 'image/png'));
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let s = '';
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(s);
    },
    { width, height, hue },
  );
  const png = Buffer.from(b64, 'base64');
  assert.ok(png.length < LIMIT, `the test image fits the upload limit (${png.length} bytes)`);
  return png;
}

/** Pick files through the composer's attach button (the browser's real file chooser); with
 *  `keyboard`, reached by Tab from the text box and pressed with Enter. */
async function attachWithButton(page, files, { keyboard = false } = {}) {
  const chooser = page.waitForEvent('filechooser');
  if (keyboard) {
    await page.getByTestId('composer-input').focus();
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'attach-button', 'Tab from the text box reaches the attach button');
    await page.keyboard.press('Enter');
  } else {
    await page.getByRole('button', { name: 'Attach files' }).click();
  }
  const fc = await chooser;
  assert.ok(fc.isMultiple(), 'several files can be picked at once');
  await fc.setFiles(files);
}

/** The composer's upload chip for a file name, in a state ('uploading', 'done', 'error'). */
function upload(page, name, state) {
  const chip = page.locator('[data-testid="upload"]').filter({ has: page.getByTestId('upload-name').getByText(name, { exact: true }) });
  return state ? chip.and(page.locator(`[data-state="${state}"]`)) : chip;
}

/** Natural size of an <img> (what was loaded, not how it is shown). */
function naturalSize(img) {
  return img.evaluate((el) => [el.naturalWidth, el.naturalHeight]);
}

async function focused(page) {
  return page.evaluate(() => document.activeElement?.dataset?.testid || document.activeElement?.tagName);
}

/** Dispatch drag events carrying files (a DataTransfer made in the page) at the conversation. */
async function dragFiles(page, files, events) {
  await page.evaluate(
    ({ files, events }) => {
      if (!window.__dragData) {
        const dt = new DataTransfer();
        for (const f of files) {
          const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
          dt.items.add(new File([bytes], f.name, { type: f.type }));
        }
        window.__dragData = dt;
      }
      const pane = document.querySelector('[data-testid="conversation"]');
      const target = pane.querySelector('[data-testid="message-list"]');
      for (const type of events) {
        target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: window.__dragData }));
      }
      if (events.includes('drop')) delete window.__dragData;
    },
    { files: files.map((f) => ({ name: f.name, type: f.mimeType, b64: f.buffer.toString('base64') })), events },
  );
}

describe('attachments in the web client', { timeout: 10 * 60 * 1000 }, () => {
  hooks();

  test('an image attached with the button: progress, send, a live preview on the other side, full size in a lightbox', { timeout: 180000 }, async () => {
    const adaRest = await rest('ada', 'Ada Lovelace');
    await rest('bob', 'Bob Ross');
    const bobId = await adaRest.userId('bob');
    await adaRest.sendDirect(bobId, 'I painted the pier last night');
    const ada = await newPerson();
    const bob = await newPerson();
    await loginViaUi(ada.page, 'ada');
    await loginViaUi(bob.page, 'bob');
    await roomItem(ada.page, 'Bob Ross').click();
    await roomItem(bob.page, 'Ada Lovelace').click();
    await messages(ada.page, 'I painted the pier last night').waitFor();
    await messages(bob.page, 'I painted the pier last night').waitFor();
    const png = await makePng(ada.page, 640, 400);

    // The upload is held on its way to the server, so its in-between state can be seen.
    let release;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    await ada.page.route('**/attachments', async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      await held;
      return route.continue();
    });
    await attachWithButton(ada.page, { name: 'sunset.png', mimeType: 'image/png', buffer: png });
    const chip = upload(ada.page, 'sunset.png');
    await upload(ada.page, 'sunset.png', 'uploading').waitFor();
    const bar = chip.getByRole('progressbar');
    await bar.waitFor();
    assert.ok(Number(await bar.getAttribute('aria-valuenow')) < 100, 'not finished while held');
    assert.match(await chip.getByTestId('upload-status').textContent(), /^(Uploading… \d+%|Finishing…)$/);
    // Send waits for the upload, and says so.
    await ada.page.getByTestId('send').click();
    const composerError = ada.page.getByTestId('composer-error');
    await composerError.getByText('Wait for the file to finish uploading.').waitFor();
    release();
    await upload(ada.page, 'sunset.png', 'done').waitFor();
    assert.equal(await chip.getAttribute('data-progress'), '100', 'the progress finished');
    assert.match(await chip.getByTestId('upload-status').textContent(), /^\d+(\.\d)? (KB|bytes)$/, 'done: its size');
    await composerError.waitFor({ state: 'hidden' });
    await ada.page.unroute('**/attachments');

    // Bob's thumbnails are held too: the preview's box has the picture's shape before it loads.
    let releaseThumb;
    const thumbHeld = new Promise((resolve) => {
      releaseThumb = resolve;
    });
    await bob.page.route('**/attachments/*/thumbnail', async (route) => {
      await thumbHeld;
      return route.continue();
    });

    const input = ada.page.getByTestId('composer-input');
    await input.fill('Sunset from the pier');
    await input.press('Enter');
    const mine = messages(ada.page, 'Sunset from the pier');
    await mine.and(ada.page.locator('[data-status="sent"]')).waitFor();
    await waitUntil(async () => (await ada.page.getByTestId('upload').count()) === 0, { what: 'the tray emptied by sending' });
    await mine.locator('[data-testid="attachment-preview"][data-state="loaded"]').waitFor();

    const theirs = messages(bob.page, 'Sunset from the pier');
    const preview = theirs.getByTestId('attachment-preview');
    await preview.and(bob.page.locator('[data-state="loading"]')).waitFor();
    const box = await preview.boundingBox();
    assert.ok(Math.abs(box.width - 280) <= 1 && Math.abs(box.height - 175) <= 1, `the space is kept before the thumbnail loads (${box.width}×${box.height})`);
    releaseThumb();
    await preview.and(bob.page.locator('[data-state="loaded"]')).waitFor();
    const after = await preview.boundingBox();
    assert.deepEqual([Math.round(after.width), Math.round(after.height)], [Math.round(box.width), Math.round(box.height)], 'no jump when it loads');
    assert.deepEqual(await naturalSize(preview.locator('img')), [320, 200], 'the preview is the thumbnail');
    assert.equal(await preview.locator('img').getAttribute('alt'), 'sunset.png');
    assert.match(await preview.locator('img').getAttribute('src'), /^blob:/);
    await bob.page.unroute('**/attachments/*/thumbnail');

    // Full size in the lightbox: Escape closes it, focus goes back to the preview.
    await preview.click();
    const lightbox = bob.page.getByTestId('lightbox');
    const full = lightbox.getByTestId('lightbox-image');
    await full.and(bob.page.locator('[data-state="loaded"]')).waitFor();
    assert.deepEqual(await naturalSize(full), [640, 400], 'the full image is the uploaded one');
    assert.equal(await lightbox.getByTestId('lightbox-name').textContent(), 'sunset.png');
    await screenshot(bob.page, 'attachments-lightbox.png');
    await bob.page.keyboard.press('Escape');
    await lightbox.waitFor({ state: 'detached' });
    assert.equal(await focused(bob.page), 'attachment-preview', 'focus is back on the preview');
    // By keyboard, and closed with its button.
    await bob.page.keyboard.press('Enter');
    await full.and(bob.page.locator('[data-state="loaded"]')).waitFor();
    await lightbox.getByTestId('lightbox-close').click();
    await lightbox.waitFor({ state: 'detached' });

    // The full image downloads byte for byte from the lightbox too.
    await preview.click();
    await full.and(bob.page.locator('[data-state="loaded"]')).waitFor();
    const [download] = await Promise.all([bob.page.waitForEvent('download'), lightbox.getByTestId('lightbox-download').click()]);
    assert.equal(download.suggestedFilename(), 'sunset.png');
    assert.ok(fs.readFileSync(await download.path()).equals(png), 'the download is the uploaded image');
    await bob.page.keyboard.press('Escape');
    await lightbox.waitFor({ state: 'detached' });
    ada.assertClean();
    bob.assertClean();
  });

  test('file chips with name and size download byte for byte; a file dropped on the conversation; names stay text; at most 10; deleted keeps none', { timeout: 180000 }, async () => {
    const caraRest = await rest('cara', 'Cara Mia');
    const danRest = await rest('dan', 'Dan Brown');
    const danId = await caraRest.userId('dan');
    const first = await caraRest.sendDirect(danId, 'Sending the papers for Thursday');
    const cara = await newPerson();
    const dan = await newPerson();
    await loginViaUi(cara.page, 'cara');
    await loginViaUi(dan.page, 'dan');
    await roomItem(cara.page, 'Dan Brown').click();
    await roomItem(dan.page, 'Cara Mia').click();
    await messages(dan.page, 'Sending the papers for Thursday').waitFor();
    await messages(cara.page, 'Sending the papers for Thursday').waitFor();
    // An image from Cara over REST, for the picture of a conversation with files.
    const harbour = await makePng(cara.page, 480, 360, 350);
    const pic = await caraRest.upload('harbour.png', harbour, 'image/png');
    assert.deepEqual([pic.content_type, pic.width, pic.height], ['image/png', 480, 360]);
    await caraRest.sendFiles(danId, 'The harbour this morning', [pic.id]);
    await messages(dan.page, 'The harbour this morning').locator('[data-testid="attachment-preview"][data-state="loaded"]').waitFor();

    // Dan drags a text file over the conversation (it lights up) and drops it. Its name has
    // markup in it, which must stay text.
    const notesName = 'minutes <img src=x onerror=alert(1)> final.txt';
    const notes = Buffer.alloc(1234, 'Minutes of the meeting: all agreed. ');
    const dropped = { name: notesName, mimeType: 'text/plain', buffer: notes };
    await dragFiles(dan.page, [dropped], ['dragenter', 'dragover']);
    const overlay = dan.page.getByTestId('drop-overlay');
    await overlay.waitFor({ state: 'visible' });
    await overlay.getByText('Drop files to attach them').waitFor();
    await dragFiles(dan.page, [dropped], ['drop']);
    await overlay.waitFor({ state: 'hidden' });
    await upload(dan.page, notesName, 'done').waitFor();
    // And a binary file (not UTF-8) with the button, by keyboard.
    const binary = crypto.randomBytes(3000);
    binary[0] = 0xff;
    binary[1] = 0x00;
    await attachWithButton(dan.page, { name: 'data.bin', mimeType: 'application/octet-stream', buffer: binary }, { keyboard: true });
    await upload(dan.page, 'data.bin', 'done').waitFor();
    const danInput = dan.page.getByTestId('composer-input');
    await danInput.fill('Notes and data attached');
    await danInput.press('Enter');
    await messages(dan.page, 'Notes and data attached').and(dan.page.locator('[data-status="sent"]')).waitFor();

    // Cara sees both chips: name, size, and no markup from the name.
    const msg = messages(cara.page, 'Notes and data attached');
    const files = msg.getByTestId('attachment-file');
    await waitUntil(async () => (await files.count()) === 2, { what: 'two file chips' });
    assert.deepEqual(await files.getByTestId('attachment-name').allTextContents(), [notesName, 'data.bin'], 'in the order attached');
    assert.deepEqual(await files.getByTestId('attachment-size').allTextContents(), ['1.2 KB', '2.9 KB']);
    assert.equal(await msg.locator('.file-chip img').count(), 0, 'the name made no element');
    assert.equal(await msg.getByTestId('attachment-preview').count(), 0, 'files are not previews');
    for (const [name, bytes] of [
      [notesName, notes],
      ['data.bin', binary],
    ]) {
      const chip = files.filter({ has: cara.page.getByTestId('attachment-name').getByText(name, { exact: true }) });
      const [download] = await Promise.all([cara.page.waitForEvent('download'), chip.getByRole('button', { name: `Download ${name}` }).click()]);
      assert.ok(fs.readFileSync(await download.path()).equals(bytes), `${name} downloads byte for byte`);
    }
    assert.equal(await cara.page.locator('img[src="x"]').count(), 0, 'no markup from a file name anywhere');

    // The picture for the docs: a conversation with an image and files, an upload ready to go.
    await attachWithButton(dan.page, { name: 'harbour-2.png', mimeType: 'image/png', buffer: harbour });
    await upload(dan.page, 'harbour-2.png', 'done').waitFor();
    await messages(dan.page, 'Notes and data attached').scrollIntoViewIfNeeded();
    await screenshot(dan.page, 'attachments.png');
    // × takes an upload out of the tray.
    await upload(dan.page, 'harbour-2.png').getByRole('button', { name: 'Remove harbour-2.png' }).click();
    await upload(dan.page, 'harbour-2.png').waitFor({ state: 'detached' });

    // At most 10 files a message: the 11th is refused with a reason; 10 go in one message.
    const eleven = Array.from({ length: 11 }, (_, i) => ({ name: `part-${i + 1}.txt`, mimeType: 'text/plain', buffer: Buffer.from(`part ${i + 1}\n`) }));
    await attachWithButton(cara.page, eleven);
    await cara.page.getByTestId('composer-error').getByText('At most 10 files can be sent in one message.').waitFor();
    await waitUntil(async () => (await cara.page.locator('[data-testid="upload"][data-state="done"]').count()) === 10, { what: '10 uploads done' });
    assert.equal(await upload(cara.page, 'part-11.txt').count(), 0);
    const caraInput = cara.page.getByTestId('composer-input');
    await caraInput.fill('Ten parts');
    await caraInput.press('Enter');
    const ten = messages(dan.page, 'Ten parts');
    await waitUntil(async () => (await ten.getByTestId('attachment-file').count()) === 10, { what: 'ten chips on the other side' });


    // Deleted: the tombstone shows no files.
    const tenId = Number(await ten.getAttribute('data-message-id'));
    await caraRest.deleteMessage(tenId);
    const gone = dan.page.locator(`[data-testid="message"][data-message-id="${tenId}"]`);
    await gone.getByTestId('message-deleted').waitFor();
    assert.equal(await gone.getByTestId('attachment-file').count(), 0, 'a deleted message shows no files');
    const history = await danRest.roomMessages(first.room_id);
    assert.deepEqual(history.find((m) => m.id === tenId).attachments, []);
    cara.assertClean();
    dan.assertClean();
  });

  test('on a phone in dark mode: a pasted image sent without text, a file over the limit refused on its chip, the lightbox fits', { timeout: 180000 }, async () => {
    const eveRest = await rest('eve', 'Eve Online');
    const finnRest = await rest('finn', 'Finn Mertens');
    const finnId = await eveRest.userId('finn');
    const hello = await eveRest.sendDirect(finnId, 'Morning! Look at this');
    const eve = await newPerson(PHONE);
    const finn = await newPerson();
    await loginViaUi(eve.page, 'eve');
    await loginViaUi(finn.page, 'finn');
    await roomItem(eve.page, 'Finn Mertens').click();
    await roomItem(finn.page, 'Eve Online').click();
    await messages(eve.page, 'Morning! Look at this').waitFor();
    await messages(finn.page, 'Morning! Look at this').waitFor();
    const png = await makePng(eve.page, 300, 480, 330);

    // Paste: a clipboard holding an image file, into the composer.
    const input = eve.page.getByTestId('composer-input');
    await input.evaluate((el, b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'image.png', { type: 'image/png' }));
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, png.toString('base64'));
    const pasted = eve.page.locator('[data-testid="upload"][data-state="done"]');
    await pasted.waitFor();
    const pastedName = await pasted.getByTestId('upload-name').textContent();
    assert.match(pastedName, /^Pasted image \d{4}-\d\d-\d\d \d\d\.\d\d\.\d\d\.png$/);
    assert.equal(await input.inputValue(), '', 'nothing pasted as text');
    assert.match(await pasted.locator('.upload-thumb img').getAttribute('src'), /^blob:/, 'the chip shows the picture');

    // Sent with no text: a bubble with the image and no empty line of text.
    await eve.page.getByTestId('send').tap();
    const last = eve.page.locator('[data-testid="message"]').last();
    await last.and(eve.page.locator('[data-status="sent"]')).waitFor();
    await last.locator('[data-testid="attachment-preview"][data-state="loaded"]').waitFor();
    assert.equal(await last.getByTestId('message-content').count(), 0, 'no text line in the bubble');
    const theirs = finn.page.locator('[data-testid="message"]').last();
    await theirs.locator('[data-testid="attachment-preview"][data-state="loaded"]').waitFor();
    assert.equal(await theirs.getByTestId('message-content').count(), 0);
    const stored = (await finnRest.roomMessages(hello.room_id)).at(-1);
    assert.equal(stored.content, '');
    assert.deepEqual(
      stored.attachments.map((a) => [a.filename, a.content_type, a.width, a.height, a.size]),
      [[pastedName, 'image/png', 300, 480, png.length]],
    );
    // The sidebar says what the message carries.
    await roomItem(finn.page, 'Eve Online').getByText(`📎 ${pastedName}`).waitFor();

    // Over the limit: the chip says why (the server's words), and × takes it away.
    const big = crypto.randomBytes(LIMIT + 50000);
    await attachWithButton(eve.page, { name: 'holiday-video.bin', mimeType: 'application/octet-stream', buffer: big });
    const refused = upload(eve.page, 'holiday-video.bin', 'error');
    await refused.waitFor();
    assert.equal(await refused.getByTestId('upload-status').textContent(), `File too large: the limit is ${LIMIT} bytes.`);
    await assertNoOverflow(eve.page, 'a conversation with an image and a refused upload');
    const composer = await eve.page.getByTestId('composer').boundingBox();
    assert.ok(composer.y + composer.height <= 844 + 1, 'the composer with its tray fits');
    await screenshot(eve.page, 'attachments-mobile-dark.png');
    await refused.getByRole('button', { name: 'Remove holiday-video.bin' }).tap();
    await refused.waitFor({ state: 'detached' });

    // The lightbox fills the phone's screen, the picture inside it.
    await last.getByTestId('attachment-preview').tap();
    const full = eve.page.getByTestId('lightbox-image');
    await full.and(eve.page.locator('[data-state="loaded"]')).waitFor();
    assert.deepEqual(await naturalSize(full), [300, 480]);
    const shown = await full.boundingBox();
    assert.ok(shown.x >= 0 && shown.y >= 0 && shown.x + shown.width <= 390 && shown.y + shown.height <= 844, 'the picture is on screen');
    await eve.page.getByTestId('lightbox-close').tap();
    await eve.page.getByTestId('lightbox').waitFor({ state: 'detached' });
    await assertNoOverflow(eve.page, 'after the lightbox');
    eve.assertClean();
    finn.assertClean();
  });

  test('a send that failed keeps its files: Retry sends them', { timeout: 120000 }, async () => {
    const gusRest = await rest('gus', 'Gus Grissom');
    const halRest = await rest('hal', 'Hal Jordan');
    const halId = await gusRest.userId('hal');
    const hi = await gusRest.sendDirect(halId, 'Report coming');
    const gus = await newPerson();
    const hal = await newPerson();
    // Gus has no socket (every connection is turned away), so sending goes over REST, and the
    // first POST /messages/send fails on the way.
    await gus.page.routeWebSocket(
      (url) => url.pathname === '/ws',
      (ws) => {
        ws.close({ code: 1001, reason: 'going away' }).catch(() => {});
      },
    );
    let failing = true;
    await gus.page.route('**/messages/send', (route) => (failing ? route.abort('failed') : route.fallback()));
    await loginViaUi(gus.page, 'gus');
    await loginViaUi(hal.page, 'hal');
    await roomItem(gus.page, 'Hal Jordan').click();
    await roomItem(hal.page, 'Gus Grissom').click();
    await messages(gus.page, 'Report coming').waitFor();
    await messages(hal.page, 'Report coming').waitFor();

    const pdf = Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
    await attachWithButton(gus.page, { name: 'report.pdf', mimeType: 'application/pdf', buffer: pdf });
    await upload(gus.page, 'report.pdf', 'done').waitFor();
    const input = gus.page.getByTestId('composer-input');
    await input.fill('Quarterly report');
    await input.press('Enter');
    const failed = messages(gus.page, 'Quarterly report').and(gus.page.locator('[data-status="failed"]'));
    await failed.waitFor();
    assert.equal(await failed.getByTestId('attachment-name').textContent(), 'report.pdf', 'the failed message shows its file');
    assert.equal(await gus.page.getByTestId('upload').count(), 0, 'the tray is empty: the file went with the message');

    failing = false;
    await failed.getByTestId('retry').click();
    await messages(gus.page, 'Quarterly report').and(gus.page.locator('[data-status="sent"]')).waitFor();
    const chip = messages(hal.page, 'Quarterly report').getByTestId('attachment-file');
    await chip.getByTestId('attachment-name').getByText('report.pdf', { exact: true }).waitFor();
    const stored = (await halRest.roomMessages(hi.room_id)).filter((m) => m.content === 'Quarterly report');
    assert.equal(stored.length, 1, 'stored once');
    assert.deepEqual(
      stored[0].attachments.map((a) => [a.filename, a.content_type, a.size]),
      [['report.pdf', 'application/pdf', pdf.length]],
    );
    assert.equal(await messages(hal.page, 'Quarterly report').getByTestId('attachment-size').textContent(), `${pdf.length} bytes`);
    gus.assertClean();
    hal.assertClean();
  });
});
