-- The wrk script of scripts/bench-http, for every scenario.
--
-- Environment:
--   WRK_METHOD, WRK_BODY (JSON unless WRK_CONTENT_TYPE says otherwise): request shape.
--   WRK_TOKENS: a file of tokens, one per line; each request presents the next one
--     (`Authorization: Token <key>`), starting at a random line per thread, so a run
--     walks over many tokens as real clients do; WRK_MAX_TOKENS: how many (the first N
--     lines of the file, default 10,000). The requests are formatted once, in
--     init, so that the load generator spends no more per request than with -H.
-- done() prints one RESULT line (requests/s, latency percentiles in ms, errors).

local method = os.getenv("WRK_METHOD")
if method and method ~= "" then wrk.method = method end
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/json"
end

local requests = nil
local next_request = 1
-- Each thread formats at most this many distinct requests, from the top of the file
-- (WRK_MAX_TOKENS, default 10,000): the working set, the same for every thread.
local MAX_REQUESTS = tonumber(os.getenv("WRK_MAX_TOKENS") or "") or 10000

local tokens_path = os.getenv("WRK_TOKENS")
if tokens_path == "" then tokens_path = nil end

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

function init(args)
  if not tokens_path then return end
  local path = tokens_path
  local file = assert(io.open(path, "r"))
  requests = {}
  for line in file:lines() do
    if #requests >= MAX_REQUESTS then break end
    if line ~= "" then
      local headers = {}
      for k, v in pairs(wrk.headers) do headers[k] = v end
      headers["Authorization"] = "Token " .. line
      requests[#requests + 1] = wrk.format(nil, nil, headers, nil)
    end
  end
  file:close()
  assert(#requests > 0, "no tokens in " .. path)
  math.randomseed(os.time() * 16 + (thread_id or 0))
  next_request = math.random(#requests)
end

-- Defined only with tokens: without a request() function wrk sends its one
-- preformatted request, the cheapest path, for /healthz and logins.
if tokens_path then
  function request()
    local r = requests[next_request]
    next_request = next_request % #requests + 1
    return r
  end
end

function done(summary, latency, requests_)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "non2xx3xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
