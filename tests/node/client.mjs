// pusher-js driver for the pusher-rs end-to-end tests.
//
// A long-running process driven over stdin/stdout, one JSON object per line.
//
// Commands (stdin), each with an `id` and a `cmd`:
//   connect        {name, key, wsHost, wsPort, authEndpoint?, userAuthEndpoint?, headers?, authVia?, timeoutMs?}
//                  -> {socket_id}
//   subscribe      {name, channel, timeoutMs?}  -> {channel, members?} once pusher:subscription_succeeded fires;
//                  ok:false on pusher:subscription_error, on a connection-level error 4009 (sockudo's answer
//                  to a refused signature: it never sends pusher:subscription_error) or on timeout.
//   unsubscribe    {name, channel}
//   bind           {name, channel, event?}      every event received is pushed as
//                  {"event":"message", name, channel, eventName, data}; without `event`, all events of the
//                  channel (bind_global, including pusher: events). The first bind of a channel also binds
//                  the sentinel event (SENTINEL below), pushed once however the channel is bound.
//   bindChunked    {name, channel, event}      binds `event` and its chunked form (`chunked-<event>`, pieces
//                  reassembled by bindWithChunking below, the snippet of the pusher crate's docs): each whole
//                  event is pushed as {"event":"message", name, channel, eventName: event, data, chunks}
//                  (`chunks`: how many pieces it came in, 0 for a plain event). Also binds the sentinel.
//   signin         {name, timeoutMs?}           -> {user_data} on pusher:signin_success
//   bindUser       {name, event}                pushes {"event":"user_message", name, eventName, data}; the
//                  first bindUser also binds the sentinel event on the user.
//   trigger_client {name, channel, event, data} -> {sent}
//   state          {name}                       -> {state, socket_id, retrying, connecting}: `retrying` when
//                  pusher-js has a reconnection scheduled, `connecting` while it is trying to connect.
//   members        {name, channel}              -> {members: {count, myID, me, members}}
//   disconnect     {name}                       -> {state} once disconnected
//   countBind      {name, channels, event}      counts events (data.seq) instead of pushing them; once a
//                  sentinel has reached every counted channel, pushes {"event":"counted", name, sentinel}
//                  (then every event sent to them before that sentinel has been counted)
//   counts         {name}                       -> {received, unique, duplicates, bad}
//   ping           {}                           -> {}
// Replies (stdout): {"id":…, "ok":true, …} or {"id":…, "ok":false, "error":…}.
//
// Pushed asynchronously (stdout), each with an `event` field:
//   {"event":"state", name, previous, current}   connection state changes
//   {"event":"error", name, error}               connection errors (pusher:error and transport errors)
//   {"event":"message", …}, {"event":"user_message", …}
//   {"event":"subscription_error", name, channel, error}
//   {"event":"auth_request", kind:"channel"|"user", reqId, name, socketId, channelName?}
//       with `authVia: "rust"`: pusher-js's customHandler asks the Rust side, which answers with a line
//       {"cmd":"auth_reply", reqId, status, body}; status 200 gives `body` to pusher-js, anything else
//       fails the authorization.
// Logs go to stderr only: stdout carries nothing but protocol lines.
//
// Sentinels: the tests prove that something did *not* arrive by sending a sentinel event (SENTINEL, data
// {id}) after it on the same channel or user, and reading what arrived before the sentinel. Channels
// deliver in order per connection, so an event sent before the sentinel cannot arrive after it.

import readline from 'node:readline';
import Pusher from 'pusher-js';

// Keep stdout for protocol lines.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);
Pusher.log = (msg) => process.stderr.write(`pusher-js: ${msg}\n`);

const clients = new Map(); // name -> {pusher, name, pendingSubscribes: Set}
const authWaiters = new Map(); // reqId -> callback(status, body)
let nextReqId = 1;
const SENTINEL = 'e2e-sentinel';

// A JSON-safe copy: errors become {name, message}, functions are dropped, cycles (not shared objects)
// become "[circular]".
function safeJson(value, ancestors = new Set(), depth = 0) {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'function' || typeof value === 'symbol') return undefined;
    if (typeof value === 'bigint') return String(value);
    if (typeof value === 'number' && !Number.isFinite(value)) return null;
    return value;
  }
  if (ancestors.has(value) || depth > 20) return '[circular]';
  if (value instanceof Error) return { name: value.name, message: value.message };
  ancestors.add(value);
  let out;
  if (Array.isArray(value)) {
    out = value.map((v) => {
      const c = safeJson(v, ancestors, depth + 1);
      return c === undefined ? null : c;
    });
  } else if (typeof value.toJSON === 'function') {
    out = safeJson(value.toJSON(), ancestors, depth + 1);
  } else {
    out = {};
    for (const [k, v] of Object.entries(value)) {
      const c = safeJson(v, ancestors, depth + 1);
      if (c !== undefined) out[k] = c;
    }
  }
  ancestors.delete(value);
  return out;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(safeJson(obj)) + '\n');
}

function reply(id, fields) {
  emit({ id, ok: true, ...fields });
}

function fail(id, error) {
  emit({ id, ok: false, error: typeof error === 'string' ? error : safeJson(error) });
}

function client(name) {
  const c = clients.get(name);
  if (!c) throw new Error(`no client named ${JSON.stringify(name)}`);
  return c;
}

function membersOf(channel) {
  const m = channel && channel.members;
  if (!m) return null;
  return { count: m.count, myID: m.myID, me: m.me, members: m.members };
}

function errorCode(err) {
  if (!err) return undefined;
  if (err.data && typeof err.data.code === 'number') return err.data.code;
  if (err.error && err.error.data && typeof err.error.data.code === 'number') return err.error.data.code;
  return undefined;
}

function askRust(kind, name, params) {
  return (p, callback) => {
    const reqId = nextReqId++;
    authWaiters.set(reqId, (status, body) => {
      if (status === 200) {
        let data = body;
        if (typeof data === 'string') {
          try {
            data = JSON.parse(data);
          } catch (e) {
            callback(new Error(`auth body is not JSON: ${e.message}`), null);
            return;
          }
        }
        callback(null, data);
      } else {
        callback(new Error(`auth refused with status ${status}: ${JSON.stringify(body)}`), null);
      }
    });
    emit({ event: 'auth_request', kind, reqId, name, socketId: p.socketId, channelName: p.channelName, ...params });
  };
}

function withTimeout(ms, onTimeout) {
  const t = setTimeout(onTimeout, ms);
  return () => clearTimeout(t);
}

// Chunked events (the pusher crate's `pusher::chunked` docs and README; Pusher's chunking example format):
// `chunked-<event>` events with data {id, index, chunk, final}, collected by id and joined by index once the
// final piece and every earlier one have arrived. Incomplete messages are dropped after a minute.
function bindWithChunking(channel, event, callback) {
  channel.bind(event, (data) => callback(data, 0)); // data within the limit arrives as a plain event
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
      try {
        parsed = JSON.parse(whole);
      } catch (e) {
        parsed = whole; // as pusher-js does with data that is not JSON
      }
      callback(parsed, m.chunks.length);
    }
  });
}

const commands = {
  ping(id) {
    reply(id, {});
  },

  connect(id, cmd) {
    const { name } = cmd;
    const old = clients.get(name);
    if (old) {
      old.pusher.disconnect();
      clients.delete(name);
    }
    const options = {
      cluster: 'mt1',
      wsHost: cmd.wsHost,
      wsPort: cmd.wsPort,
      wssPort: cmd.wsPort,
      forceTLS: false,
      enabledTransports: ['ws'],
      enableStats: false,
    };
    if (cmd.authVia === 'rust') {
      options.channelAuthorization = { customHandler: askRust('channel', name, {}) };
      options.userAuthentication = { customHandler: askRust('user', name, {}) };
    } else {
      if (cmd.authEndpoint) {
        options.channelAuthorization = { endpoint: cmd.authEndpoint, transport: 'ajax', headers: cmd.headers || {} };
      }
      if (cmd.userAuthEndpoint) {
        options.userAuthentication = { endpoint: cmd.userAuthEndpoint, transport: 'ajax', headers: cmd.headers || {} };
      }
    }
    const pusher = new Pusher(cmd.key, options);
    const c = { name, pusher, pendingSubscribes: new Set(), bound: new Set(), pendingSignin: new Set() };
    clients.set(name, c);

    let done = false;
    const cancel = withTimeout(cmd.timeoutMs || 10000, () => {
      if (done) return;
      done = true;
      fail(id, `connect timed out in state ${pusher.connection.state}`);
    });
    pusher.connection.bind('state_change', ({ previous, current }) => {
      emit({ event: 'state', name, previous, current });
      if (done) return;
      if (current === 'connected') {
        done = true;
        cancel();
        reply(id, { socket_id: pusher.connection.socket_id });
      } else if (current === 'failed' || current === 'unavailable') {
        done = true;
        cancel();
        fail(id, `connection ${current}`);
      }
    });
    pusher.connection.bind('error', (err) => {
      emit({ event: 'error', name, error: err });
      if (errorCode(err) === 4009) {
        // sockudo answers a refused channel signature or sign-in with a connection-level 4009 error.
        for (const f of [...c.pendingSubscribes, ...c.pendingSignin]) f(err);
      }
    });
    pusher.connection.bind('message', (msg) => {
      if (msg && msg.event === 'pusher:signin_success') {
        for (const f of [...c.pendingSignin]) f(null, msg.data);
      }
    });
  },

  subscribe(id, cmd) {
    const c = client(cmd.name);
    const existing = c.pusher.channel(cmd.channel);
    if (existing && existing.subscribed) {
      reply(id, { channel: cmd.channel, members: membersOf(existing), already: true });
      return;
    }
    const channel = c.pusher.subscribe(cmd.channel);
    let finish = null;
    const onSuccess = () => finish(null);
    const onError = (err) => {
      emit({ event: 'subscription_error', name: cmd.name, channel: cmd.channel, error: err });
      finish(err);
    };
    const cancel = withTimeout(cmd.timeoutMs || 5000, () =>
      finish(`no pusher:subscription_succeeded for ${cmd.channel} within ${cmd.timeoutMs || 5000} ms`),
    );
    const waiter = (err) => finish(err);
    finish = (err) => {
      cancel();
      c.pendingSubscribes.delete(waiter);
      channel.unbind('pusher:subscription_succeeded', onSuccess);
      channel.unbind('pusher:subscription_error', onError);
      if (err) fail(id, err);
      else reply(id, { channel: cmd.channel, members: membersOf(channel) });
      finish = () => {};
    };
    c.pendingSubscribes.add(waiter);
    channel.bind('pusher:subscription_succeeded', onSuccess);
    channel.bind('pusher:subscription_error', onError);
  },

  unsubscribe(id, cmd) {
    client(cmd.name).pusher.unsubscribe(cmd.channel);
    reply(id, {});
  },

  bind(id, cmd) {
    const c = client(cmd.name);
    const channel = c.pusher.channel(cmd.channel) || c.pusher.subscribe(cmd.channel);
    const push = (eventName, data) =>
      emit({ event: 'message', name: cmd.name, channel: cmd.channel, eventName, data });
    // The sentinel: bound once per channel, and left out of the global binding, so it is pushed once.
    const sentinelKey = `${cmd.channel}\u0000${SENTINEL}`;
    if (!c.bound.has(sentinelKey)) {
      c.bound.add(sentinelKey);
      channel.bind(SENTINEL, (data) => push(SENTINEL, data));
    }
    const key = `${cmd.channel}\u0000${cmd.event ?? '*'}`;
    if (!c.bound.has(key)) {
      c.bound.add(key);
      if (cmd.event) {
        channel.bind(cmd.event, (data) => push(cmd.event, data));
      } else {
        channel.bind_global((eventName, data) => {
          if (eventName !== SENTINEL) push(eventName, data);
        });
      }
    }
    reply(id, {});
  },

  bindChunked(id, cmd) {
    const c = client(cmd.name);
    const channel = c.pusher.channel(cmd.channel) || c.pusher.subscribe(cmd.channel);
    const sentinelKey = `${cmd.channel}\u0000${SENTINEL}`;
    if (!c.bound.has(sentinelKey)) {
      c.bound.add(sentinelKey);
      channel.bind(SENTINEL, (data) =>
        emit({ event: 'message', name: cmd.name, channel: cmd.channel, eventName: SENTINEL, data }),
      );
    }
    bindWithChunking(channel, cmd.event, (data, chunks) =>
      emit({ event: 'message', name: cmd.name, channel: cmd.channel, eventName: cmd.event, data, chunks }),
    );
    reply(id, {});
  },

  // Load tests: counts `event` on each of `channels` without pushing a line per event; the data must carry
  // a numeric `seq`, so duplicates are told from distinct events.
  countBind(id, cmd) {
    const c = client(cmd.name);
    c.counts = c.counts || { received: 0, duplicates: 0, seen: new Set(), bad: 0, sentinels: new Map() };
    for (const name of cmd.channels) {
      const channel = c.pusher.channel(name) || c.pusher.subscribe(name);
      c.counts.sentinels.set(name, null);
      channel.bind(SENTINEL, (data) => {
        const sentinel = data && data.id;
        const all = c.counts.sentinels;
        all.set(name, sentinel);
        if ([...all.values()].every((s) => s === sentinel)) {
          emit({ event: 'counted', name: cmd.name, sentinel });
        }
      });
      channel.bind(cmd.event, (data) => {
        const k = c.counts;
        k.received += 1;
        const seq = data && typeof data.seq === 'number' ? data.seq : null;
        if (seq === null) { k.bad += 1; return; }
        if (k.seen.has(seq)) k.duplicates += 1; else k.seen.add(seq);
      });
    }
    reply(id, {});
  },

  counts(id, cmd) {
    const k = client(cmd.name).counts || { received: 0, duplicates: 0, seen: new Set(), bad: 0, sentinels: new Map() };
    reply(id, { received: k.received, unique: k.seen.size, duplicates: k.duplicates, bad: k.bad });
  },

  signin(id, cmd) {
    const c = client(cmd.name);
    if (c.pusher.user.user_data) {
      reply(id, { user_data: c.pusher.user.user_data, already: true });
      return;
    }
    let finish = null;
    const onSigninError = (err) => finish(err);
    const cancel = withTimeout(cmd.timeoutMs || 5000, () => finish('no pusher:signin_success in time'));
    finish = (err, data) => {
      cancel();
      c.pendingSignin.delete(waiter);
      c.pusher.user.unbind('pusher:signin_error', onSigninError);
      if (err) fail(id, err);
      else reply(id, { user_data: data && data.user_data });
      finish = () => {};
    };
    const waiter = (err, data) => finish(err, data);
    c.pendingSignin.add(waiter);
    c.pusher.user.bind('pusher:signin_error', onSigninError);
    c.pusher.signin();
  },

  bindUser(id, cmd) {
    const c = client(cmd.name);
    if (!c.bound.has(`user\u0000${SENTINEL}`)) {
      c.bound.add(`user\u0000${SENTINEL}`);
      c.pusher.user.bind(SENTINEL, (data) =>
        emit({ event: 'user_message', name: cmd.name, eventName: SENTINEL, data }),
      );
    }
    const key = `user\u0000${cmd.event}`;
    if (!c.bound.has(key)) {
      c.bound.add(key);
      c.pusher.user.bind(cmd.event, (data) =>
        emit({ event: 'user_message', name: cmd.name, eventName: cmd.event, data }),
      );
    }
    reply(id, {});
  },

  trigger_client(id, cmd) {
    const c = client(cmd.name);
    const channel = c.pusher.channel(cmd.channel);
    if (!channel) throw new Error(`${cmd.name} has no channel ${cmd.channel}`);
    reply(id, { sent: channel.trigger(cmd.event, cmd.data) });
  },

  state(id, cmd) {
    const c = client(cmd.name);
    const conn = c.pusher.connection;
    reply(id, {
      state: conn.state,
      socket_id: conn.socket_id ?? null,
      retrying: Boolean(conn.retryTimer && conn.retryTimer.isRunning()),
      connecting: Boolean(conn.runner),
    });
  },

  members(id, cmd) {
    const c = client(cmd.name);
    const channel = c.pusher.channel(cmd.channel);
    if (!channel) throw new Error(`${cmd.name} has no channel ${cmd.channel}`);
    reply(id, {
      subscribed: channel.subscribed,
      pending: channel.subscriptionPending,
      members: membersOf(channel),
    });
  },

  disconnect(id, cmd) {
    const c = client(cmd.name);
    const state = c.pusher.connection.state;
    if (state === 'disconnected' || state === 'failed' || state === 'initialized') {
      reply(id, { state });
      return;
    }
    const onChange = ({ current }) => {
      if (current === 'disconnected') {
        c.pusher.connection.unbind('state_change', onChange);
        reply(id, { state: current });
      }
    };
    c.pusher.connection.bind('state_change', onChange);
    c.pusher.disconnect();
  },

  auth_reply(_id, cmd) {
    const waiter = authWaiters.get(cmd.reqId);
    if (!waiter) {
      process.stderr.write(`client.mjs: auth_reply for unknown reqId ${cmd.reqId}\n`);
      return;
    }
    authWaiters.delete(cmd.reqId);
    waiter(cmd.status, cmd.body);
  },
};

function handle(line) {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    process.stderr.write(`client.mjs: not JSON: ${line}\n`);
    return;
  }
  const id = cmd.id;
  const f = commands[cmd.cmd];
  if (!f) {
    fail(id, `unknown command ${JSON.stringify(cmd.cmd)}`);
    return;
  }
  try {
    f(id, cmd);
  } catch (e) {
    fail(id, e && e.message ? e.message : String(e));
  }
}

process.on('uncaughtException', (e) => {
  process.stderr.write(`client.mjs: uncaught: ${e && e.stack ? e.stack : e}\n`);
});
process.on('unhandledRejection', (e) => {
  process.stderr.write(`client.mjs: unhandled rejection: ${e && e.stack ? e.stack : e}\n`);
});

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', handle);
rl.on('close', () => {
  for (const c of clients.values()) {
    try {
      c.pusher.disconnect();
    } catch (e) {
      // exiting anyway
    }
  }
  setTimeout(() => process.exit(0), 50);
});
