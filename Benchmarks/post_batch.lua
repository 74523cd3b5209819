-- wrk script: POST /events with a batch of BATCH page views (set by the environment).
local size = tonumber(os.getenv("BATCH") or "100")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local parts = {}
for i = 1, size do
  parts[i] = string.format(
    '{"site_id":"bench","event_type":"page_view","path":"/p%d","userid":"user-%d","timestamp":"2025-11-23T16:44:31.123Z"}', i % 50, i)
end
wrk.body = "[" .. table.concat(parts, ",") .. "]"
wrk.path = "/events"

dofile("Benchmarks/wrk_report.lua")
done = report
