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

  sendDirect(recipientId, content, clientId, replyToId) {
    const body = { recipient_id: recipientId, content, client_id: clientId };
    if (replyToId != null) body.reply_to_id = replyToId;
    return this.call('POST', '/messages/send', body).then((r) => r.data);
  }

  /** Send a DM carrying our uploads (`attachmentIds`), maybe with no text. */
  sendFiles(recipientId, content, attachmentIds) {
    return this.call('POST', '/messages/send', { recipient_id: recipientId, content, attachment_ids: attachmentIds }).then((r) => r.data);
  }

  /** POST /attachments: `bytes` (a Buffer or Uint8Array) as the multipart part `file`. */
  async upload(filename, bytes, contentType = 'application/octet-stream') {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: contentType }), filename);
    const res = await fetch(`${this.base}/attachments`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.access}` },
      body: form,
      signal: AbortSignal.timeout(15000),
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`POST /attachments → ${res.status}: ${text}`);
    return JSON.parse(text);
  }

  /** GET an attachment's bytes (or its thumbnail: `path` '/attachments/7/thumbnail'). */
  async fetchBytes(path) {
    const res = await fetch(this.base + path, { headers: { Authorization: `Bearer ${this.access}` }, signal: AbortSignal.timeout(15000) });
    if (!res.ok) throw new Error(`GET ${path} → ${res.status}: ${await res.text()}`);
    return Buffer.from(await res.arrayBuffer());
  }

  sendGroup(groupId, content, replyToId) {
    const body = { group_id: groupId, content };
    if (replyToId != null) body.reply_to_id = replyToId;
    return this.call('POST', '/groups/send', body).then((r) => r.data);
  }

  createGroup(name, memberIds) {
    return this.call('POST', '/groups/create', { name, member_ids: memberIds }).then((r) => r.group);
  }

  editMessage(id, content) {
    return this.call('PATCH', `/messages/${id}`, { content });
  }

  deleteMessage(id) {
    return this.call('DELETE', `/messages/${id}`);
  }

  react(id, emoji) {
    return this.call('PUT', `/messages/${id}/reactions/${encodeURIComponent(emoji)}`);
  }

  markRead(roomId, upTo) {
    return this.call('POST', `/rooms/${roomId}/read`, { up_to: upTo });
  }

  /** A user's id, found by search (never ourselves). */
  async userId(username) {
    const found = await this.call('GET', `/users/search?q=${encodeURIComponent(username)}`);
    const u = found.find((x) => x.username === username);
    if (!u) throw new Error(`user ${username} not found by search`);
    return u.id;
  }

  roomMessages(roomId, limit = 100) {
    return this.call('GET', `/rooms/${roomId}/messages?limit=${limit}`);
  }

  rooms() {
    return this.call('GET', '/rooms');
  }
}
