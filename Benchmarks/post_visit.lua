-- wrk script: a page view as a browser sends it, with the headers visits read: a real
-- browser's User-Agent (bots are dropped before the queue), X-Forwarded-For (read with
-- TRUST_PROXY=1) and the Referer a cross-origin fetch carries. Visitor k (10,000 of them)
-- always has the same address, browser and userid. KIND=event posts our /event body;
-- KIND=plausible posts the Plausible Events API body to /api/event. With COUNT set, exactly
-- COUNT events are posted and wrk stops once all are answered 202 (used to fill the queue);
-- connections still open then send OPTIONS, which queue nothing.
local kind = os.getenv("KIND") or "event"
local count = tonumber(os.getenv("COUNT") or "0")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local agents = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
}
-- First octets of public unicast ranges (RIPE, ARIN, APNIC, LACNIC, AFRINIC allocations).
local firsts = { 2, 5, 24, 31, 37, 41, 46, 50, 58, 62, 68, 73, 78, 81, 86, 89, 91, 95, 98, 101, 109, 110, 119, 124, 151,
  176, 177, 181, 185, 188, 190, 193, 195, 197, 201, 212, 213, 217 }

local function address(k)
  return string.format("%d.%d.%d.%d", firsts[k % #firsts + 1], (k * 7 + 11) % 256, (k * 13 + 5) % 256, 1 + k % 254)
end

local plausible = '{"n":"pageview","u":"https://shop.example/pricing?utm_source=x","d":"shop.example","r":"https://www.google.com/"}'
local sent, answered = 0, 0
-- wrk calls request() once before the run to check the script (script_verify_request) and
-- sends nothing of it; with COUNT set, that first call is an uncounted OPTIONS.
local first = count > 0

request = function()
  if first or (count > 0 and sent >= count) then
    first = false
    return wrk.format("OPTIONS", "/event")
  end
  sent = sent + 1
  local k = sent % 10000
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = agents[k % #agents + 1],
    ["X-Forwarded-For"] = address(k),
    ["Referer"] = "https://shop.example/",
  }
  if kind == "plausible" then
    return wrk.format(nil, "/api/event", headers, plausible)
  end
  -- The time of sending, as a tracker sends it: an event far in the past is stored without a
  -- visit lookup in Redis, so post_event.lua's fixed 2025 timestamp would leave that cost out.
  local body = string.format(
    '{"site_id":"bench","event_type":"page_view","path":"/p%d","userid":"user-%d","timestamp":"%s"}',
    sent % 50, k, os.date("!%Y-%m-%dT%H:%M:%S.000Z"))
  return wrk.format(nil, "/event", headers, body)
end

if count > 0 then
  response = function(status, headers, body)
    if status == 202 then
      answered = answered + 1
      if answered >= count then wrk.thread:stop() end
    end
  end
end

dofile("Benchmarks/wrk_report.lua")
done = report
