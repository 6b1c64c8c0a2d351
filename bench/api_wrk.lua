-- wrk script for the wangge HTTP API benchmarks (bench/bench_api.py runs it).
--
--   wrk -t2 -c32 -d15s --latency -s bench/api_wrk.lua http://127.0.0.1:PORT -- MODE POINTS_FILE
--
-- MODE:
--   health        GET /api/v1/health (the baseline)
--   locate        GET /api/v1/grids/locate?lon=..&lat=..
--   nearest       GET /api/v1/responders/nearest?lon=..&lat=..&k=5
-- POINTS_FILE has one "lon lat" pair per line.
-- Every request is built once in init(), so each mode costs wrk the same per request (a table
-- lookup): the health baseline goes through the same request() function as the measured
-- endpoints. Each thread starts at a different place in the list and walks through it, wrapping
-- around. done() prints one line "WRKJSON {...}" that the runner reads.

local counter = 0
local reqs = {}

function setup(thread)
  -- Runs in the main Lua state, once per thread, just before that thread's init().
  thread:set("tid", _setup_count or 0)
  _setup_count = (_setup_count or 0) + 1
end

function init(args)
  local mode, file = args[1], args[2]
  if mode == "health" then
    reqs[1] = wrk.format("GET", "/api/v1/health")
    counter = 0
    return
  end
  local fmt
  if mode == "locate" then
    fmt = "/api/v1/grids/locate?lon=%s&lat=%s"
  elseif mode == "nearest" then
    fmt = "/api/v1/responders/nearest?lon=%s&lat=%s&k=5"
  else
    error("unknown mode " .. tostring(mode))
  end
  local all = {}
  for line in io.lines(file) do
    local lon, lat = line:match("^(%S+)%s+(%S+)")
    if lon then all[#all + 1] = wrk.format("GET", string.format(fmt, lon, lat)) end
  end
  reqs = all
  counter = ((tid or 0) * 4999) % #reqs
end

function request()
  counter = counter + 1
  if counter > #reqs then counter = 1 end
  return reqs[counter]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
