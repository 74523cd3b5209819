-- wrk script: POST /api/event with a page view as the tracker script sends it (short names,
-- a browser's user agent, a page URL with a UTM parameter and a referrer); prints latency
-- percentiles in microseconds for scripts/bench to read.
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"n":"pageview","u":"https://bench.example/p%d?utm_source=news","d":"bench.example","r":"https://www.google.com/","h":0}',
    counter % 50)
  return wrk.format(nil, "/api/event", nil, body)
end

dofile("Benchmarks/wrk_report.lua")
done = report
