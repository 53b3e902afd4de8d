// lib/browser.mjs — Chromium through playwright-core (the system's /usr/bin/chromium; no
// browser download), one context per person, and condition-based waiting helpers.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SCREENSHOTS = path.resolve(here, '..', '..', 'docs', 'screenshots');
export const PASSWORD = 'correct-horse-9';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}

/**
 * A person: their own browser context (cookies, localStorage) and page. Page errors and
 * Content-Security-Policy violations are collected; `assertClean()` fails on any.
 */
export async function person(browser, baseURL, options = {}) {
  const context = await browser.newContext({ baseURL, viewport: { width: 1200, height: 800 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  return {
    context,
    page,
    problems,
    assertClean() {
      if (problems.length) throw new Error(problems.join('\n'));
    },
  };
}

/** Poll `fn` until it returns a truthy value; fail with `what` after `timeout` ms. */
export async function waitUntil(fn, { timeout = 15000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Locator of the message elements (in the open conversation) whose text is exactly `text`. */
export function messages(page, text) {
  return page.locator('[data-testid="message"]', {
    has: page.locator('[data-testid="message-content"]', { hasText: new RegExp(`^${escapeRe(text)}$`) }),
  });
}

export function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The sidebar entry whose name contains `name`. */
export function roomItem(page, name) {
  return page.locator('[data-testid="room-item"]', { has: page.locator('[data-testid="room-name"]', { hasText: name }) });
}

export async function registerViaUi(page, { username, fullName, email }) {
  await page.goto('/');
  await page.getByTestId('tab-register').click();
  const form = page.getByTestId('register-form');
  await form.getByTestId('input-username').fill(username);
  await form.getByTestId('input-email').fill(email || `${username}@example.com`);
  if (fullName) await form.getByTestId('input-full_name').fill(fullName);
  await form.getByTestId('input-password').fill(PASSWORD);
  await form.getByTestId('input-password').press('Enter');
  await page.getByTestId('room-list').waitFor({ state: 'attached' });
  await page.getByTestId('me-name').getByText(fullName || username).waitFor();
}

export async function loginViaUi(page, login, password = PASSWORD) {
  await page.goto('/');
  const form = page.getByTestId('login-form');
  await form.getByTestId('input-username').fill(login);
  await form.getByTestId('input-password').fill(password);
  await form.getByTestId('login-submit').click();
  await page.getByTestId('room-list').waitFor({ state: 'attached' });
}

/** Type into the composer and press Enter; wait until the server confirmed the message. */
export async function sendViaUi(page, text) {
  const input = page.getByTestId('composer-input');
  await input.fill(text);
  await input.press('Enter');
  await messages(page, text).and(page.locator('[data-status="sent"]')).waitFor();
}

export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  // The pointer out of the way (a message under it shows its actions), and transitions
  // finished, so nothing is caught halfway through fading.
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.join(SCREENSHOTS, name), animations: 'disabled' });
}

/** Fail if the page is wider than its viewport (something overflows sideways). */
export async function assertNoOverflow(page, where) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  if (scrollWidth > innerWidth) throw new Error(`${where}: page is ${scrollWidth}px wide in a ${innerWidth}px viewport`);
}
