-- wrk script for the patrol fix ingestion benchmark (bench/patrol_coverage.py runs it).
--
--   wrk -tN -cN -d20s --latency -s bench/patrol_wrk.lua http://127.0.0.1:PORT -- MODE LANE_PREFIX
--
-- MODE:
--   health   GET /api/v1/health (the baseline)
--   fixes    POST /api/v1/patrols/{id}/fixes, the batches in the file LANE_PREFIX<thread>.txt in order
-- One connection per thread (-t equal to -c): a thread's batches go one after the other on its one
-- connection, so each patrol's batches arrive in the order the phone would send them. A lane file
-- has one batch a line: "patrol_id<TAB>token<TAB>idempotency_key<TAB>fixes<TAB>json_body".
-- Every request is built once in init(); a lane that has sent all its batches sends health
-- requests, which are counted apart ("ran_out"). done() prints one line "WRKJSON {...}".

local threads = {}
local count = 0

function setup(thread)
  thread:set("tid", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  health = wrk.format("GET", "/api/v1/health")
  reqs, sizes = {}, {}
  n, last = 0, 0
  fix_statuses, health_statuses = {}, {}
  fixes_ok, batches_ok, ran_out = 0, 0, 0
  if mode == "fixes" then
    for line in io.lines(args[2] .. tid .. ".txt") do
      local pid, token, key, size, body = line:match("^(%d+)\t(%S+)\t(%S+)\t(%d+)\t(.*)$")
      local headers = {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. token,
        ["Idempotency-Key"] = key,
      }
      reqs[#reqs + 1] = wrk.format("POST", "/api/v1/patrols/" .. pid .. "/fixes", headers, body)
      sizes[#sizes + 1] = tonumber(size)
    end
  elseif mode ~= "health" then
    error("unknown mode " .. tostring(mode))
  end
end

function request()
  if mode == "fixes" then
    n = n + 1
    if n <= #reqs then
      last = n
      return reqs[n]
    end
    ran_out = ran_out + 1
  end
  last = 0
  return health
end

function response(status, headers, body)
  if last > 0 then
    fix_statuses[status] = (fix_statuses[status] or 0) + 1
    if status == 200 then
      batches_ok = batches_ok + 1
      fixes_ok = fixes_ok + sizes[last]
    end
  else
    health_statuses[status] = (health_statuses[status] or 0) + 1
  end
end

local function statuses_json(name)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, k in pairs(thread:get(name)) do
      total[code] = (total[code] or 0) + k
    end
  end
  local parts = {}
  for code, k in pairs(total) do
    parts[#parts + 1] = string.format('"%d":%d', code, k)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local fixes, batches, out = 0, 0, 0
  for _, thread in ipairs(threads) do
    fixes = fixes + thread:get("fixes_ok")
    batches = batches + thread:get("batches_ok")
    out = out + thread:get("ran_out")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}, ' ..
    '"fixes_ok": %d, "batches_ok": %d, "ran_out": %d, "fix_statuses": %s, "health_statuses": %s}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    fixes, batches, out, statuses_json("fix_statuses"), statuses_json("health_statuses")))
end
