"""Runs the benchmark scenarios against servers of its own and writes BENCHMARKS.md.

Every number is reported next to a baseline measured in the same run, alternating
baseline and product runs so that a noisy neighbour hurts both alike.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from harness import free_cluster_port, free_port, wait_port  # noqa: E402
BIN = os.path.join(ROOT, ".build", "release")
BARE = os.path.join(ROOT, "Benchmarks", "BareServer", ".build", "release", "BareServer")
RAW_MONGO = os.path.join(ROOT, ".build", "bench", "raw_mongo")
LOADGEN = os.path.join(ROOT, "Benchmarks", "LoadGen", ".build", "release", "LoadGen")
STATS_START_MS = 1_759_276_800_000  # 2025-10-01T00:00:00Z: the stats data set covers 30 days from here
STATS_DAY = "2025-10-16"            # the day asked about, mid-range
NX = os.path.join(ROOT, ".venv", "bin", "nx-27017")


class Servers:
    """redis-server (AOF everysec, as shipped) and nx-27017 in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bench-")
        self.redis_port, self.mongo_port = free_port(), free_port()
        os.makedirs(f"{self.dir}/redis")
        os.makedirs(f"{self.dir}/mongo")
        self.procs = [
            subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", f"{self.dir}/redis",
                              "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction"],
                             stdout=subprocess.DEVNULL),
            subprocess.Popen([NX, "--data-dir", f"{self.dir}/mongo", "--port", str(self.mongo_port), "--log-file", f"{self.dir}/nx.log",
                              "--pid-file", f"{self.dir}/nx.pid"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        wait_port(self.redis_port)
        wait_port(self.mongo_port)

    def redis(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.redis_port), *map(str, args)], capture_output=True, text=True, check=True).stdout.strip()

    def env(self, database, prefix="et:"):
        env = dict(os.environ)
        env.update(REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0", MONGO_URI=f"mongodb://127.0.0.1:{self.mongo_port}/{database}",
                   QUEUE_PREFIX=prefix, LOG_LEVEL="error")
        return env

    def mongo_drop(self, database):
        """Drops a database through the raw client, so a big data set does not slow later scenarios."""
        subprocess.run([RAW_MONGO, "drop", f"mongodb://127.0.0.1:{self.mongo_port}/{database}", "-", "-"], check=False, capture_output=True)

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def start(cmd, env, port=None):
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if port:
        wait_port(port)
    return proc


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port, script, duration, connections, path="/event", env=None):
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", os.path.join(ROOT, "Benchmarks", script),
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, env=env, cwd=ROOT, check=True).stdout
    match = re.search(r"BENCH rps=([\d.]+) p50=(\d+) p99=(\d+) p999=(\d+) errors=(\d+) non2xx=(\d+)", out)
    if not match:
        raise RuntimeError(out)
    rps, p50, p99, p999, errors, non2xx = match.groups()
    if int(non2xx) or int(errors):
        print(f"  warning: {errors} socket errors, {non2xx} non-2xx answers")
    requests = re.search(r"(\d+) requests in", out)
    return dict(rps=float(rps), p50=int(p50) / 1000, p99=int(p99) / 1000, p999=int(p999) / 1000,
                requests=int(requests.group(1)) if requests else None, failed=int(errors) + int(non2xx))


def spread(values, fmt="{:,.0f}"):
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def scenario_ingest(servers, args, report):
    """1. single-event ingest next to a bare Hummingbird handler."""
    api_port, bare_port = free_port(), free_port()
    env = servers.env("bench_ingest")
    bare_env = dict(env, PORT=str(bare_port))
    results = {"bare": [], "ingest": []}
    api = start([os.path.join(BIN, "IngestAPI"), "--port", str(api_port)], env, api_port)
    bare = start([BARE], bare_env, bare_port)
    for run in range(args.runs):
        results["bare"].append(wrk(bare_port, "post_event.lua", args.duration, args.connections))
        results["ingest"].append(wrk(api_port, "post_event.lua", args.duration, args.connections))
        servers.redis("DEL", "et:queue")
        print(f"  ingest run {run + 1}: bare {results['bare'][-1]['rps']:,.0f} req/s, IngestAPI {results['ingest'][-1]['rps']:,.0f} req/s")
    report["rss_api"] = peak_rss_mib(api.pid)
    stop(api)
    stop(bare)
    ratio = [i["rps"] / b["rps"] for i, b in zip(results["ingest"], results["bare"])]
    lines = [f"### 1. Single-event ingest (`POST /event`, wrk -t1 -c{args.connections} -d{args.duration}s, {args.runs} runs)", "",
             "| server | req/s | p50 ms | p99 ms | p99.9 ms |", "| --- | --- | --- | --- | --- |"]
    for name, label in (("bare", "bare Hummingbird handler (baseline)"), ("ingest", "IngestAPI (validate + LPUSH, group commit)")):
        rows = results[name]
        lines.append(f"| {label} | {spread([r['rps'] for r in rows])} | {spread([r['p50'] for r in rows], '{:.2f}')} | "
                     f"{spread([r['p99'] for r in rows], '{:.2f}')} | {spread([r['p999'] for r in rows], '{:.2f}')} |")
    lines += ["", f"Ratio IngestAPI / bare, per run: {spread(ratio, '{:.2f}')}×.", ""]
    report["ingest_peak"] = statistics.median(r["rps"] for r in results["ingest"])
    return lines


def loadgen(port, rate, duration, warmup, connections, body_file):
    out = subprocess.run([LOADGEN, "--url", f"http://127.0.0.1:{port}/event", "--rate", str(int(rate)), "--duration", str(duration),
                          "--warmup", str(warmup), "--connections", str(connections), "--body-file", body_file],
                         capture_output=True, text=True, check=True)
    match = re.search(r"BENCH rate=\d+ achieved=([\d.]+) p50=([\d.]+) p99=([\d.]+) p999=([\d.]+) max=([\d.]+) errors=(\d+) non2xx=(\d+)",
                      out.stdout)
    if not match:
        raise RuntimeError(out.stdout + out.stderr)
    achieved, p50, p99, p999, _, errors, non2xx = match.groups()
    if int(errors) or int(non2xx):
        print(f"  warning: {errors} errors, {non2xx} non-2xx answers")
    return dict(achieved=float(achieved), p50=float(p50), p99=float(p99), p999=float(p999))


def scenario_fixed_rate(servers, args, report):
    """2. latency at 50% and 80% of the measured peak, open loop, next to the bare handler at the same rates."""
    peak = report.get("ingest_peak")
    if not peak:
        peak = wrk_once(servers, args)["rps"]
    api_port, bare_port = free_port(), free_port()
    env = servers.env("bench_rate")
    body_file = os.path.join(servers.dir, "event.json")
    with open(body_file, "w") as f:
        f.write('{"site_id":"bench","event_type":"page_view","path":"/pricing","userid":"user-1","timestamp":"2025-11-23T16:44:31.123Z"}')
    api = start([os.path.join(BIN, "IngestAPI"), "--port", str(api_port)], env, api_port)
    bare = start([BARE], dict(env, PORT=str(bare_port)), bare_port)
    results = {}
    for run in range(args.runs):
        for share in (0.5, 0.8):
            rate = peak * share
            for name, port in (("bare", bare_port), ("ingest", api_port)):
                results.setdefault((share, name), []).append(loadgen(port, rate, args.rate_duration, args.rate_warmup, args.connections, body_file))
            servers.redis("DEL", "et:queue")
            print(f"  fixed rate run {run + 1}, {rate:,.0f} req/s: p99 bare {results[(share, 'bare')][-1]['p99']:.2f} ms, "
                  f"IngestAPI {results[(share, 'ingest')][-1]['p99']:.2f} ms")
    stop(api)
    stop(bare)
    lines = [f"### 2. Latency at fixed rates (open loop, `Benchmarks/LoadGen`, {args.connections} connections, "
             f"{args.rate_warmup}s warm-up then {args.rate_duration}s, {args.runs} runs)", "",
             f"Rates are shares of IngestAPI's peak from scenario 1 ({peak:,.0f} req/s). Latency counts from each request's scheduled "
             "start, so time spent queued behind a slow answer shows in the tail (no coordinated omission). The bare handler at the "
             "same rates is the floor set by the load generator and the machine.", "",
             "| rate | server | achieved req/s | p50 ms | p99 ms | p99.9 ms |", "| --- | --- | --- | --- | --- | --- |"]
    for share in (0.5, 0.8):
        for name, label in (("bare", "bare Hummingbird handler"), ("ingest", "IngestAPI")):
            rows = results[(share, name)]
            lines.append(f"| {share:.0%} ({peak * share:,.0f}/s) | {label} | {spread([r['achieved'] for r in rows])} | "
                         f"{spread([r['p50'] for r in rows], '{:.2f}')} | {spread([r['p99'] for r in rows], '{:.2f}')} | "
                         f"{spread([r['p999'] for r in rows], '{:.2f}')} |")
    lines.append("")
    return lines


def wrk_once(servers, args):
    """Scenario 1's IngestAPI measurement alone, when scenario 2 runs without it."""
    port = free_port()
    api = start([os.path.join(BIN, "IngestAPI"), "--port", str(port)], servers.env("bench_peak"), port)
    try:
        return wrk(port, "post_event.lua", args.duration, args.connections)
    finally:
        stop(api)
        servers.redis("DEL", "et:queue")


def scenario_batch(servers, args, report):
    """3. batch ingest next to redis-benchmark's LPUSH ceiling."""
    api_port = free_port()
    api = start([os.path.join(BIN, "IngestAPI"), "--port", str(api_port)], servers.env("bench_batch"), api_port)
    rows = {100: [], 1000: []}
    ceiling = []
    for run in range(args.runs):
        out = subprocess.run(["redis-benchmark", "-p", str(servers.redis_port), "-t", "lpush", "-P", "16", "-q", "-n", "500000"],
                             capture_output=True, text=True, check=True).stdout
        ceiling.append(float(re.search(r"LPUSH: ([\d.]+) requests per second", out.replace("\r", "\n")).group(1)))
        for size in rows:
            result = wrk(api_port, "post_batch.lua", args.rate_duration, 16, path="/events", env=dict(os.environ, BATCH=str(size)))
            rows[size].append(result["rps"] * size)
            servers.redis("DEL", "et:queue")
        servers.redis("DEL", "mylist")
    stop(api)
    lines = [f"### 3. Batch ingest (`POST /events`, wrk -t1 -c16 -d{args.rate_duration}s, {args.runs} runs)", "",
             "| what | events/s |", "| --- | --- |",
             f"| redis-benchmark -t lpush -P 16 (ceiling, one element per LPUSH) | {spread(ceiling)} |",
             f"| `POST /events`, 100 events per request | {spread(rows[100])} |",
             f"| `POST /events`, 1,000 events per request | {spread(rows[1000])} |", ""]
    return lines


def push_payloads(servers, payloads, prefix):
    """LPUSHes payloads to the prefix's queue with redis-cli --pipe, 1,000 per command."""
    def resp(*parts):
        out = [f"*{len(parts)}\r\n"]
        for p in parts:
            b = p.encode()
            out.append(f"${len(b)}\r\n{p}\r\n")
        return "".join(out)
    chunks = [resp("LPUSH", prefix + "queue", *payloads[i:i + 1000]) for i in range(0, len(payloads), 1000)]
    subprocess.run(["redis-cli", "-p", str(servers.redis_port), "--pipe"], input="".join(chunks), text=True, check=True, capture_output=True)


def prefill(servers, count, prefix):
    """Pushes `count` queued events, in the worker's payload format."""
    payloads = [f'{{"event_id":"d-{i}","site_id":"bench","event_type":"page_view","path":"/p{i % 50}","userid":"user-{i % 10000}",'
                f'"timestamp":1763916271123,"received_at":1763916271123}}' for i in range(count)]
    push_payloads(servers, payloads, prefix)


def scenario_drain(servers, args, report):
    """4. drain with 1, 2, 4 workers next to raw libmongoc bulk inserts."""
    results = {"raw": [], 1: [], 2: [], 4: []}
    cpu_per_100k = []
    for run in range(args.runs):
        db = f"raw_{run}"
        out = subprocess.run([RAW_MONGO, "insert", f"mongodb://127.0.0.1:{servers.mongo_port}/{db}", str(args.drain_events), "500"],
                             capture_output=True, text=True, check=True).stdout
        results["raw"].append(args.drain_events / float(out))
        for workers in (1, 2, 4):
            prefix = f"d{run}w{workers}:"
            prefill(servers, args.drain_events, prefix)
            env = servers.env(f"drain_{run}_{workers}", prefix)
            started = time.time()
            procs = [start([os.path.join(BIN, "Worker")], env) for _ in range(workers)]
            while True:
                if servers.redis("LLEN", prefix + "queue") == "0" and not servers.redis("KEYS", prefix + "processing:*"):
                    break
                time.sleep(0.05)
            elapsed = time.time() - started
            results[workers].append(args.drain_events / elapsed)
            if workers == 1:
                cpu_per_100k.append(cpu_seconds(procs[0].pid) / args.drain_events * 100_000)
                report.setdefault("rss_worker", []).append(peak_rss_mib(procs[0].pid))
            for p in procs:
                stop(p)
        print(f"  drain run {run + 1}: raw {results['raw'][-1]:,.0f}/s, workers 1/2/4: "
              + ", ".join(f"{results[w][-1]:,.0f}/s" for w in (1, 2, 4)))
    lines = [f"### 4. Drain ({args.drain_events:,} queued events into nx-27017, {args.runs} runs)", "",
             "| what | events/s | ratio to raw |", "| --- | --- | --- |",
             f"| raw libmongoc bulk insert, 500 per bulk (baseline) | {spread(results['raw'])} | 1.00 |"]
    for w in (1, 2, 4):
        ratio = [x / r for x, r in zip(results[w], results["raw"])]
        lines.append(f"| {w} worker{'s' if w > 1 else ''} (batch 500) | {spread(results[w])} | {spread(ratio, '{:.2f}')} |")
    lines += ["", f"One worker's CPU: {spread(cpu_per_100k, '{:.2f}')} s per 100k events (user + system).", ""]
    return lines


def scenario_throttle(servers, args, report):
    """7. throttling and rate limits on and off, each pair in the same run."""
    lines = [f"### 7. Throttling and rate limits, on and off ({args.runs} runs, alternating)", ""]
    # Worker: drain with throttling off, on with nothing over the limit (the cost of deciding),
    # and on for a flood of identical events (limit 5: most are counted, not written).
    rows = {"off": [], "on": [], "flood": []}
    for run in range(args.runs):
        for mode in rows:
            prefix = f"th{run}{mode}:"
            if mode == "flood":
                prefill_identical(servers, args.drain_events, prefix)
            else:
                prefill(servers, args.drain_events, prefix)
            env = servers.env(f"throttle_{run}_{mode}", prefix)
            if mode == "on":
                env.update(THROTTLE_STRATEGY="token-bucket", THROTTLE_BUCKET_SIZE="1000000", THROTTLE_REFILL_RATE="1000000")
            elif mode == "flood":
                env.update(THROTTLE_STRATEGY="fixed-window", THROTTLE_LIMIT="5", THROTTLE_WINDOW_MS="3600000")
            started = time.time()
            worker = start([os.path.join(BIN, "Worker")], env)
            while servers.redis("LLEN", prefix + "queue") != "0" or servers.redis("KEYS", prefix + "processing:*"):
                time.sleep(0.05)
            rows[mode].append(args.drain_events / (time.time() - started))
            stop(worker)
        print(f"  throttle run {run + 1}: off {rows['off'][-1]:,.0f}/s, on {rows['on'][-1]:,.0f}/s, flood {rows['flood'][-1]:,.0f}/s")
    lines += [f"Worker draining {args.drain_events:,} queued events into nx-27017:", "",
              "| throttling | events/s | ratio to off |", "| --- | --- | --- |",
              f"| off (baseline) | {spread(rows['off'])} | 1.00 |",
              f"| on, token bucket nobody exceeds (every event decided in Redis, all stored) | {spread(rows['on'])} | "
              f"{spread([a / b for a, b in zip(rows['on'], rows['off'])], '{:.2f}')} |",
              f"| on, fixed window limit 5, all events identical (5 stored + 1 summary) | {spread(rows['flood'])} | "
              f"{spread([a / b for a, b in zip(rows['flood'], rows['off'])], '{:.2f}')} |", ""]
    # Ingest: rate limits off, and on for all three scopes with limits nobody reaches.
    results = {"off": [], "on": []}
    for run in range(args.runs):
        for mode in results:
            port = free_port()
            env = servers.env(f"limits_{run}_{mode}")
            if mode == "on":
                env.update(RATE_LIMIT_SITE="100000000/1s", RATE_LIMIT_USER="100000000/1s", RATE_LIMIT_ADDRESS="100000000/1s")
            api = start([os.path.join(BIN, "IngestAPI"), "--port", str(port)], env, port)
            results[mode].append(wrk(port, "post_event.lua", args.duration, args.connections))
            stop(api)
            servers.redis("DEL", "et:queue")
        print(f"  rate limits run {run + 1}: off {results['off'][-1]['rps']:,.0f} req/s, on {results['on'][-1]['rps']:,.0f} req/s")
    lines += [f"`POST /event`, wrk -t1 -c{args.connections} -d{args.duration}s:", "",
              "| rate limits | req/s | p99 ms | ratio to off |", "| --- | --- | --- | --- |",
              f"| off (baseline: plain LPUSH) | {spread([r['rps'] for r in results['off']])} | "
              f"{spread([r['p99'] for r in results['off']], '{:.2f}')} | 1.00 |",
              f"| on: site, user and address, never reached (GCRA script + LPUSH in one call) | {spread([r['rps'] for r in results['on']])} | "
              f"{spread([r['p99'] for r in results['on']], '{:.2f}')} | "
              f"{spread([a['rps'] / b['rps'] for a, b in zip(results['on'], results['off'])], '{:.2f}')} |", ""]
    return lines


def prefill_identical(servers, count, prefix):
    """Pushes `count` identical page views (distinct ids), a flood the throttle should absorb."""
    payloads = [f'{{"event_id":"f-{i}","site_id":"bench","event_type":"page_view","path":"/flood","userid":"bot",'
                f'"timestamp":1763916271123,"received_at":1763916271123}}' for i in range(count)]
    push_payloads(servers, payloads, prefix)


ENRICH_CASES = {  # drain case: (build, wrk KIND, site_id the events are stored under)
    "before": ("before", "event", "bench"),
    "after": ("after", "event", "bench"),
    "after_plausible": ("after", "plausible", "shop.example"),
    "before_indexed": ("before", "event", "bench"),  # into a collection indexed by an after Worker first
}


def make_indexes(servers, worker_bin, database, prefix):
    """Lets a Worker create its indexes in `database` (it does at start, before it registers in Redis), then stops it."""
    worker = start([worker_bin], servers.env(database, prefix))
    try:
        deadline = time.time() + 30
        while servers.redis("EXISTS", prefix + "workers") == "0":
            if time.time() > deadline:
                raise RuntimeError("the Worker did not register within 30 s")
            time.sleep(0.05)
    finally:
        stop(worker)


def git_head(package_dir):
    """The short commit a checkout (or worktree) is at, read from its files: no git command."""
    try:
        gitdir = os.path.join(package_dir, ".git")
        if os.path.isfile(gitdir):
            with open(gitdir) as f:
                gitdir = f.read().split("gitdir:", 1)[1].strip()
        with open(os.path.join(gitdir, "HEAD")) as f:
            head = f.read().strip()
        if head.startswith("ref:"):
            ref = head.split(None, 1)[1]
            for base in (gitdir, os.path.join(gitdir, "..", "..")):  # a worktree keeps its refs in the main .git
                if os.path.exists(os.path.join(base, ref)):
                    with open(os.path.join(base, ref)) as f:
                        return f.read().strip()[:7]
            return "?"
        return head[:7]
    except (OSError, IndexError):
        return "?"


def wait_drained(servers, prefix, timeout=1800):
    """Returns once the prefix's queue and every processing list are empty."""
    deadline = time.time() + timeout
    while servers.redis("LLEN", prefix + "queue") != "0" or servers.redis("KEYS", prefix + "processing:*"):
        if time.time() > deadline:
            raise RuntimeError(f"{prefix}queue not drained in {timeout} s")
        time.sleep(0.05)


def fill_queue(servers, port, prefix, kind, count, connections, timeout=600):
    """Posts exactly `count` events through the IngestAPI on `port` with `post_visit.lua` and returns
    once all are queued. The script stops sending after `count` answers; wrk itself runs until its
    duration or SIGINT, so it is interrupted once the queue holds them all."""
    proc = subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{timeout}s", "-s", os.path.join(ROOT, "Benchmarks", "post_visit.lua"),
                             f"http://127.0.0.1:{port}/event"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                            env=dict(os.environ, KIND=kind, COUNT=str(count)))
    try:
        while int(servers.redis("LLEN", prefix + "queue")) < count:
            if proc.poll() is not None:
                raise RuntimeError(f"{prefix}: wrk ended with {servers.redis('LLEN', prefix + 'queue')} of {count:,} events queued "
                                   "(a bot user agent is dropped, not queued)")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait()
    queued = int(servers.redis("LLEN", prefix + "queue"))
    if queued != count:
        raise RuntimeError(f"{prefix}: {queued:,} events queued, expected {count:,}")


def scenario_enrichment(servers, args, report):
    """9. what enrichment (visits) costs: the build before it next to this one, ingest and drain, alternating."""
    before_bin = os.path.join(args.before, ".build", "release")
    bins = {"before": before_bin, "after": BIN}
    for side, path in bins.items():
        for exe in ("IngestAPI", "Worker"):
            if not os.access(os.path.join(path, exe), os.X_OK):
                raise SystemExit(f"enrichment: {os.path.join(path, exe)} missing: build it with "
                                 f"`swift build -c release` in {os.path.dirname(os.path.dirname(path))}")

    def api_env(database, prefix):
        return dict(servers.env(database, prefix), TRUST_PROXY="1")

    # Ingest: the bare handler, both builds' /event, and the new build's /api/event, one after another
    # in each run; before and after swap places every run.
    ports = {"bare": free_port(), "before": free_port(), "after": free_port()}
    apis = {side: start([os.path.join(bins[side], "IngestAPI"), "--port", str(ports[side])],
                        api_env(f"enrich_ingest_{side}", f"ei{side}:"), ports[side]) for side in bins}
    bare = start([BARE], dict(servers.env("enrich_bare"), PORT=str(ports["bare"])), ports["bare"])
    ingest = {"bare": [], "before": [], "after": [], "after_plausible": []}
    queued_share = {name: [] for name in ingest if name != "bare"}
    try:
        for run in range(args.runs):
            order = ["bare"] + (["before", "after"] if run % 2 == 0 else ["after", "before"]) + ["after_plausible"]
            for name in order:
                if name == "bare":
                    ingest["bare"].append(wrk(ports["bare"], "post_event.lua", args.duration, args.connections))
                    continue
                side, kind, _ = ENRICH_CASES[name]
                path = "/api/event" if kind == "plausible" else "/event"
                api_cpu, redis_cpu = cpu_seconds(apis[side].pid), cpu_seconds(servers.procs[0].pid)
                result = wrk(ports[side], "post_visit.lua", args.duration, args.connections, path=path, env=dict(os.environ, KIND=kind))
                # CPU per request: steadier than req/s when the machine is shared (wrk and the server contend for 2 cores).
                result["api_us"] = (cpu_seconds(apis[side].pid) - api_cpu) / result["requests"] * 1e6
                result["redis_us"] = (cpu_seconds(servers.procs[0].pid) - redis_cpu) / result["requests"] * 1e6
                ingest[name].append(result)
                prefix = f"ei{side}:"
                queued = int(servers.redis("LLEN", prefix + "queue"))
                # wrk's request count is rps × duration; a share well under 1 would mean events were dropped (bot UA).
                queued_share[name].append(queued / (result["rps"] * args.duration))
                servers.redis("DEL", prefix + "queue")
            print(f"  enrichment ingest run {run + 1}: bare {ingest['bare'][-1]['rps']:,.0f}, before {ingest['before'][-1]['rps']:,.0f}, "
                  f"after {ingest['after'][-1]['rps']:,.0f}, after /api/event {ingest['after_plausible'][-1]['rps']:,.0f} req/s")
        report["rss_api_before"] = peak_rss_mib(apis["before"].pid)
        report["rss_api_after"] = peak_rss_mib(apis["after"].pid)
    finally:
        for proc in (*apis.values(), bare):
            stop(proc)
    for name, shares in queued_share.items():
        if min(shares) < 0.95:
            print(f"  warning: {name}: only {min(shares):.0%} of the requests were queued (bot user agent? refused?)")

    # Drain: each case's N events posted through its own build's IngestAPI (so the queued payload is
    # exactly what that build queues), then one Worker of the same build drains them, timed from its start.
    drain = {name: [] for name in ENRICH_CASES}
    cpu = {name: [] for name in ENRICH_CASES}
    rss = {name: [] for name in ENRICH_CASES}
    server_cpu = {name: [] for name in ENRICH_CASES}  # (redis-server, nx-27017) CPU s per 100k events
    for run in range(args.runs):
        order = ["before", "after", "before_indexed", "after_plausible"]
        for name in order if run % 2 == 0 else reversed(order):
            side, kind, site = ENRICH_CASES[name]
            prefix, database = f"ed{run}{name}:", f"enrich_{run}_{name}"
            if name == "before_indexed":
                make_indexes(servers, os.path.join(BIN, "Worker"), database, f"ix{run}:")
            port = free_port()
            api = start([os.path.join(bins[side], "IngestAPI"), "--port", str(port)], api_env(database, prefix), port)
            try:
                fill_queue(servers, port, prefix, kind, args.drain_events, min(args.connections, 16))
            finally:
                stop(api)
            redis_cpu, nx_cpu = cpu_seconds(servers.procs[0].pid), cpu_seconds(servers.procs[1].pid)
            started = time.time()
            worker = start([os.path.join(bins[side], "Worker")], servers.env(database, prefix))
            wait_drained(servers, prefix)
            elapsed = time.time() - started
            cpu[name].append(cpu_seconds(worker.pid) / args.drain_events * 100_000)
            # Where the rest of the drain goes: the servers' CPU over the same interval (nothing else uses them meanwhile).
            server_cpu[name].append(((cpu_seconds(servers.procs[0].pid) - redis_cpu) / args.drain_events * 100_000,
                                     (cpu_seconds(servers.procs[1].pid) - nx_cpu) / args.drain_events * 100_000))
            rss[name].append(peak_rss_mib(worker.pid))
            stop(worker)
            drain[name].append(args.drain_events / elapsed)
            stored = subprocess.run([RAW_MONGO, "ids", f"mongodb://127.0.0.1:{servers.mongo_port}/{database}", site, "-"],
                                    capture_output=True, text=True, check=True).stdout.count("\n")
            dead = int(servers.redis("LLEN", prefix + "dead"))
            if stored != args.drain_events or dead:
                print(f"  warning: {name}: {stored:,} stored, {dead:,} dead letters of {args.drain_events:,}")
            servers.mongo_drop(database)
        print(f"  enrichment drain run {run + 1} (events/s, CPU s/100k worker/redis/nx): "
              + ", ".join(f"{name} {drain[name][-1]:,.0f}/s ({cpu[name][-1]:.2f}/{server_cpu[name][-1][0]:.2f}/{server_cpu[name][-1][1]:.2f})"
                          for name in ENRICH_CASES))

    def ratio(rows, base, key=None):
        pairs = zip(rows, base)
        return spread([(a[key] / b[key]) if key else a / b for a, b in pairs], "{:.2f}")

    ms = "{:.2f}"
    before_commit = git_head(args.before)
    lines = ["### 9. What enrichment costs (visits), before vs after, same run", "",
             f"Written by `{' '.join(['scripts/bench'] + sys.argv[1:])}` on {datetime.date.today()}, {os.cpu_count()} cores: "
             f"\"before\" is the release build of `{args.before}` (commit `{before_commit}`, no visits), \"after\" this tree's "
             "release build. Both IngestAPIs run with `TRUST_PROXY=1`; requests come from `Benchmarks/post_visit.lua`: five real "
             "browsers' `User-Agent`s (Chrome/Windows, Safari/macOS, Firefox/Windows, Chrome/Android, Safari/iPhone), a public "
             "IPv4 in `X-Forwarded-For` and `Referer: https://shop.example/`, 10,000 visitors each with its own address, browser "
             "and `userid`; `/event` bodies carry the time of sending (an event more than 2 hours old is stored without a visit lookup, "
             "so scenario 1's fixed 2025 timestamp would leave the Redis visit script out). The bare handler gets scenario 1's `post_event.lua`. Before and after swap order every run. "
             "Each cell: median (min–max).", "",
             f"Ingest, wrk -t1 -c{args.connections} -d{args.duration}s, {args.runs} runs:", "",
             "| server | req/s | p50 ms | p99 ms | ratio to before | ratio to bare | IngestAPI CPU µs / req | redis-server CPU µs / req |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    labels = {"bare": "bare Hummingbird handler (baseline)", "before": "before: `POST /event` (validate + LPUSH)",
              "after": "after: `POST /event` (+ bot check, address and user agent queued)",
              "after_plausible": "after: `POST /api/event`, Plausible body (no such route before)"}
    for name in ("bare", "before", "after", "after_plausible"):
        rows = ingest[name]
        to_before = "1.00" if name == "before" else ("–" if name == "bare" else ratio(rows, ingest["before"], "rps"))
        lines.append(f"| {labels[name]} | {spread([r['rps'] for r in rows])} | {spread([r['p50'] for r in rows], ms)} | "
                     f"{spread([r['p99'] for r in rows], ms)} | {to_before} | "
                     f"{'1.00' if name == 'bare' else ratio(rows, ingest['bare'], 'rps')} | "
                     + ("– | – |" if name == "bare" else f"{spread([r['api_us'] for r in rows], '{:.1f}')} | {spread([r['redis_us'] for r in rows], '{:.1f}')} |"))
    lines += ["", f"Ratios after / before (`/event`), per run: p99 {ratio(ingest['after'], ingest['before'], 'p99')}×, "
              f"IngestAPI CPU per request {ratio(ingest['after'], ingest['before'], 'api_us')}×, "
              f"redis-server CPU per request {ratio(ingest['after'], ingest['before'], 'redis_us')}×. CPU per request is the "
              "process's user + system time over the wrk run divided by the requests answered: wrk, the server and Redis share "
              "the cores, so it moves less with a noisy neighbour than req/s does.", "",
              f"Drain: {args.drain_events:,} events posted through the same build's IngestAPI (so the queue holds what that "
              f"build queues), then one Worker (batch 500) drains them into nx-27017, timed from its start; {args.runs} runs. "
              "CPU is the Worker's user + system time over the whole run, per 100k events.", "",
              "| build, events | events/s | ratio to before | Worker CPU s / 100k events | CPU ratio to before | "
              "redis-server CPU s / 100k | nx-27017 CPU s / 100k | Worker peak RSS MiB |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    labels = {"before": "before, `/event` events", "after": "after, `/event` events (enriched: visitor from `userid`)",
              "after_plausible": "after, `/api/event` events (enriched: visitor hashed from address + user agent, UTM, referrer)",
              "before_indexed": "before, `/event` events, into a collection with after's five indexes (check: index cost alone)"}
    for name in ("before", "before_indexed", "after", "after_plausible"):
        lines.append(f"| {labels[name]} | {spread(drain[name])} | {'1.00' if name == 'before' else ratio(drain[name], drain['before'])} | "
                     f"{spread(cpu[name], ms)} | {'1.00' if name == 'before' else ratio(cpu[name], cpu['before'])} | "
                     f"{spread([r for r, _ in server_cpu[name]], ms)} | {spread([n for _, n in server_cpu[name]], ms)} | "
                     f"{spread(rss[name], '{:.1f}')} |")
    lines += ["", "redis-server and nx-27017 CPU: their user + system time over the same drain interval, per 100k events "
              "(nothing else uses them meanwhile). After also creates three more indexes (site + session_id, path, source, each "
              "with timestamp; five instead of two besides `_id`): the check row drains before's events with before's Worker "
              "into a collection an after Worker indexed first, so it separates what nx-27017 spends on the indexes from what "
              "the bigger documents and the enrichment cost.", "",
              f"IngestAPI peak RSS after the ingest runs: before {report['rss_api_before']:.1f} MiB, "
              f"after {report['rss_api_after']:.1f} MiB.", ""]
    return lines


class RedisCluster:
    """A Redis Cluster of `masters` masters without replicas (AOF everysec, as the single
    redis-server), on free ports, for scenario 11."""

    def __init__(self, servers, masters=3):
        self.servers = servers
        self.ports = [free_cluster_port() for _ in range(masters)]
        self.procs = []
        for port in self.ports:
            os.makedirs(f"{servers.dir}/cluster-{port}")
            self.procs.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", f"{servers.dir}/cluster-{port}", "--appendonly", "yes",
                 "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf"], stdout=subprocess.DEVNULL))
        for port in self.ports:
            wait_port(port)
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports], "--cluster-yes"],
                       check=True, capture_output=True)
        deadline = time.time() + 60
        while not all("cluster_state:ok" in self.cli(p, "CLUSTER", "INFO") for p in self.ports):
            if time.time() > deadline:
                raise RuntimeError("the benchmark cluster did not come up")
            time.sleep(0.1)

    @staticmethod
    def cli(port, *args):
        return subprocess.run(["redis-cli", "-p", str(port), *map(str, args)], capture_output=True, text=True, check=True).stdout.strip()

    def env(self, database, prefix):
        env = self.servers.env(database, prefix)
        env["REDIS_CLUSTER_NODES"] = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        return env

    def total(self, pattern, command="LLEN"):
        """Sums `command` over the keys matching `pattern` on every master (KEYS: few keys here)."""
        return sum(int(self.cli(p, command, key) or 0) for p in self.ports for key in self.cli(p, "KEYS", pattern).split("\n") if key)

    def close(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait()


def post_events(port, count, site):
    """Posts `count` distinct page views to `/events` on `port`, 1,000 per request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for start_at in range(0, count, 1000):
        body = json.dumps([{"event_id": f"{site}-{i}", "site_id": site, "event_type": "page_view", "path": f"/p{i % 50}"}
                           for i in range(start_at, min(count, start_at + 1000))])
        conn.request("POST", "/events", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 202:
            raise RuntimeError(f"POST /events answered {response.status}")
    conn.close()


def scenario_cluster(servers, args, report):
    """11. ingest and drain on one Redis next to a three-master Redis Cluster (same run, alternating)."""
    cluster = RedisCluster(servers)
    def clear(prefix):
        servers.redis("EVAL", "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end", "0", prefix + "*")
        for port in cluster.ports:
            for key in (k for k in cluster.cli(port, "KEYS", prefix + "*").split("\n") if k):
                cluster.cli(port, "DEL", key)

    setups = {
        "one redis-server (baseline)": (servers.env, lambda prefix: int(servers.redis("LLEN", prefix + "queue")),
                                        lambda prefix: servers.redis("KEYS", prefix + "processing:*") == ""),
        "Redis Cluster, 3 masters, 12 queue shards": (cluster.env, lambda prefix: cluster.total(prefix + "{*}:queue"),
                                                      lambda prefix: cluster.total(prefix + "{*}:processing:*") == 0),
    }
    rows = {name: {"batch": [], "event": [], "drain": []} for name in setups}
    drain_events = min(args.drain_events, 50_000)  # nx-27017 stores about 8k/s: the drain is its speed, whatever the Redis
    try:
        for run in range(args.runs):
            for index, (name, (env_of, depth, idle)) in enumerate(setups.items()):
                prefix = f"cl{run}{index}:"
                env = dict(env_of(f"cluster_{run}_{index}", prefix), QUEUE_MAX="100000000")
                port = free_port()
                api = start([os.path.join(BIN, "IngestAPI"), "--port", str(port)], env, port)
                batch = wrk(port, "post_batch.lua", args.rate_duration, 16, path="/events", env=dict(os.environ, BATCH="1000"))
                single = wrk(port, "post_event.lua", args.rate_duration, args.connections)
                stop(api)  # its last pushes land before the queue is cleared
                # What ingest queued is dropped; the drain measures a known number, posted anew.
                clear(prefix)
                api = start([os.path.join(BIN, "IngestAPI"), "--port", str(port)], env, port)
                post_events(port, drain_events, f"drain-{run}-{index}")
                stop(api)
                queued = depth(prefix)
                if queued != drain_events:
                    raise RuntimeError(f"{name}: {queued:,} events queued for the drain, expected {drain_events:,}")
                started = time.time()
                workers = [start([os.path.join(BIN, "Worker")], dict(env, WORKER_CONCURRENCY="2")) for _ in range(2)]
                deadline = started + 1800
                while depth(prefix) > 0 or not idle(prefix):
                    if time.time() > deadline:
                        raise RuntimeError(f"{name}: not drained in 30 min")
                    time.sleep(0.05)
                elapsed = time.time() - started
                for proc in workers:
                    stop(proc)
                servers.mongo_drop(f"cluster_{run}_{index}")
                rows[name]["batch"].append(batch["rps"] * 1000)
                rows[name]["event"].append(single["rps"])
                rows[name]["drain"].append(queued / elapsed)
                print(f"  cluster run {run + 1}, {name}: /events {batch['rps'] * 1000:,.0f} events/s, /event {single['rps']:,.0f}/s, "
                      f"drain {queued:,} at {queued / elapsed:,.0f}/s")
    finally:
        cluster.close()
    base = rows["one redis-server (baseline)"]
    lines = [f"### 11. One Redis next to a Redis Cluster ({args.runs} runs, alternating; wrk -t1, {args.rate_duration} s each; "
             f"then 2 workers of concurrency 2 drain {drain_events:,} events into nx-27017)", "",
             "| Redis | `POST /events` ×1,000 (events/s) | ratio | `POST /event` (req/s, -c" + str(args.connections) + ") | ratio | drain (events/s) | ratio |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, row in rows.items():
        ratios = [spread([x / b for x, b in zip(row[k], base[k])], "{:.2f}") for k in ("batch", "event", "drain")]
        lines.append(f"| {name} | {spread(row['batch'])} | {ratios[0]} | {spread(row['event'])} | {ratios[1]} | {spread(row['drain'])} | {ratios[2]} |")
    lines += ["", "Every process shares this machine's cores: three masters do not add CPU here, so this measures what the "
              "cluster costs (routing, one pool per node, 12 lists), not what it gains on separate machines. "
              "The drain is bounded by nx-27017, not by Redis.", ""]
    return lines


def replace_section(path, number, lines):
    """Writes `lines` as section `### <number>.` of the file at `path`, in place of the one there
    (up to the next `### ` heading), or at the end; every other section is kept as it is."""
    try:
        with open(path) as f:
            old = f.read().split("\n")
    except FileNotFoundError:
        old = ["# Benchmarks", ""]
    start = next((i for i, line in enumerate(old) if line.startswith(f"### {number}.")), None)
    if start is None:
        while old and old[-1] == "":
            old.pop()
        new = old + [""] + lines
    else:
        end = next((i for i in range(start + 1, len(old)) if old[i].startswith("### ")), len(old))
        new = old[:start] + lines + old[end:]
    with open(path, "w") as f:
        f.write("\n".join(new).rstrip("\n") + "\n")


def kept_sections(path, numbers):
    """The sections `### <n>.` (n in `numbers`) of the file at `path`, each up to the next `### ` heading:
    those a full run does not measure (8: `--only bounded-state`, 9: `--only enrichment`, 10: `--only stats-api`,
    11: `--only cluster`, 12: `--only hot-paths`), kept across it."""
    try:
        with open(path) as f:
            old = f.read().split("\n")
    except FileNotFoundError:
        return []
    kept, keep = [], False
    for line in old:
        if line.startswith("### "):
            keep = any(line.startswith(f"### {n}.") for n in numbers)
        if keep:
            kept.append(line)
    while kept and kept[-1] == "":
        kept.pop()
    return kept + [""] if kept else []


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def scenario_stats(servers, args, report):
    """5. GET /stats over stored events next to the same aggregation straight through libmongoc."""
    day_start = STATS_START_MS + (datetime.date.fromisoformat(STATS_DAY) - datetime.date(2025, 10, 1)).days * 86_400_000
    with open(os.path.join(ROOT, "Benchmarks", "stats_pipeline.json")) as f:
        pipeline = f.read().replace("__SITE__", "stats").replace("__START__", str(day_start)).replace("__END__", str(day_start + 86_400_000))
    pipeline_file = os.path.join(servers.dir, "stats_pipeline.json")
    with open(pipeline_file, "w") as f:
        f.write(pipeline)
    lines = [f"### 5. Stats (`GET /stats?site_id=stats&date={STATS_DAY}`, {args.stats_queries} queries each, alternating)", "",
             "One site, 50 paths, 10k users, page views spread evenly over 30 days, so the day asked about holds about 1/30 of them. "
             "The baseline runs the pipeline `Benchmarks/stats_pipeline.json` (a unit test keeps it equal to the API's) through "
             "libmongoc from C and turns the answer into JSON, as the API does.", "",
             "| stored events | what | p50 ms | p99 ms | ratio p50 |", "| --- | --- | --- | --- | --- |"]
    for size in args.stats_events:
        db = f"stats_{size}"
        uri = f"mongodb://127.0.0.1:{servers.mongo_port}/{db}"
        started = time.time()
        subprocess.run([RAW_MONGO, "load", uri, str(size), str(STATS_START_MS), "30"], check=True)
        print(f"  stats: loaded {size:,} events in {time.time() - started:.0f} s")
        port = free_port()
        api = start([os.path.join(BIN, "IngestAPI"), "--port", str(port)], servers.env(db), port)
        connection = http.client.HTTPConnection("127.0.0.1", port)

        def get_stats():
            began = time.perf_counter()
            connection.request("GET", f"/stats?site_id=stats&date={STATS_DAY}")
            answer = connection.getresponse()
            body = answer.read()
            if answer.status != 200:
                raise RuntimeError(f"/stats answered {answer.status}: {body[:200]}")
            return (time.perf_counter() - began) * 1000

        def raw(runs):
            out = subprocess.run([RAW_MONGO, "aggregate", uri, pipeline_file, str(runs)], capture_output=True, text=True, check=True).stdout
            return [float(x) for x in out.split()]

        get_stats()  # warm both paths once: connection pools, server caches
        raw(1)
        api_ms, raw_ms = [], []
        for _ in range(args.stats_queries):
            raw_ms += raw(1)
            api_ms.append(get_stats())
        connection.close()
        stop(api)
        servers.mongo_drop(db)
        ratio = statistics.median(api_ms) / statistics.median(raw_ms)
        print(f"  stats over {size:,}: p50 raw {statistics.median(raw_ms):.1f} ms, API {statistics.median(api_ms):.1f} ms")
        lines.append(f"| {size:,} | raw aggregate through libmongoc (baseline) | {statistics.median(raw_ms):.1f} | {percentile(raw_ms, 0.99):.1f} | 1.00 |")
        lines.append(f"| {size:,} | `GET /stats` | {statistics.median(api_ms):.1f} | {percentile(api_ms, 0.99):.1f} | {ratio:.2f} |")
    lines += ["", f"With {args.stats_queries} queries, p99 is the slowest query.", ""]
    return lines


def scenario_stats_api(servers, args, report):
    """10. Stats API v1 over 30 days (aggregate, timeseries, breakdown) next to the raw aggregation of the same events."""
    from stats_api import scenario_stats_api as run  # it imports this module
    return run(servers, args, report)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs: the whole benchmark in about two minutes")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--duration", type=int, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--drain-events", type=int)
    parser.add_argument("--stats-events", help="comma-separated stored-event counts for scenario 5 (default 100000,1000000; quick 100000)")
    parser.add_argument("--stats-queries", type=int, help="queries per size in scenario 5, and of ours per query and size in scenario 10")
    parser.add_argument("--only", choices=["ingest", "rate", "batch", "drain", "stats", "throttle", "bounded-state", "enrichment", "stats-api",
                                           "cluster", "hot-paths"],
                        help="run one scenario (and write nothing); bounded-state runs only this way (minutes: 1M events through nx-27017); "
                             "so do enrichment and stats-api (up to 20 minutes), which rewrite their own section (9, 10) of the output and keep the rest")
    parser.add_argument("--before", default=os.environ.get("BENCH_BEFORE", "/tmp/before"),
                        help="enrichment and hot-paths: a checkout of the code before the change measured (visits; issue 14), "
                             "built with `swift build -c release` (default $BENCH_BEFORE or /tmp/before)")
    parser.add_argument("--sizes", help="comma-separated event counts for bounded-state and stats-api "
                                         "(default 100000,1000000; stats-api with --quick 20000,200000)")
    parser.add_argument("--raw-runs", type=int, action="append",
                        help="stats-api: measured raw runs per size, smallest size first, repeatable (default 5 then 3; quick 3 then 2)")
    parser.add_argument("--output", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = parser.parse_args()
    args.runs = args.runs or (2 if args.quick else 5)
    args.duration = args.duration or (5 if args.quick else 10)
    args.drain_events = args.drain_events or (20_000 if args.quick else 200_000)
    args.rate_duration = 3 if args.quick else args.duration  # scenarios 2 and 3
    args.rate_warmup = 1 if args.quick else 2
    args.stats_events = [int(x) for x in (args.stats_events or ("100000" if args.quick else "100000,1000000")).split(",")]
    args.stats_queries = args.stats_queries or (5 if args.quick else 20)
    args.stats_api_sizes = [int(x) for x in (args.sizes or ("20000,200000" if args.quick else "100000,1000000")).split(",")]

    if args.only == "bounded-state":
        from bounded_state import main as bounded_state_main
        sys.argv = [sys.argv[0], "--sizes", args.sizes or "100000,1000000"]
        return bounded_state_main()

    servers = Servers()
    report = {}
    try:
        sections = {}
        from hot_paths import scenario_hot_paths
        scenarios = {"ingest": scenario_ingest, "rate": scenario_fixed_rate, "batch": scenario_batch, "drain": scenario_drain,
                     "stats": scenario_stats, "throttle": scenario_throttle, "enrichment": scenario_enrichment,
                     "stats-api": scenario_stats_api, "cluster": scenario_cluster, "hot-paths": scenario_hot_paths}
        for name, scenario in scenarios.items():
            if (args.only and name != args.only) or (not args.only and name in ("enrichment", "stats-api", "cluster", "hot-paths")):  # a second build; minutes
                continue
            print(scenario.__doc__.strip())
            sections[name] = scenario(servers, args, report)
    finally:
        servers.close()
    if args.only:
        print("\n".join(sections[args.only]))
        if args.only in ("enrichment", "stats-api", "cluster", "hot-paths"):
            number = {"enrichment": "9", "stats-api": "10", "cluster": "11", "hot-paths": "12"}[args.only]
            replace_section(args.output, number, sections[args.only])
            print(f"wrote section {number} of {args.output}")
        return

    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    header = ["# Benchmarks", "",
              f"Written by `{' '.join(['scripts/bench'] + sys.argv[1:])}` on {datetime.date.today()} at commit `{commit}`: "
              f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}.",
              "Load generator, servers and the code under test share these cores, so compare each number with the baseline "
              "measured in the same run, not with other machines. Each cell: median (min–max) over the runs.", ""]
    memory = ["### 6. Memory (peak RSS, VmHWM)", "", "| process | MiB |", "| --- | --- |",
              f"| IngestAPI during scenario 1 | {report.get('rss_api', float('nan')):.1f} |",
              f"| one Worker during scenario 4 | {spread(report.get('rss_worker', [float('nan')]), '{:.1f}')} |", ""]
    kept = kept_sections(args.output, ("8", "9", "10", "11", "12"))  # measured by --only runs, not by this one
    with open(args.output, "w") as f:
        body = [line for name in ("ingest", "rate", "batch", "drain", "stats") for line in sections[name]]
        f.write("\n".join(header + body + memory + sections["throttle"] + kept))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
