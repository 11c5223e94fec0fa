"""Network throughput of the official Python library (pusher 3.3.4, requests backend) against the sink.

    python net.py PORT N SECONDS     # N = 1: one thread, sequential; N > 1: N threads sharing one Pusher
    python net.py --table FILE       # the table of bench/net from its JSON lines

Each trigger is the same as the Rust runner's: channel bench-(seq % 100), event "tick", data {"seq": seq}.
Prints one JSON line. Run under bench/net, which counts the sink's connections around the run.
"""
import json
import sys
import threading
import time


def run(port, n, seconds):
    import pusher

    client = pusher.Pusher(app_id="12345", key="bench-key", secret="bench-secret",
                           host="127.0.0.1", port=port, ssl=False, timeout=10)
    stop = threading.Event()
    counts = [[0, 0] for _ in range(n)]  # per thread: sent, errors (no shared lock on the hot path)

    def worker(i):
        seq = i
        while not stop.is_set():
            try:
                client.trigger("bench-%d" % (seq % 100), "tick", {"seq": seq})
                counts[i][0] += 1
            except Exception:  # noqa: BLE001 - counted, reported
                counts[i][1] += 1
            seq += n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    sent = sum(c[0] for c in counts)
    print(json.dumps({"runner": "python", "n": n, "triggers": sent, "errors": sum(c[1] for c in counts),
                      "seconds": elapsed, "rate": sent / elapsed}))


RUNNERS = [("wrk", "wrk (limit)"), ("rust", "Rust `pusher` (default backend)"),
           ("rust-hyper", "Rust `pusher`, `HyperBackend`"), ("bare-hyper", "bare hyper-util, pre-signed"),
           ("bare-hyper-conn", "bare hyper `client::conn`, a connection per task, pre-signed"),
           ("bare-raw", "raw sockets + httparse, a connection per task, pre-signed"),
           ("rust-reqwest", "Rust `pusher`, `ReqwestBackend`"), ("bare-reqwest", "bare reqwest, pre-signed"),
           ("python", "Python 3.3.4"), ("node", "Node 5.3.4")]


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    # Several rounds: each runner's best round per N (a round slowed by a neighbour does not decide).
    best = {}
    for r in (r for r in rows if "runner" in r):
        key = (r["runner"], r["n"])
        if key not in best or r["rate"] > best[key]["rate"]:
            best[key] = r
    through = [r for r in best.values() if r["runner"] != "rust-publisher"]
    batched = [r for r in best.values() if r["runner"] == "rust-publisher"]
    ns = sorted({r["n"] for r in through})
    print("| runner | " + " | ".join("N = %d: triggers/s (conns)" % n for n in ns)
          + " | %% of wrk at N = %d | client CPU µs per request at N = %d |" % (ns[-1], ns[-1]))
    print("| --- |" + " ---: |" * (len(ns) + 2))
    limit = {r["n"]: r["rate"] for r in through if r["runner"] == "wrk"}
    for key, label in RUNNERS:
        cells = []
        for n in ns:
            r = next((r for r in through if r["runner"] == key and r["n"] == n), None)
            if r is None:
                cells.append("–")
                continue
            errors = (", %d errors" % r["errors"]) if r.get("errors") else ""
            cells.append("{:,.0f} ({}{})".format(r["rate"], r.get("connections", "?"), errors))
        last = next((r for r in through if r["runner"] == key and r["n"] == ns[-1]), None)
        ratio = "%.0f %%" % (100 * last["rate"] / limit[ns[-1]]) if last and limit.get(ns[-1]) else "–"
        cpu = "%.1f" % last["cpu_us"] if last and "cpu_us" in last else "–"
        print("| %s | %s | %s | %s |" % (label, " | ".join(cells), ratio, cpu))
    # The crate against the bare stack it sends through, at each N (rates of each one's best round).
    pairs = [("rust-hyper", "bare-hyper"), ("rust-hyper", "bare-hyper-conn"), ("rust-reqwest", "bare-reqwest")]
    for crate, bare in pairs:
        parts = []
        for n in ns:
            c, b = best.get((crate, n)), best.get((bare, n))
            if c and b:
                cpu = ""
                if "cpu_us" in c and "cpu_us" in b:
                    cpu = ", CPU/request %+.0f %%" % (100 * (c["cpu_us"] / b["cpu_us"] - 1))
                parts.append("N = %d: %.0f %% of its rate%s" % (n, 100 * c["rate"] / b["rate"], cpu))
        if parts:
            print("\n%s vs %s: %s" % (crate, bare, "; ".join(parts)))
    if batched:
        print()
        print("| `Publisher` (batches of 10) | events/s | events the sink counted / delivered | "
              "× wrk's single-event requests/s at the same N | client CPU µs per event |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for r in sorted(batched, key=lambda r: r["n"]):
            wrk = limit.get(r["n"])
            print("| N = %d in flight | %s | %s / %s | %s | %s |" % (
                r["n"], "{:,.0f}".format(r["rate"]), "{:,}".format(r.get("events_seen", 0)),
                "{:,}".format(r["events"]), "%.1f×" % (r["rate"] / wrk) if wrk else "–",
                "%.1f" % r["cpu_us"] if "cpu_us" in r else "–"))
    fan = {}
    for r in (r for r in rows if "mode" in r):
        key = (r["mode"], r["size"])
        if key not in fan or r["seconds"] < fan[key]["seconds"]:
            fan[key] = r
    fan = list(fan.values())
    if fan:
        print()
        print("| helper | items | requests | concurrency | time | µs per item | failed chunks | conns |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in fan:
            label = "`trigger_fanout` (channels)" if r["mode"] == "fanout" else "`trigger_batch_fanout` (events)"
            print("| {} | {:,} | {:,} | {} | {:.3f} s | {:.2f} | {} | {} |".format(
                label, r["size"], r["requests_seen"], r["concurrency"], r["seconds"], r["us_per_item"],
                r["failed_chunks"], r["connections"]))


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        table(sys.argv[2])
    else:
        run(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
