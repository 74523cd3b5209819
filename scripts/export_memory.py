#!/usr/bin/env python3
"""Shows that `GET /api/v1/export` streams in memory flat in the number of rows.

Starts redis-server, nx-27017 and the IngestAPI of `--bin` in a temporary directory, stores
events straight into MongoDB with pymongo (documents shaped as MongoStore.document writes them;
going through IngestAPI and the Worker would take far longer), then for each size exports every
event of the site as CSV while sampling the IngestAPI's resident memory (VmRSS in /proc) every
20 ms. Prints, per size: rows received, seconds, rows per second, RSS before the export and its
peak during it.

    .venv/bin/python scripts/export_memory.py --sizes 10000,100000,1000000
"""
import argparse
import datetime
import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import free_port, wait_port  # noqa: E402

import pymongo  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NX = os.path.join(ROOT, ".venv", "bin", "nx-27017")
SITE = "export.test"
DAY_MS = 86_400_000
START_MS = 1_792_454_400_000  # 2026-10-20T00:00:00Z: events spread over the 30 days from there
PERIOD = "period=custom&date=2026-10-20,2026-11-18"


def rss_kib(pid):
    """The resident set of `pid`, KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def documents(first, count, rng):
    """`count` stored events from index `first`: pages, sources, countries, devices, visits."""
    pages = [f"/p{i}" for i in range(40)]
    sources = ["Google", "Direct / None", "Bing", "Twitter", "news.example"]
    countries = ["FR", "US", "DE", "GB", "JP", "BR"]
    devices = ["Desktop", "Mobile", "Tablet"]
    docs = []
    for index in range(first, first + count):
        millis = START_MS + rng.randrange(30 * DAY_MS)
        when = datetime.datetime.fromtimestamp(millis / 1000, datetime.timezone.utc)
        event_id = f"m{index:09d}"
        doc = {
            "_id": f"{SITE}/{event_id}", "event_id": event_id, "site_id": SITE,
            "event_type": "page_view" if index % 7 else "signup", "path": rng.choice(pages),
            "timestamp": when, "createdAt": when, "count": 1,
            "visitor_id": rng.getrandbits(63) - (1 << 62), "session_id": rng.getrandbits(63),
            "hostname": "export.test", "source": rng.choice(sources), "browser": "Firefox", "browser_version": "120",
            "os": "Linux", "os_version": "", "device": rng.choice(devices), "country": rng.choice(countries),
        }
        if index % 7 == 0:
            doc["props"] = {"plan": rng.choice(["free", "pro", "=1+1"])}
        docs.append(doc)
    return docs


def export(port, key, pid):
    """Streams the CSV export, sampling RSS; returns (rows, seconds, peak KiB)."""
    peak = [rss_kib(pid)]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.time()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", f"/api/v1/export?site_id={SITE}&{PERIOD}&format=csv", headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"export answered {response.status}: {response.read()[:500]!r}")
    lines = 0
    reported = 0
    while True:
        block = response.read(1 << 16)
        if not block:
            break
        lines += block.count(b"\n")
        if lines - reported >= 100_000:
            reported = lines
            print(f"    ... {lines:,} rows after {time.time() - started:.0f} s, peak RSS so far {peak[0] / 1024:.1f} MiB", file=sys.stderr, flush=True)
    seconds = time.time() - started
    done.set()
    sampler.join()
    connection.close()
    return lines - 1, seconds, peak[0]  # less the header row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", help="directory holding IngestAPI and Worker (default: swift build --show-bin-path)")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated event counts, ascending")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    binary = args.bin or subprocess.check_output(["swift", "build", "--show-bin-path"], cwd=ROOT, text=True).strip()

    # SIGTERM (timeout, kill) unwinds through `finally`, so the servers started here stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="export_memory.")
    procs = []
    try:
        redis_port, mongo_port, api_port = free_port(), free_port(), free_port()
        os.makedirs(f"{tmp}/redis")
        os.makedirs(f"{tmp}/mongo")
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", f"{tmp}/redis", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            [NX, "--data-dir", f"{tmp}/mongo", "--port", str(mongo_port), "--log-file", f"{tmp}/nx.log", "--pid-file", f"{tmp}/nx.pid"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(redis_port)
        wait_port(mongo_port)
        env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", MONGO_URI=f"mongodb://127.0.0.1:{mongo_port}/exportmem",
                   STATS_MAX_TIME_MS="120000", LOG_LEVEL="warning")
        subprocess.run([os.path.join(binary, "Worker"), "sites", "add", SITE], env=env, check=True, stdout=subprocess.DEVNULL)
        created = subprocess.run(
            [os.path.join(binary, "Worker"), "keys", "create", "--name", "export-memory", "--site", SITE, "--scope", "events:read"],
            env=env, check=True, capture_output=True, text=True)
        key = created.stdout.strip().splitlines()[-1]

        api = subprocess.Popen([os.path.join(binary, "IngestAPI"), "--port", str(api_port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/api.log", "w"))
        procs.append(api)
        wait_port(api_port)

        events = pymongo.MongoClient(f"mongodb://127.0.0.1:{mongo_port}/").exportmem.events
        events.create_index([("site_id", 1), ("timestamp", 1)], name="site_id_1_timestamp_1")
        rng = random.Random(27017)
        stored = 0
        print(f"{'events':>10} {'rows':>10} {'seconds':>9} {'rows/s':>9} {'RSS before MiB':>15} {'peak RSS MiB':>13}", flush=True)
        for size in sizes:
            began = time.time()
            while stored < size:
                batch = min(10_000, size - stored)
                events.insert_many(documents(stored, batch, rng), ordered=False)
                stored += batch
            inserted = time.time() - began
            before = rss_kib(api.pid)
            rows, seconds, peak = export(api_port, key, api.pid)
            print(f"{size:>10,} {rows:>10,} {seconds:>9.1f} {rows / seconds:>9,.0f} {before / 1024:>15.1f} {peak / 1024:>13.1f}"
                  f"   (stored in {inserted:.0f} s)", flush=True)
            if rows != size:
                print(f"error: exported {rows} rows of {size}", file=sys.stderr)
                return 1
        return 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
