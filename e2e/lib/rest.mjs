// lib/rest.mjs — talk to the server's REST API directly (as another user, or to set up data
// the scenario is not about), without a browser.

export class RestClient {
  constructor(baseUrl) {
    this.base = baseUrl;
    this.access = null;
    this.refresh = null;
    this.user = null;
  }

  async call(method, path, body, { auth = true } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && this.access) headers.Authorization = `Bearer ${this.access}`;
    const res = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15000),
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
    return data;
  }

  async register(username, { password = 'correct-horse-9', full_name } = {}) {
    const data = await this.call('POST', '/auth/register', { username, email: `${username}@example.com`, password, full_name }, { auth: false });
    this.access = data.tokens.access_token;
    this.refresh = data.tokens.refresh_token;
    this.user = data.user;
    return data.user;
  }

  async login(username, password = 'correct-horse-9') {
    const data = await this.call('POST', '/auth/login', { username, password }, { auth: false });
    this.access = data.tokens.access_token;
    this.refresh = data.tokens.refresh_token;
    this.user = data.user;
    return data.user;
  }

  sendDirect(recipientId, content, clientId) {
    return this.call('POST', '/messages/send', { recipient_id: recipientId, content, client_id: clientId }).then((r) => r.data);
  }

  sendGroup(groupId, content) {
    return this.call('POST', '/groups/send', { group_id: groupId, content }).then((r) => r.data);
  }

  roomMessages(roomId, limit = 100) {
    return this.call('GET', `/rooms/${roomId}/messages?limit=${limit}`);
  }

  rooms() {
    return this.call('GET', '/rooms');
  }
}
