-- Mixed load for bench/bench_load.py: locate, list and public hazard reports, one third each
-- (or reports alone). Arguments after "--": TITLE_PREFIX WRITE_UNTIL(unix s) MODE POINTS_FILE
-- Reports stop at WRITE_UNTIL (health checks take their place), so that no report is still in
-- flight when wrk stops: every stored report then had its answer counted.

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

function init(args)
   prefix = args[1]
   write_until = tonumber(args[2])
   mode = args[3]
   points = {}
   for line in io.lines(args[4]) do
      local lon, lat = line:match("([^,]+),([^,]+)")
      table.insert(points, {lon, lat})
   end
   n = 0
   statuses = {}
   sent_reports = 0
   in_window = 0
end

local json_headers = {["Content-Type"] = "application/json"}

function request()
   n = n + 1
   local p = points[(n * 7 + tid * 131) % #points + 1]
   local k = n % 3
   if mode == "reports" then k = 2 end
   if k == 2 then
      if os.time() >= write_until then
         return wrk.format("GET", "/api/v1/health")
      end
      sent_reports = sent_reports + 1
      local body = string.format(
         '{"type":"Feature","geometry":{"type":"Point","coordinates":[%s,%s]},' ..
         '"properties":{"kind":"hazard","category":"fire_safety","title":"%s-%d-%d"}}',
         p[1], p[2], prefix, tid, n)
      return wrk.format("POST", "/api/v1/incidents", json_headers, body)
   elseif k == 1 then
      return wrk.format("GET", "/api/v1/incidents?limit=20&offset=" .. (n % 50))
   end
   return wrk.format("GET", "/api/v1/grids/locate?lon=" .. p[1] .. "&lat=" .. p[2])
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if os.time() < write_until then
      in_window = in_window + 1  -- answered while the full mix was being sent
   end
end

function done(summary, latency, requests)
   local total = {}
   local window_total = 0
   for _, thread in ipairs(threads) do
      window_total = window_total + thread:get("in_window")
      local s = thread:get("statuses")
      for code, count in pairs(s) do
         total[code] = (total[code] or 0) + count
      end
   end
   local parts = {}
   for code, count in pairs(total) do
      table.insert(parts, string.format('"%d":%d', code, count))
   end
   io.write(string.format(
      'WRKJSON {"requests":%d,"in_window":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"p50_ms":%.2f,"p99_ms":%.2f,"statuses":{%s}}\n',
      summary.requests, window_total, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
      summary.errors.status, summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      table.concat(parts, ",")))
end
