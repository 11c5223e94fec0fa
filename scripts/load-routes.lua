-- wrk script for scripts/load-routes: a mix of valid and forged requests on the auth and webhook routes.
--
-- Kinds, in rotation:
--   auth_ok        POST /pusher/auth, Cookie user=alice, channel private-user-alice  -> expect 200
--   auth_forged    POST /pusher/auth, Cookie user=alice, channel private-user-bob    -> expect 403
--   webhook_ok     POST /pusher/webhooks, correctly signed, fresh time_ms            -> expect 200
--   webhook_forged POST /pusher/webhooks, the same bodies signed with a wrong secret -> expect 401
--
-- The webhook bodies and signatures are made by scripts/load-routes (HMAC-SHA256 needs a library LuaJIT does
-- not have) and read from the file named by LOAD_ROUTES_DATA, a Lua chunk returning
-- { {body=..., sig=..., forged=...}, ... }.
--
-- Run with as many threads as connections (-t N -c N): each thread then has one connection with at most one
-- request in flight, so the response() after a request() is that request's answer, and every response is
-- attributed to the kind that was sent. done() prints one line: "LOADRESULT key=value ...", with sent_<kind>
-- (requests written), got_<kind>_<status> (responses), inflight (unanswered when wrk stopped) and mismatches
-- (responses whose status is not the expected one, or a 200 auth without a signature).

local expected = { auth_ok = 200, auth_forged = 403, webhook_ok = 200, webhook_forged = 401 }
local kinds = { "auth_ok", "auth_forged", "webhook_ok", "webhook_forged" }

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("LOAD_ROUTES_DATA")
  hooks = dofile(path)
  sent = {}
  got = {} -- got["kind status"] = n
  mismatches = 0
  for _, k in ipairs(kinds) do sent[k] = 0 end
  n = id -- start the rotation at a different place in each thread
  pending = nil
  local form = "application/x-www-form-urlencoded"
  local cookie = "user=alice"
  reqs = {
    auth_ok = wrk.format("POST", "/pusher/auth",
      { ["Content-Type"] = form, ["Cookie"] = cookie },
      "socket_id=1234.5678&channel_name=private-user-alice"),
    auth_forged = wrk.format("POST", "/pusher/auth",
      { ["Content-Type"] = form, ["Cookie"] = cookie },
      "socket_id=1234.5678&channel_name=private-user-bob"),
  }
end

function request()
  n = n + 1
  local kind = kinds[(n % 4) + 1]
  pending = kind
  sent[kind] = sent[kind] + 1
  if kind == "auth_ok" or kind == "auth_forged" then
    return reqs[kind]
  end
  local h = hooks[(math.floor(n / 4) % #hooks) + 1]
  local sig = h.sig
  if kind == "webhook_forged" then sig = h.forged end
  return wrk.format("POST", "/pusher/webhooks", {
    ["Content-Type"] = "application/json",
    ["X-Pusher-Key"] = "app-key",
    ["X-Pusher-Signature"] = sig,
  }, h.body)
end

function response(status, headers, body)
  local kind = pending
  pending = nil
  if kind == nil then
    mismatches = mismatches + 1
    return
  end
  local key = kind .. " " .. status
  got[key] = (got[key] or 0) + 1
  if status ~= expected[kind] then
    mismatches = mismatches + 1
  elseif kind == "auth_ok" and not string.find(body, '"auth":"app-key:', 1, true) then
    -- A 200 must carry the signature.
    mismatches = mismatches + 1
  end
end

function done(summary, latency, requests)
  local total_sent = {}
  local total_got = {}
  local total_mis = 0
  local inflight = 0
  for _, t in ipairs(threads) do
    if t:get("pending") ~= nil then inflight = inflight + 1 end
    local s = t:get("sent")
    local g = t:get("got")
    total_mis = total_mis + t:get("mismatches")
    for k, v in pairs(s) do total_sent[k] = (total_sent[k] or 0) + v end
    for k, v in pairs(g) do total_got[k] = (total_got[k] or 0) + v end
  end
  local out = { "LOADRESULT" }
  table.insert(out, string.format("requests=%d", summary.requests))
  table.insert(out, string.format("duration_us=%d", summary.duration))
  table.insert(out, string.format("errors=%d", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
  table.insert(out, string.format("non2xx3xx=%d", summary.errors.status))
  table.insert(out, string.format("mismatches=%d", total_mis))
  -- Requests still unanswered when wrk stopped (at most one per connection); they are not in got_*.
  table.insert(out, string.format("inflight=%d", inflight))
  for _, k in ipairs(kinds) do
    table.insert(out, string.format("sent_%s=%d", k, total_sent[k] or 0))
  end
  for k, v in pairs(total_got) do
    table.insert(out, string.format("got_%s=%d", k:gsub(" ", "_"), v))
  end
  table.insert(out, string.format("p50_us=%d", latency:percentile(50)))
  table.insert(out, string.format("p99_us=%d", latency:percentile(99)))
  io.write(table.concat(out, " ") .. "\n")
end
