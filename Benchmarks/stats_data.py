"""The data set of bench scenario 10: one site's events over 30 days, shaped like real traffic
and stored exactly as the Worker stores them (MongoStore+insert.swift `document(for:)`), so the
query engine reads them as it reads drained events.

Sessions of 1-10 page views 10 s to 20 min apart; visitors from a pool (a share return on other
days, with the same device, browser, OS and country); pages Zipf-like over 200 paths; sources
Google, Direct / None, Twitter, a few referrer hosts and a newsletter campaign; 10% of sessions
send one custom event with props. Session starts follow a daily curve. Deterministic for a
seed and a window (which follows the clock); `Truth` counts what every answer should be.
"""
import bisect
import datetime
import itertools
import math
import random

import bson

SITE = "dashboard.example"
DAY_MS = 86_400_000

PATHS = ["/", "/pricing", "/features", "/docs", "/blog", "/about", "/signup", "/login", "/contact", "/changelog"] + \
    [f"/docs/{topic}" for topic in ("install", "api", "tracker", "filters", "goals", "sites", "keys", "export", "import", "faq")] + \
    [f"/blog/post-{n}" for n in range(1, 151)] + [f"/customers/{n}" for n in range(1, 31)]
PATH_WEIGHTS = list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(len(PATHS))))

SOURCES = [  # (weight, source, referrer, utm)
    (34, "Google", "google.com", None), (30, "Direct / None", None, None), (8, "Twitter", "t.co/x1y2z3", None),
    (5, "Hacker News", "news.ycombinator.com/item", None), (5, "Reddit", "reddit.com/r/analytics", None),
    (4, "GitHub", "github.com/example/dashboard", None), (4, "DuckDuckGo", "duckduckgo.com", None), (3, "Bing", "bing.com", None),
    (3, "blog.friend.example", "blog.friend.example/review", None), (4, "newsletter", None, ("email", "newsletter", "november")),
]
COUNTRIES = [(30, "US"), (10, "DE"), (8, "GB"), (7, "FR"), (7, "IN"), (5, "CA"), (4, "NL"), (4, "BR"), (3, "JP"), (3, "ES"),
             (3, "PL"), (3, "AU"), (3, "IT"), (2, "SE"), (2, "CH"), (2, "MX"), (1, "KR"), (1, "ZA"), (1, "NG"), (1, "AR")]
CLIENTS = [  # (weight, device, browser, browser_version, os, os_version)
    (20, "Desktop", "Chrome", "131.0", "Windows", "10"), (10, "Desktop", "Chrome", "131.0", "Mac", "10.15"),
    (8, "Desktop", "Safari", "18.1", "Mac", "10.15"), (6, "Desktop", "Firefox", "132.0", "Windows", "10"),
    (5, "Desktop", "Microsoft Edge", "131.0", "Windows", "10"), (3, "Desktop", "Firefox", "132.0", "GNU/Linux", ""),
    (3, "Desktop", "Chrome", "131.0", "GNU/Linux", ""), (20, "Mobile", "Safari", "18.1", "iOS", "18.1"),
    (15, "Mobile", "Chrome", "131.0", "Android", "14"), (4, "Mobile", "Samsung Internet", "26.0", "Android", "14"),
    (4, "Tablet", "Safari", "18.1", "iPadOS", "18.1"), (2, "Tablet", "Chrome", "131.0", "Android", "13"),
]
VIEWS_PER_SESSION = list(itertools.accumulate([40, 15, 10, 8, 7, 6, 5, 4, 3, 2]))  # 1..10 page views: bounce rate near 40%
HOUR_WEIGHT = [0.3, 0.2, 0.15, 0.15, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4]
CUSTOM = [("Signup", {"plan": ["free", "pro", "team"]}), ("Download", {"file": ["guide.pdf", "sdk.zip"], "kind": ["pdf", "zip"]})]


def window(now_ms):
    """The data's 30 days, ending 2 days before `now_ms`, and the `date` that pins `period=30d` over
    all of it: Plausible's `30d` is the 30 days before `date` and `date`, so [date - 30, date + 1)."""
    end = now_ms - 2 * DAY_MS
    date = datetime.datetime.fromtimestamp(end / 1000, datetime.timezone.utc).date()
    day_start = int(datetime.datetime(date.year, date.month, date.day, tzinfo=datetime.timezone.utc).timestamp() * 1000)
    return end - 30 * DAY_MS, end, date.isoformat(), day_start - 30 * DAY_MS, day_start + DAY_MS


def weighted(rng, table, cumulative=None):
    cumulative = cumulative or list(itertools.accumulate(row[0] for row in table))
    return table[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def events(count, start_ms, end_ms, seed=11):
    """Yields exactly `count` event documents, session after session (the last session may be cut short)."""
    rng = random.Random(seed)
    source_cum = list(itertools.accumulate(s[0] for s in SOURCES))
    country_cum = list(itertools.accumulate(c[0] for c in COUNTRIES))
    client_cum = list(itertools.accumulate(c[0] for c in CLIENTS))
    visitors = []  # (visitor_id, client, country)
    produced = 0
    span = end_ms - start_ms - 4 * 3_600_000  # a session lasts at most 9 x 20 min: every one ends inside the window
    for session_index in itertools.count():
        while True:  # session start: uniform over the days, weighted by hour of day
            started = start_ms + int(rng.random() * span)
            if rng.random() < HOUR_WEIGHT[(started // 3_600_000) % 24]:
                break
        if visitors and rng.random() < 0.25:
            visitor = visitors[rng.randrange(len(visitors))]
        else:
            visitor = (bson.Int64(rng.getrandbits(62) + 2**31), weighted(rng, CLIENTS, client_cum), weighted(rng, COUNTRIES, country_cum)[1])
            visitors.append(visitor)
        visitor_id, (_, device, browser, browser_version, os_name, os_version), country = visitor
        _, source, referrer, utm = weighted(rng, SOURCES, source_cum)
        common = {"site_id": SITE, "count": 1, "visitor_id": visitor_id, "session_id": bson.Int64(rng.getrandbits(62) + 2**31),
                  "hostname": SITE, "source": source, "browser": browser, "browser_version": browser_version, "os": os_name,
                  "device": device, "country": country}
        if os_version:
            common["os_version"] = os_version
        if referrer:
            common["referrer"] = referrer
        if utm:
            common.update(utm_medium=utm[0], utm_source=utm[1], utm_campaign=utm[2])
        views = bisect.bisect_right(VIEWS_PER_SESSION, rng.random() * VIEWS_PER_SESSION[-1]) + 1
        moments = [started]
        for _ in range(views - 1):  # 10 s to 20 min apart, log-uniform
            moments.append(moments[-1] + int(math.exp(rng.uniform(math.log(10_000), math.log(1_200_000)))))
        custom = rng.random() < 0.1
        for k, moment in enumerate(moments):
            path = PATHS[bisect.bisect_right(PATH_WEIGHTS, rng.random() * PATH_WEIGHTS[-1])]
            yield document(f"{session_index:x}-{k}", "page_view", "pageview", path, moment, rng, common)
            produced += 1
            if produced == count:
                return
            if custom and k == len(moments) - 1:
                name, props = CUSTOM[rng.randrange(len(CUSTOM))]
                doc = document(f"{session_index:x}-c", name, name, path, moment + rng.randrange(1_000, 30_000), rng, common)
                doc["props"] = {key: rng.choice(values) for key, values in sorted(props.items())}
                yield doc
                produced += 1
                if produced == count:
                    return


def document(event_id, event_type, name, path, moment, rng, common):
    """One stored event: the Worker's field names and types (dates as BSON dates, ids as int64)."""
    stamp = datetime.datetime.fromtimestamp(moment / 1000, datetime.timezone.utc)
    received = datetime.datetime.fromtimestamp((moment + rng.randrange(50, 500)) / 1000, datetime.timezone.utc)
    doc = {"_id": f"{SITE}/{event_id}", "event_id": event_id, "site_id": SITE, "event_type": event_type, "path": path,
           "timestamp": stamp, "createdAt": received, "name": name}
    doc.update(common)
    return doc


def load(collection, count, start_ms, end_ms, seed=11, batch=10_000):
    """Inserts the data set (unordered, `batch` per insert_many); returns the true numbers of it."""
    truth = Truth()
    chunk = []
    for doc in events(count, start_ms, end_ms, seed):
        truth.add(doc)
        chunk.append(doc)
        if len(chunk) == batch:
            collection.insert_many(chunk, ordered=False)
            chunk = []
    if chunk:
        collection.insert_many(chunk, ordered=False)
    return truth


def whole(value):
    """Swift's `rounded()` (half away from zero) of a non-negative number."""
    floor = math.floor(value)
    return floor + (1 if value - floor >= 0.5 else 0)


def metrics(visitors, visits, pageviews, events, bounces, duration_ms):
    """The seven metrics of one cell, computed as `Cell.value` does (StatsModel.swift)."""
    return {"visitors": visitors, "visits": visits, "pageviews": pageviews, "events": events,
            "views_per_visit": whole(pageviews / visits * 100) / 100 if visits else 0,
            "bounce_rate": whole(bounces / visits * 100) if visits else 0,
            "visit_duration": whole(duration_ms / 1000 / visits) if visits else 0}


def day_of(ms):
    """`YYYY-MM-DD` (UTC) of Unix milliseconds."""
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d")


def answers(visitors, pageviews, events, sessions, days, pages):
    """The three answers from parts every source can produce: `sessions` as (start ms, end ms,
    events, first event type); `days` day -> [page views, events, visitors]; `pages` path ->
    [page views, visitors]. A visit counts on the day it starts; a bounce is one page view alone."""
    per_day = {}  # day -> [visits, bounces, duration ms]
    for start, end, count, first_type in sessions:
        cell = per_day.setdefault(day_of(start), [0, 0, 0])
        cell[0] += 1
        cell[1] += count == 1 and first_type == "page_view"
        cell[2] += end - start
    visits = sum(c[0] for c in per_day.values())
    bounces = sum(c[1] for c in per_day.values())
    duration = sum(c[2] for c in per_day.values())
    aggregate = metrics(visitors, visits, pageviews, events, bounces, duration)
    timeseries = {}
    for day in sorted(set(days) | set(per_day)):
        pv, ev, vis = days.get(day, (0, 0, 0))
        v, b, d = per_day.get(day, (0, 0, 0))
        timeseries[day] = metrics(vis, v, pv, ev, b, d)
    breakdown = {path: {"visitors": vis, "pageviews": pv} for path, (pv, vis) in pages.items()}
    return {"aggregate": aggregate, "timeseries": timeseries, "breakdown": breakdown}


class Truth:
    """The numbers the three queries should answer, counted in Python while the events are generated."""

    def __init__(self):
        self.pageviews, self.events = 0, 0
        self.visitors = set()
        self.sessions = {}  # session_id -> [first ms, last ms, events, first event type]
        self.days = {}  # day -> [page views, events, visitors set]
        self.pages = {}  # path -> [page views, visitors set]

    def add(self, doc):
        ms = int(doc["timestamp"].timestamp() * 1000)
        view = doc["event_type"] == "page_view"
        self.pageviews += view
        self.events += 1
        self.visitors.add(doc["visitor_id"])
        session = self.sessions.setdefault(doc["session_id"], [ms, ms, 0, doc["event_type"]])
        if ms < session[0]:
            session[0], session[3] = ms, doc["event_type"]
        session[1] = max(session[1], ms)
        session[2] += 1
        per_day = self.days.setdefault(day_of(ms), [0, 0, set()])
        per_day[0] += view
        per_day[1] += 1
        per_day[2].add(doc["visitor_id"])
        page = self.pages.setdefault(doc["path"], [0, set()])
        page[0] += view
        page[1].add(doc["visitor_id"])

    def answers(self):
        """The three answers, as `answers` builds them."""
        return answers(len(self.visitors), self.pageviews, self.events, self.sessions.values(),
                       {day: (pv, ev, len(vis)) for day, (pv, ev, vis) in self.days.items()},
                       {path: (pv, len(vis)) for path, (pv, vis) in self.pages.items()})
