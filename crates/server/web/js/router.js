// router.js — hash routes, so a reload reopens the same conversation and no server-side
// routing is needed: `#/` (no conversation), `#/room/7`, `#/user/5` (a DM, maybe a draft).

export function parseRoute(hash = location.hash) {
  const m = /^#\/(room|user)\/(\d+)$/.exec(hash);
  if (!m) return { name: 'home' };
  return { name: m[1], id: Number(m[2]) };
}

/** Go to a route. `replace` swaps the history entry (e.g. a draft DM that became a room). */
export function navigate(path, { replace = false } = {}) {
  const hash = path.startsWith('#') ? path : `#${path}`;
  if (location.hash === hash) return;
  if (replace) {
    history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = hash;
  }
}

export function onRoute(fn) {
  const handler = () => fn(parseRoute());
  window.addEventListener('hashchange', handler);
  return () => window.removeEventListener('hashchange', handler);
}
