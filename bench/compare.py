"""The Python side of bench/compare: times the official `pusher` library (PyPI, 3.3.4) on the inputs
written by the Rust runner (`bench_ops --write-inputs`), with the same timing loop as the Rust and Node
runners: batches calibrated to ~20 ms, ~200 ms of warm-up, then BENCH_SAMPLES (default 15) batches timed
with time.perf_counter_ns; prints {"runner": "python", "results": {op: {"ns", "min", "iters"}}}.

What each op calls (the closest equivalent of the Rust op; see bench/README.md):
  hmac_floor            hmac.new(secret, msg, sha256).hexdigest()  (what pusher.signature.sign does)
  auth_private          Pusher.authenticate(channel, socket_id)
  auth_presence         Pusher.authenticate(channel, socket_id, {"user_id", "user_info"})
  auth_user             Pusher.authenticate_user(socket_id, {"id", "user_info"})
  webhook_validate_1kb  Pusher.validate_webhook(key, signature, body)  (HMAC, JSON into dicts, time check)
  encrypt_1kb           json.dumps(pusher.crypto.encrypt(channel, data, master_key), ensure_ascii=False)
                        (exactly what trigger does for an encrypted channel)
  trigger_1kb           Pusher.trigger(...) through a backend whose send_request only reads request.url
                        (body JSON, body_md5, signature, signed URL; no network)
  trigger_100_channels  the same with 100 channels
  trigger_encrypted_1kb the same on an encrypted channel (encryption included)
"""

import hashlib
import hmac
import json
import os
import sys
import time

import pusher
import pusher.crypto


# The ops, in the order of the table.
OPS = [
    "hmac_floor",
    "auth_private",
    "auth_presence",
    "auth_user",
    "webhook_validate_1kb",
    "encrypt_1kb",
    "trigger_1kb",
    "trigger_100_channels",
    "trigger_encrypted_1kb",
]


class NoopBackend(object):
    """A backend that sends nothing: it reads the signed URL (as every real backend does) and returns."""

    def __init__(self, client, **options):
        self.client = client

    def send_request(self, request):
        return request.url


def measure(samples, f):
    clock = time.perf_counter_ns

    def batch(n):
        t = clock()
        for _ in range(n):
            f()
        return clock() - t

    n = 1
    while batch(n) < 20_000_000:
        n *= 2
    warm = clock()
    while clock() - warm < 200_000_000:
        batch(n)
    per_op = sorted(batch(n) / n for _ in range(samples))
    return {"ns": per_op[len(per_op) // 2], "min": per_op[0], "iters": n}


def table(paths):
    """Prints the comparison table (Markdown) from the runners' JSON outputs (one or more rounds each):
    per runner and op the median batch of its best round, and the speed-up over the faster reference by
    that median and by fastest batch (the least disturbed by other processes on a busy machine)."""
    runs = {}
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        # Several rounds of a runner: keep its best round per op.
        best = runs.setdefault(r["runner"], {})
        for op, v in r["results"].items():
            if op not in best:
                best[op] = dict(v)
            else:
                best[op]["ns"] = min(best[op]["ns"], v["ns"])
                best[op]["min"] = min(best[op]["min"], v["min"])
    rust, py, node = runs["rust"], runs["python"], runs["node"]
    fmt = lambda x: "-" if x is None else "{:,.0f}".format(x)
    print("| op | Rust ns/op | Python ns/op | Node ns/op | faster reference / Rust (median) | (fastest batch) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    worst = None
    order = [op for op in OPS if op in rust] + [op for op in rust if op not in OPS]
    for op in order:
        cells = []
        for stat in ("ns", "min"):
            r = rust[op][stat]
            refs = {"Python": py.get(op, {}).get(stat), "Node": node.get(op, {}).get(stat)}
            refs = {k: v for k, v in refs.items() if v is not None}
            if not refs or r <= 0:
                cells.append("-")
                continue
            which = min(refs, key=refs.get)
            ratio = refs[which] / r
            cells.append("{:.1f}x ({})".format(ratio, which))
            if stat == "ns" and op != "hmac_floor":
                worst = ratio if worst is None else min(worst, ratio)
        print("| {} | {} | {} | {} | {} | {} |".format(
            op, fmt(rust[op]["ns"]), fmt(py.get(op, {}).get("ns")), fmt(node.get(op, {}).get("ns")),
            cells[0], cells[1]))
    if worst is not None:
        print()
        print("Smallest speed-up over the faster reference (SDK ops, median): {:.1f}x ({}).".format(
            worst, "meets the 5x expectation" if worst >= 5 else "below the 5x expectation"))


def main():
    if sys.argv[1] == "--table":
        return table(sys.argv[2:])
    inp = json.load(open(sys.argv[1]))
    samples = max(1, int(os.environ.get("BENCH_SAMPLES", "15")))
    p = pusher.Pusher(
        app_id=inp["app_id"],
        key=inp["key"],
        secret=inp["secret"],
        ssl=True,
        encryption_master_key_base64=inp["master_key_base64"],
        backend=NoopBackend,
    )
    key, secret, socket_id = inp["key"], inp["secret"], inp["socket_id"]
    results = {}

    def record(name, f):
        results[name] = measure(samples, f)
        print("python %-24s %10.0f ns/op" % (name, results[name]["ns"]), file=sys.stderr)

    secret_b, msg_b = secret.encode(), inp["hmac_message"].encode()
    record("hmac_floor", lambda: hmac.new(secret_b, msg_b, hashlib.sha256).hexdigest())

    private = inp["private_channel"]
    record("auth_private", lambda: p.authenticate(private, socket_id))

    presence, member = inp["presence_channel"], inp["presence_data"]
    record("auth_presence", lambda: p.authenticate(presence, socket_id, member))

    user = inp["user_data"]
    record("auth_user", lambda: p.authenticate_user(socket_id, user))

    body, sig = inp["webhook_body"], inp["webhook_signature"]
    # The library checks time_ms against the wall clock (300 s window): the inputs must be fresh.
    hook = p.validate_webhook(key, sig, body)
    if hook is None or len(hook["events"]) != 4:
        sys.exit("python: the webhook did not validate (inputs older than 300 s?)")
    record("webhook_validate_1kb", lambda: p.validate_webhook(key, sig, body))

    master = pusher.crypto.parse_master_key(None, inp["master_key_base64"])
    encrypted, plaintext = inp["encrypted_channel"], inp["encrypt_plaintext"]
    record(
        "encrypt_1kb",
        lambda: json.dumps(pusher.crypto.encrypt(encrypted, plaintext, master), ensure_ascii=False),
    )

    channel, event, data = inp["trigger_channel"], inp["trigger_event"], inp["trigger_data"]
    record("trigger_1kb", lambda: p.trigger(channel, event, data))

    channels, multi_event, multi_data = inp["multi_channels"], inp["multi_event"], inp["multi_data"]
    record("trigger_100_channels", lambda: p.trigger(channels, multi_event, multi_data))

    record("trigger_encrypted_1kb", lambda: p.trigger(encrypted, event, plaintext))

    print(json.dumps({"runner": "python", "results": results}))


if __name__ == "__main__":
    main()
