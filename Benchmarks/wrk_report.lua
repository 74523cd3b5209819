-- Shared by the wrk scripts: one line scripts/bench parses, latencies in microseconds.
function report(summary, latency, requests)
  io.write(string.format("BENCH rps=%.1f p50=%d p99=%d p999=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
