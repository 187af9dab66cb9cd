-- wrk script of `make bench` (tools/harness/bench.py): counts each response by
-- status class and, for JSON bodies with a "version", by version; prints one
-- line `BENCH {...}` (JSON) at the end. Set by environment variables:
--   BENCH_MAX_REQUESTS  each thread stops after this many responses (bounds
--                       the count; -d bounds the time)
--   BENCH_PAUSE_MS      each connection waits this long between requests
--                       (a paced load); unset: as fast as the server answers
local max = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "") or 0
local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "")

if pause then
  -- Defined only when pacing: wrk schedules a timer per request for it.
  function delay()
    return pause
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  responses, ok, redirects, failed = 0, 0, 0, 0
  versions = {}
end

function response(status, headers, body)
  responses = responses + 1
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status < 400 then
    redirects = redirects + 1
  else
    failed = failed + 1
  end
  local version = body and body:match('"version"%s*:%s*"([^"]*)"')
  if version then
    versions[version] = (versions[version] or 0) + 1
  end
  if max > 0 and responses >= max then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total = { responses = 0, ok = 0, redirects = 0, failed = 0 }
  local seen = {}
  for _, thread in ipairs(threads) do
    for key in pairs(total) do
      total[key] = total[key] + thread:get(key)
    end
    for version, n in pairs(thread:get("versions")) do
      seen[version] = (seen[version] or 0) + n
    end
  end
  local parts = {}
  for version, n in pairs(seen) do
    table.insert(parts, string.format('"%s": %d', version, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "responses": %d, "ok": %d, ' ..
    '"redirects": %d, "http_errors": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "latency_ms": {"p50": %.2f, "p90": %.2f, "p99": %.2f, ' ..
    '"max": %.2f}, "versions": {%s}}\n',
    summary.requests, summary.duration, summary.bytes, total.responses, total.ok,
    total.redirects, total.failed, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, table.concat(parts, ", ")))
end
