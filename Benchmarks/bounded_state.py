"""Bounded state: drains events through content throttling in chunks and samples Redis's
used_memory (INFO memory), to show that throttle state does not grow with the event count.

Two workloads, each at several sizes (default 100k and 1M events):
  (a) "under": a fixed window nobody exceeds, 10,000 distinct identities (50 paths x 10,000 users);
  (b) "flood": identical events (distinct ids), fixed window limit 5, summaries every 10 s.
The queue itself holds events, so events are pushed 10k at a time and used_memory is sampled
each time the worker has drained the queue: the figure is the state left behind, not the queue.

Run by `scripts/bench --only bounded-state` (or directly, after `swift build -c release`):
  .venv/bin/python Benchmarks/bounded_state.py [--sizes 100000,1000000] [--chunk 10000]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, Servers, push_payloads, start, stop  # noqa: E402

STAMP = 1763916271123


def payloads(mode, first, count, run):
    if mode == "under":
        return [f'{{"event_id":"{run}-{i}","site_id":"bench","event_type":"page_view","path":"/p{i % 50}","userid":"user-{i % 10000}",'
                f'"timestamp":{STAMP},"received_at":{STAMP}}}' for i in range(first, first + count)]
    return [f'{{"event_id":"{run}-{i}","site_id":"bench","event_type":"page_view","path":"/flood","userid":"bot",'
            f'"timestamp":{STAMP},"received_at":{STAMP}}}' for i in range(first, first + count)]


def used_memory(servers):
    for line in servers.redis("INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return 0


def drained(servers, prefix):
    if servers.redis("LLEN", prefix + "queue") != "0":
        return False
    workers = [w for w in servers.redis("ZRANGE", prefix + "workers", 0, -1).split("\n") if w]
    return all(servers.redis("LLEN", f"{prefix}processing:{w}") == "0" for w in workers)


def run(servers, mode, total, chunk):
    """One drain of `total` events; returns a dict of figures (bytes, keys, seconds)."""
    prefix = f"bs{mode}{total}:"
    servers.redis("FLUSHALL")
    env = servers.env(f"bounded_{mode}_{total}", prefix)
    env.update(WORKER_CONCURRENCY="2", THROTTLE_STRATEGY="fixed-window", THROTTLE_WINDOW_MS="3600000")
    if mode == "under":
        env.update(THROTTLE_LIMIT="1000000")
    else:
        env.update(THROTTLE_LIMIT="5", THROTTLE_DEFER_INTERVAL_MS="10000")
    time.sleep(0.5)
    before = used_memory(servers)
    worker = start([os.path.join(BIN, "Worker")], env)
    peak, peak_keys, samples = before, 0, 0
    started = time.time()
    for first in range(0, total, chunk):
        push_payloads(servers, payloads(mode, first, min(chunk, total - first), mode), prefix)
        while not drained(servers, prefix):
            time.sleep(0.02)
        memory = used_memory(servers)
        samples += 1
        if memory > peak:
            peak, peak_keys = memory, int(servers.redis("DBSIZE"))
    seconds = time.time() - started
    stop(worker)
    after = used_memory(servers)
    throttle_keys = int(servers.redis("ZCARD", prefix + "throttle:keys") or 0)
    stats = dict(zip(*[iter(servers.redis("HGETALL", prefix + "throttle:stats").split("\n"))] * 2))
    return dict(mode=mode, total=total, before=before, peak=peak, after=after, peak_keys=peak_keys, keys_after=int(servers.redis("DBSIZE")),
                index=throttle_keys, seconds=seconds, samples=samples, stats=stats)


def mib(n):
    return f"{n / 2**20:.2f}"


def table(results, command):
    lines = ["### 8. Bounded throttle state (Redis used_memory while draining through throttling)", "",
             f"`{command}`: one Worker (2 claim loops) drains N events pushed 10k at a time; used_memory is sampled each "
             "time the queue and processing lists are empty, so it measures the state throttling leaves in Redis, not the queue.",
             "(a) a fixed window nobody exceeds over 10,000 identities; (b) a flood of identical events (limit 5, summaries every 10 s).",
             "", "| workload | events | before MiB | peak MiB | after MiB | keys at peak | tracked keys (index) | events/s | outcomes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        outcomes = ", ".join(f"{k} {int(v):,}" for k, v in sorted(r["stats"].items()) if k != "tracked")
        lines.append(f"| {'(a) under the limit' if r['mode'] == 'under' else '(b) flood'} | {r['total']:,} | {mib(r['before'])} | "
                     f"{mib(r['peak'])} | {mib(r['after'])} | {r['peak_keys']:,} | {r['index']:,} | {r['total'] / r['seconds']:,.0f} | {outcomes} |")
    lines.append("")
    return lines


def scenario_bounded_state(servers, args, report=None):
    """8. bounded throttle state: Redis used_memory draining 100k and 1M events through throttling."""
    results = []
    for mode in ("under", "flood"):
        for total in args.sizes:
            r = run(servers, mode, total, args.chunk)
            results.append(r)
            print(f"  {mode} {total:,}: before {mib(r['before'])} MiB, peak {mib(r['peak'])} MiB, after {mib(r['after'])} MiB, "
                  f"{r['peak_keys']:,} keys at peak, {r['total'] / r['seconds']:,.0f} events/s", flush=True)
    return table(results, args.command)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated event counts per workload")
    parser.add_argument("--chunk", type=int, default=10_000, help="events pushed before waiting for the drain")
    args = parser.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.command = "scripts/bench --only bounded-state" + (f" --sizes {','.join(map(str, args.sizes))}" if args.sizes != [100000, 1000000] else "")
    servers = Servers()
    try:
        print("\n".join(scenario_bounded_state(servers, args)))
    finally:
        servers.close()


if __name__ == "__main__":
    main()
