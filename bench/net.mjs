// Network throughput of the official Node library (pusher 5.3.4) against the sink: N triggers in flight
// from one Pusher for SECONDS, the same triggers as the Rust runner. Prints one JSON line.
//
//   node net.mjs PORT N SECONDS     (run from the folder where pusher@5.3.4 is installed; see bench/net)
import { createRequire } from "node:module";

const require = createRequire(process.cwd() + "/");
const Pusher = require("pusher");

const [port, n, seconds] = process.argv.slice(2).map(Number);
const pusher = new Pusher({
  appId: "12345", key: "bench-key", secret: "bench-secret",
  host: "127.0.0.1", port, useTLS: false, timeout: 10000,
});

let stop = false;
let sent = 0;
let errors = 0;
async function worker(i) {
  for (let seq = i; !stop; seq += n) {
    try {
      await pusher.trigger(`bench-${seq % 100}`, "tick", { seq });
      sent += 1;
    } catch {
      errors += 1;
    }
  }
}

const started = process.hrtime.bigint();
const workers = Array.from({ length: n }, (_, i) => worker(i));
setTimeout(() => { stop = true; }, seconds * 1000);
await Promise.all(workers);
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
console.log(JSON.stringify({ runner: "node", n, triggers: sent, errors, seconds: elapsed, rate: sent / elapsed }));
