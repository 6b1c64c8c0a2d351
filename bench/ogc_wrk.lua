-- wrk script for bench/ogc_servers.py: GET each path of a file in turn, wrapping around.
--
--   wrk -t2 -c32 -d15s --latency -s bench/ogc_wrk.lua http://127.0.0.1:PORT -- PATHS_FILE
--
-- PATHS_FILE has one request path (with its query string) per line. Every request is built once
-- in init(), so each server costs wrk the same per request. Each thread starts at a different
-- place in the list. done() prints one line "WRKJSON {...}" that the runner reads.

local counter = 0
local reqs = {}

function setup(thread)
  thread:set("tid", _setup_count or 0)
  _setup_count = (_setup_count or 0) + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then reqs[#reqs + 1] = wrk.format("GET", line) end
  end
  counter = ((tid or 0) * 97) % #reqs
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
