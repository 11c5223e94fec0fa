// The chat page: joins presence-chat, sends and receives messages, receives an encrypted notice, signs the
// user in (pusher:signin) and shows the webhooks the server received. Works with any of the three examples.
(async function () {
  const $ = (id) => document.getElementById(id);
  const config = await (await fetch('/config.json')).json();
  if (!config.user) { $('login').hidden = false; $('status').textContent = 'not signed in'; return; }
  $('chat').hidden = false;
  $('me').textContent = config.user;
  $('mine').textContent = 'private-user-' + config.user;

  const pusher = new Pusher(config.key, Object.assign({}, config.options, {
    channelAuthorization: { endpoint: '/pusher/auth', transport: 'ajax' },
    userAuthentication: { endpoint: '/pusher/user-auth', transport: 'ajax' },
  }));
  window.chat = { pusher, received: [], notices: [] };
  pusher.connection.bind('state_change', (s) => { $('status').textContent = s.current; });
  pusher.signin();

  const renderMembers = (members) => {
    const list = $('members'); list.innerHTML = '';
    members.each((m) => { const li = document.createElement('li'); li.textContent = m.info && m.info.name || m.id; list.appendChild(li); });
    $('count').textContent = members.count;
  };
  const addMessage = (m) => {
    window.chat.received.push(m);
    const li = document.createElement('li');
    const b = document.createElement('b'); b.textContent = m.user + ': ';
    // A long message shows its size and its start.
    const size = new TextEncoder().encode(m.text).length;
    const text = size > 200 ? `[${(size / 1024).toFixed(1)} KB] ${m.text.slice(0, 80)}…` : m.text;
    li.appendChild(b); li.appendChild(document.createTextNode(text));
    $('messages').appendChild(li); $('messages').scrollTop = 1e9;
  };

  // Chunked events (the pusher crate's `pusher::chunked`): data over the server's limit arrives as
  // `chunked-<event>` events {id, index, chunk, final}, joined by index once the final one and every earlier
  // one are here. Incomplete messages are dropped after a minute.
  const bindWithChunking = (channel, event, callback) => {
    channel.bind(event, callback); // data within the limit arrives as a plain event
    const pending = new Map(); // message id -> {chunks, final, timer}
    channel.bind('chunked-' + event, (data) => {
      let m = pending.get(data.id);
      if (!m) {
        m = { chunks: [], final: false, timer: setTimeout(() => pending.delete(data.id), 60000) };
        pending.set(data.id, m);
      }
      m.chunks[data.index] = data.chunk;
      if (data.final) m.final = true;
      if (m.final && Object.keys(m.chunks).length === m.chunks.length) {
        clearTimeout(m.timer);
        pending.delete(data.id);
        const whole = m.chunks.join('');
        let parsed;
        try { parsed = JSON.parse(whole); } catch (e) { parsed = whole; } // as pusher-js does
        callback(parsed);
      }
    });
  };

  const chatChannel = pusher.subscribe('presence-chat');
  chatChannel.bind('pusher:subscription_succeeded', renderMembers);
  chatChannel.bind('pusher:member_added', () => renderMembers(chatChannel.members));
  chatChannel.bind('pusher:member_removed', () => renderMembers(chatChannel.members));
  bindWithChunking(chatChannel, 'message', addMessage);

  const notices = pusher.subscribe('private-encrypted-notices');
  notices.bind('notice', (n) => { window.chat.notices.push(n); $('notice').textContent = n.text; });

  const personal = pusher.subscribe('private-user-' + config.user);
  personal.bind('pusher:subscription_succeeded', () => { $('personal').textContent = 'subscribed'; });

  const send = async (text) => {
    addMessage({ user: config.user, text });  // the server excludes our own socket
    await fetch('/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text, socket_id: pusher.connection.socket_id }) });
  };
  $('send').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('text').value; if (!text) return;
    $('text').value = '';
    await send(text);
  });
  // Over the server's 10 KB event limit: the server sends it chunked, the others' pages reassemble it.
  $('big-btn').addEventListener('click', () =>
    send(`a 50 KB message from ${config.user}: ` + 'lorem ipsum dolor sit amet '.repeat(1900).slice(0, 50000)));
  $('notice-btn').addEventListener('click', () => fetch('/notices', { method: 'POST' }));

  const pollWebhooks = async () => {
    try {
      const events = await (await fetch('/webhooks')).json();
      const list = $('webhooks'); list.innerHTML = '';
      events.slice().reverse().forEach((e) => {
        const li = document.createElement('li');
        const ev = e.event || {};
        li.textContent = (ev.name || '?') + ' ' + (ev.channel || '') + (ev.user_id ? ' ' + ev.user_id : '');
        list.appendChild(li);
      });
    } catch (_) { /* the next poll retries */ }
  };
  pollWebhooks(); setInterval(pollWebhooks, 2000);
})();
