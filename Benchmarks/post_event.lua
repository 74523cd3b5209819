-- wrk script: POST /event with a page view (a distinct userid per request keeps payloads
-- realistic); prints latency percentiles in microseconds for scripts/bench to read.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"site_id":"bench","event_type":"page_view","path":"/p%d","userid":"user-%d","timestamp":"2025-11-23T16:44:31.123Z"}',
    counter % 50, counter % 10000)
  return wrk.format(nil, "/event", nil, body)
end

dofile("Benchmarks/wrk_report.lua")
done = report
