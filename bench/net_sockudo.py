#!/usr/bin/env python3
"""Batched against single triggers on a real sockudo, every event counted (`bench/net --sockudo-batched`).

Starts sockudo on a free 127.0.0.1 port (the same app and settings as tests/src/sockudo.rs's `config`,
copied here), a pusher-js subscriber (tests/node/client.mjs) on the 100 channels `bench-0` … `bench-99`
counting event `tick` by its `seq`, then for each N runs, for SECONDS each:

  * `net throughput PORT N SECONDS`: single triggers, N in flight (the crate's default backend),
  * `net publish PORT N SECONDS`: the same events through a `Publisher` (batches of 10, N in flight),

and waits until the subscriber has received what the client says was delivered (or stops growing). The
rate is the subscriber's: events received from the start of the client's run to the last event's arrival
(the client's own rate, `client_rate`, leaves out what the server still had queued). Each
phase has its own subscriber connection, so counts do not mix. Prints one JSON line per phase, then the
ratio table. Everything shares the machine's cores; the server is bounded by `SECONDS`.

    bench/net_sockudo.py SOCKUDO_BIN NET_BIN NODE_DIR SECONDS "16 64"
"""

import json
import resource
import os
import socket
import subprocess
import sys
import tempfile
import time

APP = {"id": "app-id", "key": "app-key", "secret": "app-secret"}
CHANNELS = [f"bench-{i}" for i in range(100)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port):
    app = dict(APP, enabled=True, enable_client_messages=True, enable_user_authentication=True,
               max_connections=0, max_client_events_per_second=0, max_presence_members_per_channel=100,
               max_presence_member_size_in_kb=2, max_channel_name_length=200,
               max_event_channels_at_once=100, max_event_name_length=200, max_event_payload_in_kb=10,
               max_event_batch_size=10)
    return {
        "debug": False, "mode": "development", "host": "127.0.0.1", "port": port, "path_prefix": "/",
        "shutdown_grace_period": 1, "activity_timeout": 120, "user_authentication_timeout": 3600,
        "websocket_max_payload_kb": 64, "max_connections": 0,
        "adapter": {"driver": "local", "enable_socket_counting": True},
        "cache": {"driver": "memory", "memory": {"max_capacity": 1000000}},
        "queue": {"driver": "memory"},
        "app_manager": {"driver": "memory", "array": {"apps": [app]}},
        "rate_limiter": {"enabled": False, "driver": "memory"},
        "idempotency": {"enabled": True, "ttl_seconds": 120, "max_key_length": 128},
        "metrics": {"enabled": False, "host": "127.0.0.1", "port": 9601},
        "ssl": {"enabled": False},
        "http_api": {"request_limit_in_mb": 10, "usage_enabled": True},
        "webhooks": {"batching": {"enabled": True, "duration": 50, "size": 100}, "retry": {"enabled": False},
                     "request_timeout_ms": 5000},
        "cluster_health": {"enabled": False},
        "logging": {"colors_enabled": False, "include_target": True},
    }


class Node:
    """The pusher-js driver: one JSON command per line on stdin, replies on stdout."""

    def __init__(self, node_dir):
        node_dir = os.path.abspath(node_dir)
        self.proc = subprocess.Popen(["node", os.path.join(node_dir, "client.mjs")], cwd=node_dir,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.next = 0

    def call(self, cmd, **fields):
        self.next += 1
        ident = self.next
        self.proc.stdin.write(json.dumps(dict(fields, id=ident, cmd=cmd)) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the pusher-js driver exited")
            msg = json.loads(line)
            if msg.get("id") == ident:
                if not msg.get("ok"):
                    raise RuntimeError(f"{cmd}: {msg.get('error')}")
                return msg

    def close(self):
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(5)


def cpu_seconds(pid):
    """User + system CPU time of a process so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wait_counted(node, name, expected, quiet=3.0, limit=120.0):
    """The subscriber's counts once it has `expected` events, or once they stop growing for `quiet` s, and
    the time (monotonic) when it last received one (within the 0.05 s of polling)."""
    started = last_change = time.monotonic()
    last = None
    while True:
        reply = node.call("counts", name=name)
        counts = {k: reply[k] for k in ("received", "unique", "duplicates", "bad")}
        now = time.monotonic()
        if counts["unique"] >= expected:
            return counts, now
        if counts != last:
            last, last_change = counts, now
        if now - last_change > quiet or now - started > limit:
            return counts, last_change
        time.sleep(0.05)


def main():
    sockudo_bin, net_bin, node_dir, seconds, ns = sys.argv[1:6]
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-sockudo-")
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump(config(port), f)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    env.update(HOST="127.0.0.1", PORT=str(port), METRICS_HOST="127.0.0.1")
    log = open(os.path.join(workdir, "sockudo.log"), "w")
    server = subprocess.Popen([sockudo_bin, "--config", os.path.join(workdir, "config.json")], cwd=workdir,
                              env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    node = None
    results = []
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("sockudo did not start")
        node = Node(node_dir)
        net_env = dict(os.environ, NET_APP_ID=APP["id"], NET_APP_KEY=APP["key"], NET_APP_SECRET=APP["secret"])
        phase = 0
        for n in ns.split():
            for mode in ("throughput", "publish"):
                phase += 1
                name = f"sub-{phase}"
                node.call("connect", name=name, key=APP["key"], wsHost="127.0.0.1", wsPort=port)
                for channel in CHANNELS:
                    node.call("subscribe", name=name, channel=channel)
                node.call("countBind", name=name, channels=CHANNELS, event="tick")
                cpu = (cpu_seconds(server.pid), cpu_seconds(node.proc.pid), children_cpu())
                began = time.monotonic()
                out = subprocess.run([net_bin, mode, str(port), n, seconds], env=net_env, check=True,
                                     capture_output=True, text=True).stdout
                line = json.loads(out)
                sent = line.get("events", line.get("triggers"))
                counts, done = wait_counted(node, name, sent)
                # The rate that counts: events the subscriber received, from the start of the client's
                # run until the last one arrived (the client's own rate leaves out the server's backlog).
                line.update(sent=sent, received=counts["received"], unique=counts["unique"],
                            duplicates=counts["duplicates"], lost=sent - counts["unique"],
                            client_rate=line["rate"], rate=counts["unique"] / (done - began),
                            seconds_to_last_event=done - began)
                # CPU per event of each process (µs): where the machine's time went in this phase.
                spent = (cpu_seconds(server.pid) - cpu[0], cpu_seconds(node.proc.pid) - cpu[1],
                         children_cpu() - cpu[2])
                line.update({f"{who}_cpu_us_per_event": round(t * 1e6 / max(sent, 1), 1)
                             for who, t in zip(("server", "subscriber", "client"), spent)})
                print(json.dumps(line), file=sys.stderr)
                results.append(line)
                node.call("disconnect", name=name)
    finally:
        if node:
            node.close()
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
    print("| N | single: events/s received (received / sent) | batched: events/s received (received / sent) "
          "| batched / single "
          "| CPU µs per event, single: server / subscriber / client | batched |")
    print("| ---: | ---: | ---: | ---: | --- | --- |")
    def cpus(r):
        return " / ".join(str(r[f"{w}_cpu_us_per_event"]) for w in ("server", "subscriber", "client"))

    by_n = {}
    for r in results:
        by_n.setdefault(r["n"], {})[r["runner"]] = r
    for n, rows in by_n.items():
        single, batched = rows.get("rust"), rows.get("rust-publisher")
        if not (single and batched):
            continue
        print(f"| {n} | {single['rate']:,.0f} ({single['unique']:,} / {single['sent']:,}) "
              f"| {batched['rate']:,.0f} ({batched['unique']:,} / {batched['sent']:,}) "
              f"| {batched['rate'] / single['rate']:.1f}x | {cpus(single)} | {cpus(batched)} |")
    bad = [r for r in results if r["lost"] or r["duplicates"] or r.get("errors") or r.get("undelivered")]
    if bad:
        print(f"NOT every event counted once: {bad}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
