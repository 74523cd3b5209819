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

done = function(summary, latency, requests)
  io.write(string.format("BENCH rps=%.1f p50=%d p99=%d p999=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
