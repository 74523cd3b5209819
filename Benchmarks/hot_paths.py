"""Scenario 12 of scripts/bench: the hot paths of issue 14, the build before them next to this one.

Same servers, same run, the two builds and this build with jemalloc preloaded (`ALLOCATOR=jemalloc`), in rotating order: `POST /event` next to the bare Hummingbird
handler (wrk -c64), `POST /api/event` with the tracker script's body next to the same handler,
`POST /events` with 1,000-event batches next to redis-benchmark's LPUSH
ceiling, and one Worker's CPU per event while it drains a queue of page views that carry what
ingest captures for enrichment (address, user agent, URL, referrer) into nx-27017.
"""
import os

import bench
from harness import free_port

WITH_ALLOCATOR = os.path.join(bench.ROOT, "scripts", "with-allocator")
ACCEPTANCE = {"ratio": 0.8, "p99_ms": 5.0, "batch": 400_000, "worker_us": 5.0}


def visit_payloads(count):
    """Queued page views as ingest writes them for `/event` with a browser's headers."""
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    return [f'{{"event_id":"h-{i}","site_id":"bench","event_type":"page_view","path":"/p{i % 50}","timestamp":1763916271123,'
            f'"received_at":1763916271123,"client":{{"ip":"10.{i % 7}.{i % 200}.{i % 250}","ua":"{ua}",'
            f'"url":"https://bench.example/p{i % 50}?utm_source=news","ref":"https://www.google.com/"}}}}' for i in range(count)]


def checked(result, name):
    """A wrk result in which every request was answered 2xx: a refusal is not throughput."""
    if result["failed"]:
        raise RuntimeError(f"hot-paths: {name}: {result['failed']} requests failed or were answered non-2xx")
    return result


def drain_cpu_us(servers, worker, prefix, database, count, allocator):
    """One Worker drains `count` queued page views; its CPU (user + system) per event, in µs."""
    bench.push_payloads(servers, visit_payloads(count), prefix)
    proc = bench.start([WITH_ALLOCATOR, worker], dict(servers.env(database, prefix), ALLOCATOR=allocator))
    try:
        bench.wait_drained(servers, prefix)
        return bench.cpu_seconds(proc.pid) / count * 1e6
    finally:
        bench.stop(proc)
        servers.mongo_drop(database)


def middle(values, higher_is_better):
    """The median; of an even count, the less flattering of the two middle values."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2] if higher_is_better else ordered[len(ordered) // 2]


def scenario_hot_paths(servers, args, report):
    """12. the hot paths (issue 14): the build before them next to this one, alternating; this build with jemalloc too."""
    builds = {"before": os.path.join(args.before, ".build", "release"), "after": bench.BIN, "jemalloc": bench.BIN}
    # `jemalloc` is this build under ALLOCATOR=jemalloc (scripts/with-allocator): the same binaries, malloc preloaded.
    # Every process starts as the Procfile starts it, through scripts/with-allocator (which execs,
    # so the pid measured is the executable's); it stops the run if jemalloc is missing.
    allocators = {"before": "system", "after": "system", "jemalloc": "jemalloc"}
    sides = list(builds)
    for side, path in builds.items():
        for exe in ("IngestAPI", "Worker"):
            if not os.access(os.path.join(path, exe), os.X_OK):
                raise SystemExit(f"hot-paths: {os.path.join(path, exe)} missing: build it with `swift build -c release` "
                                 f"in {os.path.dirname(os.path.dirname(path))} (--before, a checkout of the code before issue 14)")
    ports = {"bare": free_port(), **{side: free_port() for side in sides}}
    procs = {"bare": bench.start([bench.BARE], dict(servers.env("hot_bare"), PORT=str(ports["bare"])), ports["bare"])}
    for side, path in builds.items():
        # No high-water mark: a 5 s batch run queues about 2M events, and 503s past QUEUE_MAX would count as throughput.
        env = dict(servers.env(f"hot_{side}", f"h{side}:"), QUEUE_MAX="0", ALLOCATOR=allocators[side])
        procs[side] = bench.start([WITH_ALLOCATOR, os.path.join(path, "IngestAPI"), "--port", str(ports[side])], env, ports[side])
    single = {name: [] for name in ports}
    plausible = {side: [] for side in sides}  # POST /api/event, the path the tracker script posts to
    batch = {side: [] for side in sides}
    ceiling, cpu = [], {side: [] for side in sides}
    try:
        for run in range(args.runs):
            order = sides[run % 3:] + sides[:run % 3]  # rotated: over three runs each side runs first, middle and last
            for name in ["bare"] + order:
                single[name].append(checked(bench.wrk(ports[name], "post_event.lua", args.duration, args.connections), name))
            for side in order:
                plausible[side].append(checked(bench.wrk(ports[side], "post_visit.lua", args.duration, args.connections, path="/api/event",
                                                          env=dict(os.environ, KIND="plausible")), side))
            out = bench.subprocess.run(["redis-benchmark", "-p", str(servers.redis_port), "-t", "lpush", "-P", "16", "-q", "-n", "500000"],
                                       capture_output=True, text=True, check=True).stdout
            ceiling.append(float(bench.re.search(r"LPUSH: ([\d.]+) requests per second", out.replace("\r", "\n")).group(1)))
            servers.redis("DEL", "mylist")
            for side in order:
                result = bench.wrk(ports[side], "post_batch.lua", args.duration, 16, path="/events", env=dict(os.environ, BATCH="1000"))
                batch[side].append(checked(result, side)["rps"] * 1000)
                servers.redis("DEL", f"h{side}:queue")
            print(f"  hot paths run {run + 1}: /event bare {single['bare'][-1]['rps']:,.0f}, "
                  + ", ".join(f"{side} {single[side][-1]['rps']:,.0f}" for side in sides) + " req/s; /api/event "
                  + ", ".join(f"{side} {plausible[side][-1]['rps']:,.0f}" for side in sides) + " req/s; /events "
                  + ", ".join(f"{side} {batch[side][-1]:,.0f}" for side in sides) + " ev/s")
    finally:
        for proc in procs.values():
            bench.stop(proc)
    for run in range(min(args.runs, 2)):
        for side in sides[run % 3:] + sides[:run % 3]:
            cpu[side].append(drain_cpu_us(servers, os.path.join(builds[side], "Worker"), f"w{run}{side}:", f"hot_drain_{side}",
                                          args.drain_events, allocators[side]))
        print(f"  hot paths drain {run + 1}: worker CPU " + ", ".join(f"{side} {cpu[side][-1]:.1f}" for side in sides) + " µs/event")

    spread = bench.spread
    to_bare = {side: [s["rps"] / b["rps"] for s, b in zip(single[side], single["bare"])] for side in sides}

    def verdict(values, ok, higher_is_better):
        """Acceptance on this build's median, with the default allocator and with jemalloc."""
        return " / ".join(f"{name}: {'met' if ok(middle(values[side], higher_is_better)) else '**not met**'}"
                          for name, side in (("glibc", "after"), ("jemalloc", "jemalloc")))

    def row(what, values, fmt, baseline, acceptance, ok, higher_is_better=True):
        """A table row: the three sides' spreads, the baseline, and the verdict when there is an acceptance."""
        cells = " | ".join(spread(values[side], fmt) for side in sides)
        return f"| {what} | {cells} | {baseline} | {acceptance}: {verdict(values, ok, higher_is_better)} |" if acceptance else f"| {what} | {cells} | {baseline} | |"

    p99 = {side: [r["p99"] for r in single[side]] for side in sides}
    lines = [f"### 12. Hot paths (issue 14): before, after, and after with jemalloc, same run ({args.runs} runs, the order rotated; "
             f"drains: {len(cpu['after'])})", "",
             f"Measured at commit `{bench.git_head(bench.ROOT)}`; the machine's "
             "speed varies between runs, so compare each figure only with its same-run baseline. "
             f"Before is `{bench.git_head(args.before)}`, after is this build, and after with jemalloc is this build under "
             f"`ALLOCATOR=jemalloc` (`scripts/with-allocator`: Debian's libjemalloc2 preloaded). `/event`: wrk -t1 -c{args.connections} "
             f"-d{args.duration}s with scenario 1's body; `/api/event`: the same wrk with the tracker script's body and a browser's "
             f"user agent (`Benchmarks/post_visit.lua`, `KIND=plausible`; without `TRUST_PROXY` every request comes from loopback), "
             f"its ratio taken to the bare handler's `/event` run; `/events`: wrk -t1 -c16 -d{args.duration}s, 1,000 page views per request; "
             f"drain: one Worker, {args.drain_events:,} queued page views carrying address, user agent, URL and referrer (so the visit "
             "enrichment runs), into nx-27017.", "",
             "| what | before | after | after, jemalloc | baseline (same run) | acceptance (on the median; of an even count, the worse middle value) |", "| --- | --- | --- | --- | --- | --- |",
             row("`POST /event` req/s", {side: [r["rps"] for r in single[side]] for side in sides}, "{:,.0f}",
                 f"bare handler {spread([r['rps'] for r in single['bare']])}", None, None),
             row("`POST /event` ratio to bare", to_bare, "{:.2f}", "1.00", f"≥ {ACCEPTANCE['ratio']}", lambda v: v >= ACCEPTANCE["ratio"]),
             row("`POST /event` p99 ms", p99, "{:.2f}", f"bare {spread([r['p99'] for r in single['bare']], '{:.2f}')}",
                 f"≤ {ACCEPTANCE['p99_ms']}", lambda v: v <= ACCEPTANCE["p99_ms"], higher_is_better=False),
             row("`POST /api/event` req/s", {side: [r["rps"] for r in plausible[side]] for side in sides}, "{:,.0f}",
                 f"bare handler {spread([r['rps'] for r in single['bare']])}", None, None),
             row("`POST /api/event` ratio to bare", {side: [p["rps"] / b["rps"] for p, b in zip(plausible[side], single["bare"])] for side in sides},
                 "{:.2f}", "1.00", None, None),
             row("`POST /api/event` p99 ms", {side: [r["p99"] for r in plausible[side]] for side in sides}, "{:.2f}",
                 f"bare {spread([r['p99'] for r in single['bare']], '{:.2f}')}", None, None),
             row("`POST /events` ×1,000, events/s", batch, "{:,.0f}", f"LPUSH ceiling {spread(ceiling)}", "≥ 400,000",
                 lambda v: v >= ACCEPTANCE["batch"]),
             row("Worker CPU µs per event", cpu, "{:.1f}", "", f"≤ {ACCEPTANCE['worker_us']}", lambda v: v <= ACCEPTANCE["worker_us"], higher_is_better=False), ""]
    return lines
