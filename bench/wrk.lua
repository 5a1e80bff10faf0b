-- wrk script of the benchmark (bench/load.py drives it through environment variables):
--   BENCH_METHOD   GET or POST
--   BENCH_BODY     path of a file whose bytes are the body (POST)
--   BENCH_AUTH     a bearer token, or empty
--   BENCH_IDEM     a prefix: each request gets Idempotency-Key <prefix>-<thread>-<n>, or empty
-- and prints one line "BENCHJSON {...}" with the figures when done.

local method = os.getenv("BENCH_METHOD") or "GET"
local body = nil
local body_file = os.getenv("BENCH_BODY") or ""
if body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  body = f:read("*a")
  f:close()
end
local auth = os.getenv("BENCH_AUTH") or ""
local idem = os.getenv("BENCH_IDEM") or ""

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

local n = 0

function request()
  n = n + 1
  -- wrk.format takes these headers instead of wrk.headers, so every one is set here.
  local headers = {["Content-Type"] = "application/json"}
  if auth ~= "" then
    headers["Authorization"] = "Bearer " .. auth
  end
  if idem ~= "" then
    headers["Idempotency-Key"] = idem .. "-" .. tostring(tid) .. "-" .. tostring(n)
  end
  return wrk.format(method, nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "status_errors": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end
