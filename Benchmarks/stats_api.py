"""Bench scenario 10: the Stats API v1 over 30 days of one site's events, next to the raw
aggregation that computes the same numbers from the raw events, same run, same nx-27017.

Per size: the data set of `stats_data` is inserted with pymongo (unordered, 10k per insert_many)
into a database of its own and indexed as MongoStore.ensureIndexes does; then `Worker sites add
dashboard.example --public` and the IngestAPI (the real release binaries). Three queries, each over the
30 days before `date` and `date` (`period=30d`, every event of the data set inside, every hour
settled): `aggregate` (all seven metrics), `timeseries` (day), `breakdown` (`event:page`, limit 10).
Events inserted straight into the store (not by a Worker) have no rollups yet, as after restoring
a backup: `Worker rollups rebuild` builds them first, with a longer socket timeout, and is timed.
Each query is then asked once more to warm up and `--stats-queries` times measured; the raw
pipelines run once to warm up and a few times measured, interleaved with ours.

The raw side: for each query, the fastest pipelines nx-27017 answers correctly, grouped down to one
row per visitor or per visit in the server and finished by the client (time included):
nx-27017 (0.8.1) answers a `$match` on a date range wrongly in its SQL tier (it compares the JSON
text of the date: `$lt` matches nothing), and the `$and` form that it gets right runs 2-6x slower
through temporary tables, so the raw pipelines match on `site_id` alone. That returns the same
events here (the data set holds nothing outside the period) and makes the baseline faster than a
real 30-day raw pipeline: the ratios understate ours. `$min` of dates comes back as a string
(parsed by the client); `$group` by a compound `_id` is not evaluated, hence one pipeline per grouping.
"""
import datetime
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pymongo  # noqa: E402
from bench import BIN, percentile, start, stop  # noqa: E402
from harness import free_port, wait_port  # noqa: E402
import stats_data  # noqa: E402
from stats_data import SITE, answers, day_of  # noqa: E402

QUERIES = ("aggregate", "timeseries", "breakdown")
METRICS = "visitors,visits,pageviews,views_per_visit,bounce_rate,visit_duration,events"
DAY = {"$dateToString": {"format": "%Y-%m-%d", "date": "$timestamp"}}
SITE_ONLY = {"$match": {"site_id": SITE}}
INDEXES = [("site_id", "timestamp"), ("site_id", "event_type", "timestamp"), ("site_id", "session_id", "timestamp"),
           ("site_id", "path", "timestamp"), ("site_id", "source", "timestamp")]  # MongoStore.ensureIndexes
PAGE_VIEWS = {"$match": {"site_id": SITE, "event_type": "page_view"}}
SESSIONS = [SITE_ONLY, {"$group": {"_id": "$session_id", "s": {"$min": "$timestamp"}, "e": {"$max": "$timestamp"}, "n": {"$sum": "$count"}}}]
WITH_CUSTOM = [{"$match": {"site_id": SITE, "event_type": {"$ne": "page_view"}}}, {"$group": {"_id": "$session_id"}}]


def api_path(query, date):
    params = {"site_id": SITE, "period": "30d", "date": date}
    if query == "breakdown":
        params.update(property="event:page", limit="10", metrics="visitors,pageviews")
    else:
        params.update(metrics=METRICS)
        if query == "timeseries":
            params["interval"] = "day"
    return f"/api/v1/stats/{query}?{urllib.parse.urlencode(params)}"


def millis(value):
    """Unix milliseconds of a date as real MongoDB returns it (datetime) or nx-27017's `$min` does
    (the text `{"$date":"2026-10-30T23:11:00.993000"}`)."""
    if isinstance(value, str):
        value = json.loads(value)["$date"] if value.startswith("{") else value
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return (value - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(milliseconds=1)


def sessions(coll):
    """(start, end, events, kind) per visit; a one-event visit is a bounce unless its event is custom.
    (`$first` of the event type would do in one pipeline, but costs nx-27017 twice the time.)"""
    custom = {r["_id"] for r in coll.aggregate(WITH_CUSTOM)}
    return [(millis(r["s"]), millis(r["e"]), r["n"], "custom" if r["_id"] in custom else "page_view") for r in coll.aggregate(SESSIONS)]


def raw(coll, query):
    """One query answered from raw events; the answer has the shape of `stats_data.answers`."""
    if query == "aggregate":
        by_type = {r["_id"]: r["n"] for r in coll.aggregate([SITE_ONLY, {"$group": {"_id": "$event_type", "n": {"$sum": "$count"}}}])}
        visitors = next(iter(coll.aggregate([SITE_ONLY, {"$group": {"_id": "$visitor_id"}}, {"$count": "n"}])), {"n": 0})["n"]
        return answers(visitors, by_type.get("page_view", 0), sum(by_type.values()), sessions(coll), {}, {})["aggregate"]
    if query == "timeseries":
        events = {r["_id"]: r["n"] for r in coll.aggregate([SITE_ONLY, {"$group": {"_id": DAY, "n": {"$sum": "$count"}}}])}
        views = {r["_id"]: r["n"] for r in coll.aggregate([PAGE_VIEWS, {"$group": {"_id": DAY, "n": {"$sum": "$count"}}}])}
        visitors = {}
        for r in coll.aggregate([SITE_ONLY, {"$group": {"_id": "$visitor_id", "d": {"$addToSet": DAY}}}]):
            for day in r["d"]:
                visitors[day] = visitors.get(day, 0) + 1
        days = {day: (views.get(day, 0), events[day], visitors.get(day, 0)) for day in events}
        return answers(0, 0, 0, sessions(coll), days, {})["timeseries"]
    views = {r["_id"]: r["n"] for r in coll.aggregate([PAGE_VIEWS, {"$group": {"_id": "$path", "n": {"$sum": "$count"}}}])}
    visitors = {}
    for r in coll.aggregate([SITE_ONLY, {"$group": {"_id": "$visitor_id", "p": {"$addToSet": "$path"}}}]):
        for path in r["p"]:
            visitors[path] = visitors.get(path, 0) + 1
    return answers(0, 0, 0, [], {}, {path: (views.get(path, 0), count) for path, count in visitors.items()})["breakdown"]


def ours(body, query):
    """Our answer, in the same shape (only what the query asked for)."""
    results = json.loads(body)["results"]
    if query == "aggregate":
        return {name: value["value"] for name, value in results.items()}
    if query == "timeseries":
        return {row["date"][:10]: {k: v for k, v in row.items() if k != "date"} for row in results}
    return {row["page"]: {k: v for k, v in row.items() if k != "page"} for row in results}


def mismatches(query, mine, reference, label, visitor_slack=0.01):
    """Differences of `mine` from `reference`: visitors may differ by `visitor_slack` (sketches), the rest not."""
    def cell(where, a, b):
        found = []
        for name, value in a.items():
            want = b.get(name, 0)
            slack = max(1e-9, want * visitor_slack) if name == "visitors" else 1e-9
            if abs(value - want) > slack:
                found.append(f"{label} {query} {where}{name}: {value} vs {want}")
        return found
    if query == "aggregate":
        return cell("", mine, reference)
    if query == "timeseries":
        empty = dict.fromkeys(next(iter(mine.values()), {}), 0)
        out = [f"{label} timeseries: day {day} holds events but is missing" for day in reference if day not in mine and reference[day]["events"]]
        return out + [p for day, row in mine.items() for p in cell(f"{day} ", row, reference.get(day, empty))]
    top = sorted(reference, key=lambda p: (-reference[p]["visitors"], -reference[p]["pageviews"], p))[:len(mine)]
    out = [f"{label} breakdown: {path} is not a page" for path in mine if path not in reference]
    out += [p for path, row in mine.items() if path in reference for p in cell(f"{path} ", row, reference[path])]
    if set(mine) != set(top):
        out.append(f"{label} breakdown: top pages {sorted(mine)} vs {sorted(top)} (by visitors)")
    return out


class Api:
    """One keep-alive connection to an IngestAPI; `get` times a request, whole answer read."""

    def __init__(self, port):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)

    def get(self, path, refused=()):
        """(milliseconds, body) of a 200; (milliseconds, None) of a status in `refused`; else raises.
        A keep-alive connection the server closed while idle (the raw side's minutes at 1M events
        outlast HTTP_IDLE_TIMEOUT_MS) is opened again, untimed, as any client would."""
        try:
            self.connection.request("GET", "/healthz")
            self.connection.getresponse().read()
        except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1800)
        began = time.perf_counter()
        self.connection.request("GET", path)
        answer = self.connection.getresponse()
        body = answer.read()
        elapsed = (time.perf_counter() - began) * 1000
        if answer.status in refused:
            return elapsed, None
        if answer.status != 200:
            raise RuntimeError(f"GET {path} answered {answer.status}: {body[:300]!r}")
        return elapsed, body


def timed_raw(coll, query):
    began = time.perf_counter()
    answer = raw(coll, query)
    return (time.perf_counter() - began) * 1000, answer


def measure(servers, args, size, raw_runs):
    """Loads `size` events, measures the three queries both ways; returns the figures of this size."""
    database = f"stats_api_{size}"
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{servers.mongo_port}")
    coll = client[database]["events"]
    first, last, date, period_start, period_end = stats_data.window(int(time.time() * 1000))
    assert period_start <= first and last <= period_end, "the data set must lie inside the period asked about"
    api = None
    try:
        began = time.time()
        truth = stats_data.load(coll, size, first, last).answers()
        loaded = time.time() - began
        env = servers.env(database)
        added = subprocess.run([os.path.join(BIN, "Worker"), "sites", "add", SITE, "--public"], env=env, capture_output=True, text=True)
        if added.returncode != 0:
            raise RuntimeError(f"`Worker sites add {SITE} --public` failed ({added.returncode}): {added.stderr.strip()[:300]}")
        # The IngestAPI's indexes (MongoStore.ensureIndexes), made here: over 1M events nx-27017 takes longer
        # than the store's 30 s socket timeout, and the IngestAPI would go on while they are being built.
        began = time.time()
        for keys in INDEXES:
            coll.create_index([(key, 1) for key in keys])
        client[database]["rollups"].create_index([("s", 1), ("h", 1)])
        indexed = time.time() - began
        figures = dict(size=size, load_s=loaded, index_s=indexed, env=env, period=(period_start, period_end))
        figures["rebuild_s"] = rebuild(figures)
        port = free_port()
        api = start([os.path.join(BIN, "IngestAPI"), "--port", str(port)], env)
        wait_port(port, timeout=600)
        print(f"  stats-api {size:,}: loaded in {loaded:.0f} s, indexed in {indexed:.0f} s; "
              f"rollups built in {figures['rebuild_s']:.0f} s; period {date} (30d), {truth['aggregate']['visits']:,} visits, "
              f"{truth['aggregate']['visitors']:,} visitors", flush=True)
        return queries(coll, port, date, truth, args, raw_runs, figures)
    finally:
        if api:
            stop(api)
        client.drop_database(database)
        client.close()


def queries(coll, port, date, truth, args, raw_runs, figures):
    """Asks the three queries of one size both ways; returns `figures` with the times and any mismatch."""
    figures.update(first={}, ours={}, raw={}, problems=[])
    size = figures["size"]
    http_api = Api(port)
    for query in QUERIES:
        path = api_path(query, date)
        figures["first"][query], body = http_api.get(path)
        mine = ours(body, query)
        _, reference = timed_raw(coll, query)  # the raw side's warm-up; its answer is the one checked
        http_api.get(path)  # our warm-up
        mine_ms, raw_ms = [], []
        for run in range(args.stats_queries):  # the raw runs spread evenly among ours
            mine_ms.append(http_api.get(path)[0])
            while len(raw_ms) < raw_runs and (len(raw_ms) + 1) * args.stats_queries <= (run + 1) * raw_runs:
                raw_ms.append(timed_raw(coll, query)[0])
        figures["ours"][query], figures["raw"][query] = mine_ms, raw_ms
        problems = mismatches(query, mine, reference, "ours vs raw") + \
            mismatches(query, reference, truth[query], "raw vs generated", visitor_slack=0)
        for problem in problems:
            print(f"  !!! MISMATCH {size:,}: {problem}", flush=True)
        figures["problems"] += problems
        print(f"  stats-api {size:,} {query}: first {figures['first'][query]:.0f} ms, ours p50 {statistics.median(mine_ms):.1f} ms, "
              f"raw p50 {statistics.median(raw_ms):.0f} ms ({len(raw_ms)} runs), numbers {'EQUAL' if not problems else 'DIFFER'}",
              flush=True)
    http_api.connection.close()
    return figures


def rebuild(figures):
    """`Worker rollups rebuild` over the period, its store allowed an hour per MongoDB call; returns seconds."""
    start_day, end_day = (day_of(figures["period"][0]), day_of(figures["period"][1] - 1))
    env = dict(figures["env"], MONGO_URI=figures["env"]["MONGO_URI"] + "?socketTimeoutMS=3600000")
    print(f"  stats-api {figures['size']:,}: building the rollups with `Worker rollups rebuild --site {SITE} "
          f"--from {start_day} --to {end_day}`", flush=True)
    began = time.time()
    built = subprocess.run([os.path.join(BIN, "Worker"), "rollups", "rebuild", "--site", SITE, "--from", start_day, "--to", end_day],
                           env=env, capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"`Worker rollups rebuild` failed ({built.returncode}): {built.stderr.strip()[:300]}")
    return time.time() - began


def scenario_stats_api(servers, args, report=None):
    """10. Stats API v1 over 30 days (aggregate, timeseries, breakdown) next to the raw aggregation, 100k and 1M events."""
    sizes = sorted(args.stats_api_sizes)
    raw_runs = args.raw_runs or ([3, 2] if args.quick else [5, 3])
    results = [measure(servers, args, size, raw_runs[min(i, len(raw_runs) - 1)]) for i, size in enumerate(sizes)]
    return table(results, args)


def cold(r):
    return f"`Worker rollups rebuild` over the period built the rollups of {r['size']:,} events in {r['rebuild_s']:,.0f} s"


def table(results, args):
    small, big = results[0], results[-1]
    argv = sys.argv[1:]
    if "--output" in argv:  # where it was written is not how it was measured
        del argv[argv.index("--output"):argv.index("--output") + 2]
    command = " ".join(["scripts/bench"] + [a for a in argv if not a.startswith("--output=")])
    lines = [f"### 10. Stats API over 30 days: rollups vs the raw aggregation (`{command}`)", "",
             f"Written on {datetime.date.today()}, {os.cpu_count()} cores, nx-27017 with a file database. One site, 30 days of "
             "sessions (1-10 page views 10 s to 20 min apart, 10% with a custom event), visitors from a pool (a quarter of "
             "visits by returning visitors), 200 pages (Zipf), 10 sources, 20 countries, 12 device/browser/OS kinds "
             "(`Benchmarks/stats_data.py`), inserted straight into `events`. Ours: `GET /api/v1/stats/{aggregate, timeseries, "
             "breakdown}?period=30d` through the release IngestAPI over HTTP (keep-alive), whole answer read; aggregate and "
             "timeseries ask all seven metrics, breakdown `event:page`, limit 10, visitors and page views. Raw: the pipelines of "
             "`Benchmarks/stats_api.py` through pymongo, finished in the client (see its docstring: they match on `site_id` only, "
             "which favours them). Events inserted straight into the store have no rollups: `Worker rollups rebuild` builds them "
             f"first (timed below, as after restoring a backup); \"first\" is each query's first answer after it. Then one warm-up each, {args.stats_queries} measured queries of ours and the raw runs shown, "
             "interleaved; with 20 queries or fewer, p99 is the slowest.", "",
             "| query | events | first ms | ours p50 ms | ours p99 ms | raw runs | raw p50 ms | raw p99 ms | raw p50 / ours p50 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for query in QUERIES:
        for r in results:
            o, w = r["ours"][query], r["raw"][query]
            lines.append(f"| {query} | {r['size']:,} | {r['first'][query]:,.0f} | {statistics.median(o):.1f} | {percentile(o, 0.99):.1f} | "
                         f"{len(w)} | {statistics.median(w):,.0f} | {percentile(w, 0.99):,.0f} | {statistics.median(w) / statistics.median(o):,.1f}× |")
    growth = {q: statistics.median(big["ours"][q]) / statistics.median(small["ours"][q]) for q in QUERIES}
    worst = min(statistics.median(big["raw"][q]) / statistics.median(big["ours"][q]) for q in QUERIES)
    lines += ["", f"Our p50 at {big['size']:,} / at {small['size']:,} events: "
              + ", ".join(f"{q} {growth[q]:.2f}×" for q in QUERIES) + f" (at most 2× wanted). Smallest raw/ours p50 at "
              f"{big['size']:,}: {worst:,.1f}× (at least 20× wanted).",
              "Loading: " + ", ".join(f"{r['size']:,} events in {r['load_s']:.0f} s (indexes {r['index_s']:.0f} s)" for r in results) + ".",
              "Cold: " + "; ".join(cold(r) for r in results) + ".",
              "Numbers: " + ("ours equal the raw pipelines' (page views, visits, events, bounce rate, duration exactly; visitors "
                             "within 1%), and the raw pipelines' equal the generator's own count."
                             if not any(r["problems"] for r in results) else
                             "MISMATCHES: " + "; ".join(p for r in results for p in r["problems"][:5])), ""]
    return lines
