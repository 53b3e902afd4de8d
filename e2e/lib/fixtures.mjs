// The fixtures every browser-test file shares: a server of its own (with extra settings if
// given), one browser, each person in a browser context of their own, and REST clients —
// started before the file's tests and torn down after them.

import { after, before } from 'node:test';
import { BanterServer } from './server.mjs';
import { RestClient } from './rest.mjs';
import { launch, person } from './browser.mjs';

/** Call at the top of a test file; `hooks()` inside its `describe` starts and stops them. */
export function fixtures(env = {}) {
  const server = new BanterServer(env);
  const people = [];
  let browser;
  return {
    server,
    /** A person in a new browser context, on this file's server unless `url` names another. */
    async newPerson(options, url = server.url) {
      const p = await person(browser, url, options);
      people.push(p);
      return p;
    },
    /** A REST client for a newly registered user. */
    async rest(username, fullName) {
      const c = new RestClient(server.url);
      await c.register(username, { full_name: fullName });
      return c;
    },
    hooks() {
      before(async () => {
        await server.start();
        browser = await launch();
      });
      after(async () => {
        for (const p of people) await p.context.close().catch(() => {});
        await browser?.close().catch(() => {});
        await server.stop();
        server.cleanup();
      });
    },
  };
}
