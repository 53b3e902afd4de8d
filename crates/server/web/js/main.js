// main.js — bootstrap: decide between the login screen and the chat (tokens in localStorage
// keep a reload logged in), mount the views once, wire routes, dialogs, search, notifications
// and session endings.

import { Api } from './api.js';
import { session } from './session.js';
import { Store } from './state.js';
import { Chat } from './chat.js';
import { MessageSearch } from './search.js';
import { Notifier } from './notify.js';
import { installLiveRooms } from './live-rooms.js';
import { mountConnectionStatus } from './connection-status.js';
import { $, replaceChildren } from './dom.js';
import { navigate, onRoute, parseRoute } from './router.js';
import { renderAuth } from './views/auth.js';
import { mountSidebar } from './views/sidebar.js';
import { mountConversation } from './views/conversation.js';
import { closeAllDialogs } from './views/dialog.js';
import { openNewDm } from './views/newdm.js';
import { openNewGroup } from './views/newgroup.js';
import { openMembers } from './views/members.js';
import { openSettings } from './views/settings.js';
import { installSearchShortcut, openSearch } from './views/search.js';
import { toast } from './views/toast.js';

const authRoot = $('#auth-root');
const chatScreen = $('#chat-screen');
const banner = $('#connection-banner');

const store = new Store();
const api = new Api({
  onSessionEnded: () => showAuth('Your session has ended. Please log in again.'),
});
const chat = new Chat({
  store,
  api,
  notify: (msg) => toast(msg, { kind: 'error' }),
  onRevoked: () => {
    session.clear();
    showAuth('You were logged out: this session was ended (logout elsewhere, password change or account deletion).');
  },
});

installLiveRooms({ store, chat }); // groups and names changing live (room_changed, user_updated)
const search = new MessageSearch({ api, store });
const notifier = new Notifier({ store, chat, api, onOpenRoom: (roomId) => navigate(`/room/${roomId}`) });

let signedIn = false;
let mounted = false;
let conversation = null; // {showMessage} once mounted

function mountChat() {
  if (mounted) return;
  mounted = true;
  const deps = { api, store, chat };
  const showSearch = () => openSearch({ search, store, onOpen: openAt });
  mountSidebar($('#sidebar'), {
    store,
    onNewDm: () => openNewDm(deps),
    onNewGroup: () => openNewGroup(deps),
    onSettings: () => openSettings({ api, store, notifier, onLogout: (notice) => showAuth(notice) }),
    onSearch: showSearch,
  });
  conversation = mountConversation($('#conversation'), {
    store,
    chat,
    onMembers: (roomId) => openMembers(deps, roomId),
    onBack: () => navigate('/'),
    onMute: (roomId, muted) => notifier.setMuted(roomId, muted),
  });
  installSearchShortcut({ isActive: () => signedIn && !chatScreen.hidden, open: showSearch });
  mountConnectionStatus(banner, { store, onRetry: () => chat.reconnect() });
  store.subscribe(() => chatScreen.classList.toggle('has-conversation', Boolean(store.current)));
}

/** A search result: open its room at that message. */
function openAt(roomId, messageId) {
  navigate(`/room/${roomId}`);
  conversation?.showMessage(roomId, messageId);
}

function route(r) {
  if (!signedIn) return;
  let opening = null;
  if (r.name === 'room') opening = chat.openRoom(r.id);
  else if (r.name === 'user') opening = chat.openUser(r.id);
  else chat.closeConversation();
  opening?.catch((err) => toast(err?.message || 'That conversation could not be opened.', { kind: 'error' }));
}

function showAuth(notice) {
  if (signedIn) chat.stop();
  signedIn = false;
  closeAllDialogs();
  notifier.closeAll();
  store.reset();
  search.reset();
  chatScreen.hidden = true;
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  authRoot.hidden = false;
  renderAuth(authRoot, { api, onLoggedIn: startChat, notice });
}

async function startChat(user) {
  replaceChildren(authRoot);
  authRoot.hidden = true;
  chatScreen.hidden = false;
  store.reset();
  mountChat();
  signedIn = true;
  await chat.start(user);
  if (signedIn) route(parseRoute());
}

onRoute(route);
session.onExternalLogout(() => {
  if (signedIn) showAuth('You logged out in another tab.');
});

async function boot() {
  if (!session.loggedIn) {
    showAuth();
    return;
  }
  let user = session.user;
  if (!user) {
    try {
      user = await api.me();
    } catch (err) {
      if (!session.loggedIn) return; // the session ended; the login screen is showing
      showAuth(err.message);
      return;
    }
  } else {
    // Refresh the cached profile in the background; a dead session ends through onSessionEnded.
    api.me().then(
      (u) => {
        if (signedIn && store.me?.id === u.id) {
          store.me = u;
          store.notify('me');
        }
      },
      () => {},
    );
  }
  startChat(user);
}

boot();
