// The Node side of bench/compare: times the official `pusher` library (npm, 5.3.4) on the inputs written
// by the Rust runner (`bench_ops --write-inputs`), with the same timing loop as the Rust and Python
// runners: batches calibrated to ~20 ms, ~200 ms of warm-up, then BENCH_SAMPLES (default 15) batches
// timed with process.hrtime.bigint(); prints {"runner": "node", "results": {op: {"ns", "min", "iters"}}}.
//
// Run from target/bench-node (where `npm install pusher@5.3.4` put the library):
//   node bench/compare.mjs INPUTS.json
//
// What each op calls (the closest equivalent of the Rust op; see bench/README.md):
//   hmac_floor            crypto.createHmac("sha256", secret).update(msg).digest("hex")  (Token#sign)
//   auth_private          pusher.authorizeChannel(socketId, channel)
//   auth_presence         pusher.authorizeChannel(socketId, channel, {user_id, user_info})
//   auth_user             pusher.authenticateUser(socketId, {id, user_info})
//   webhook_validate_1kb  const w = pusher.webhook({headers, rawBody}); w.isValid(); w.getData()
//                         (JSON.parse + HMAC; the library has no freshness check)
//   encrypt_1kb           the body of the library's private lib/events.js encrypt(): tweetnacl secretbox
//                         (the library's own dependency) under pusher.channelSharedSecret(channel), base64,
//                         JSON.stringify (the function is not exported, so its 10 lines are repeated here)
//   trigger_1kb           pusher.trigger(channel, event, data) with node-fetch replaced by a stub that
//                         returns at once (body JSON, body_md5, signature, signed URL; no network)
//   trigger_100_channels  the same with 100 channels
//   trigger_encrypted_1kb the same on an encrypted channel (encryption included)

import { createRequire } from "node:module"
import { readFileSync } from "node:fs"
import crypto from "node:crypto"
import path from "node:path"

const require = createRequire(path.join(process.cwd(), "noop.js"))

// node-fetch is bound when lib/requests.js loads: put a stub in its place first. The stub answers 200 with
// a synchronous thenable, so trigger() runs to completion inside the timed loop.
const fetchPath = require.resolve("node-fetch")
const response = { status: 200 }
const stub = (url, options) => ({ then: (ok) => ok(response), url, options })
require.cache[fetchPath] = { id: fetchPath, filename: fetchPath, loaded: true, exports: { default: stub } }

const Pusher = require("pusher")
const nacl = require("tweetnacl")
const naclUtil = require("tweetnacl-util")

function measure(samples, f) {
  const batch = (n) => {
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) f()
    return Number(process.hrtime.bigint() - t)
  }
  let n = 1
  while (batch(n) < 20e6) n *= 2
  const warm = process.hrtime.bigint()
  while (Number(process.hrtime.bigint() - warm) < 200e6) batch(n)
  const perOp = []
  for (let i = 0; i < samples; i++) perOp.push(batch(n) / n)
  perOp.sort((a, b) => a - b)
  return { ns: perOp[Math.floor(perOp.length / 2)], min: perOp[0], iters: n }
}

const inp = JSON.parse(readFileSync(process.argv[2], "utf8"))
const samples = Math.max(1, parseInt(process.env.BENCH_SAMPLES || "15", 10))
const pusher = new Pusher({
  appId: inp.app_id,
  key: inp.key,
  secret: inp.secret,
  useTLS: true,
  encryptionMasterKeyBase64: inp.master_key_base64,
})
const results = {}
const record = (name, f) => {
  results[name] = measure(samples, f)
  process.stderr.write(`node   ${name.padEnd(24)} ${results[name].ns.toFixed(0).padStart(10)} ns/op\n`)
}
let sink = null

const msg = Buffer.from(inp.hmac_message)
record("hmac_floor", () => (sink = crypto.createHmac("sha256", inp.secret).update(msg).digest("hex")))

record("auth_private", () => (sink = pusher.authorizeChannel(inp.socket_id, inp.private_channel)))
record(
  "auth_presence",
  () => (sink = pusher.authorizeChannel(inp.socket_id, inp.presence_channel, inp.presence_data)),
)
record("auth_user", () => (sink = pusher.authenticateUser(inp.socket_id, inp.user_data)))

const webhookRequest = {
  headers: {
    "x-pusher-key": inp.key,
    "x-pusher-signature": inp.webhook_signature,
    "content-type": "application/json",
  },
  rawBody: inp.webhook_body,
}
{
  const w = pusher.webhook(webhookRequest)
  if (!w.isValid() || w.getData().events.length !== 4) throw new Error("node: the webhook did not validate")
}
record("webhook_validate_1kb", () => {
  const w = pusher.webhook(webhookRequest)
  if (!w.isValid()) throw new Error("invalid")
  sink = w.getData()
})

// lib/events.js encrypt(pusher, channel, data), repeated verbatim (it is not exported).
function encrypt(pusher, channel, data) {
  const nonceBytes = nacl.randomBytes(24)
  const ciphertextBytes = nacl.secretbox(
    naclUtil.decodeUTF8(JSON.stringify(data)),
    nonceBytes,
    pusher.channelSharedSecret(channel),
  )
  return JSON.stringify({
    nonce: naclUtil.encodeBase64(nonceBytes),
    ciphertext: naclUtil.encodeBase64(ciphertextBytes),
  })
}
record("encrypt_1kb", () => (sink = encrypt(pusher, inp.encrypted_channel, inp.encrypt_plaintext)))

const check = (res) => {
  if (res !== response) throw new Error("node: trigger did not reach the stubbed fetch")
  return res
}
check(pusher.trigger(inp.trigger_channel, inp.trigger_event, inp.trigger_data))
record("trigger_1kb", () => (sink = pusher.trigger(inp.trigger_channel, inp.trigger_event, inp.trigger_data)))
record(
  "trigger_100_channels",
  () => (sink = pusher.trigger(inp.multi_channels, inp.multi_event, inp.multi_data)),
)
check(pusher.trigger(inp.encrypted_channel, inp.trigger_event, inp.encrypt_plaintext))
record(
  "trigger_encrypted_1kb",
  () => (sink = pusher.trigger(inp.encrypted_channel, inp.trigger_event, inp.encrypt_plaintext)),
)

if (sink === undefined) process.stderr.write("")
console.log(JSON.stringify({ runner: "node", results }))
