"""Headless-Chromium test of the dashboard (GET / on IngestAPI, Sources/IngestAPI/Dashboard).

It starts redis-server, nx-27017, IngestAPI and a Worker of its own (scripts/chaos.py's Cluster),
adds a private site (in a time zone other than UTC, whichever of two is far from midnight) and a
public one, makes a key, sends known events through the Plausible Events API (from addresses of
known countries), waits until the Stats API counts all of them, then
drives the page as a person would:

  - `/` with no key shows the sign-in form and makes no request; the key typed in is kept in
    localStorage, and a key that sees two sites gets a site picker;
  - "Today" shows the seeded numbers in the top row and the top pages card (worked out here from
    the events sent, not read from the API);
  - a click on the "Google" source filters every card and the top row, shows a removable chip and
    puts `visit:source=Google` in the URL; that URL opened afresh shows the same view;
  - the chip is removed with the keyboard; a page filter leaves views per visit a dash and the rest
    filtered; a card's tab reloads that card alone; "Last 7 days" counts as the Stats API's `7d`;
    Back restores the previous view; the compare toggle draws the previous period;
  - periods.js (imported by the page) gives the periods and previous periods worked out here on
    days where month lengths and leap years matter, and rounds changes as the server does;
  - the CSV export holds the filtered numbers; a public site opens without a key;
  - on a phone-sized window nothing overflows sideways;
  - the browser console has no errors, and the first load (HTML, CSS, our JS) is under 100 KB.

Synchronisation is by conditions with deadlines: the page marks <html data-state="ready"> and
counts finished loads in data-load.

Run: .venv/bin/python scripts/dashboard_test.py --bin "$(swift build --show-bin-path)" [--screenshot docs/dashboard.png]
"""
import argparse
import csv
import datetime
import os
import sys
import tempfile
import zoneinfo

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from browser_test import Report, make_driver, wait_until  # noqa: E402
from harness import http, worker_command  # noqa: E402

SITE, OTHER, PUBLIC = "dash.test", "second.test", "open.test"
ZONES = ["America/New_York", "Asia/Tokyo"]  # 13-14 hours apart: one of them is far from midnight
WAIT = 20  # seconds: the deadline of every wait on a condition
FIRST_LOAD_LIMIT = 100 * 1024
UA = {
    "chrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    "firefox": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
    "safari": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "android": "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
}
# Four visitors (one user agent and address each), all today:
# (user agent, address, referrer, [(event name, path, props)]). The countries of the addresses in
# Debian's geoip-database (`geoiplookup`): 8.8.8.8 and 8.8.4.4 US, 193.51.208.14 FR, 81.2.69.160 GB.
VISITS = [
    ("chrome", "8.8.8.8", "https://www.google.com/", [("pageview", "/", None), ("pageview", "/pricing", None), ("Signup", "/pricing", {"plan": "pro"})]),
    ("firefox", "193.51.208.14", "https://www.google.com/", [("pageview", "/", None)]),
    ("safari", "8.8.4.4", "https://news.ycombinator.com/item?id=1", [("pageview", "/blog", None), ("pageview", "/", None)]),
    ("android", "81.2.69.160", None, [("pageview", "/pricing", None)]),
]
# What those events are, worked out by hand: the top row, and the top pages card (visitors, pageviews).
ALL = {"visitors": 4, "visits": 4, "pageviews": 6, "views_per_visit": 1.5, "bounce_rate": 50}
ALL_PAGES = {"/": [3, 3], "/pricing": [2, 2], "/blog": [1, 1]}
ALL_SOURCES = {"Google": 2, "Hacker News": 1, "Direct / None": 1}
# Filtered by source Google (the Chrome and Firefox visitors).
GOOGLE = {"visitors": 2, "visits": 2, "pageviews": 3, "views_per_visit": 1.5, "bounce_rate": 50}
GOOGLE_CARDS = {
    "pages": {"/": [2, 2], "/pricing": [1, 1]},
    "sources": {"Google": [2]},
    "locations": {"US": [1], "FR": [1]},
    "devices": {"Desktop": [2]},
    "events": {"Signup": [1, 1]},
}
ALL_LOCATIONS = {"US": [2], "FR": [1], "GB": [1]}
# Filtered by page /pricing (the Chrome and Android visitors): views per visit is not defined.
PRICING = {"visitors": 2, "visits": 2, "pageviews": 2}


# ---------------------------------------------------------------------------------------------
# Seeding through the API

def worker(cluster, *args):
    """Runs a Worker admin subcommand against `cluster`; its standard output."""
    return worker_command(cluster.bins, cluster.env, *args)


def far_from_midnight():
    """The zone of ZONES whose clock is farthest from midnight (hours away): "today" holds for the run."""
    def distance(zone):
        local = datetime.datetime.now(zoneinfo.ZoneInfo(zone))
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        return min(seconds, 86_400 - seconds)
    return max(ZONES, key=distance)


def hours_today(zone):
    """How many hours today has in `zone` (23 or 25 on a day the clocks change)."""
    tz = zoneinfo.ZoneInfo(zone)
    today = datetime.datetime.now(tz).date()
    start = datetime.datetime.combine(today, datetime.time(), tz)
    end = datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time(), tz)
    return round((end.timestamp() - start.timestamp()) / 3600)


def seed(api, site, visits):
    """Sends `visits` through the Plausible Events API (the API trusts one proxy hop, so the
    address is X-Forwarded-For's)."""
    for agent, address, referrer, events in visits:
        for name, path, props in events:
            body = {"name": name, "url": f"https://{site}{path}", "domain": site}
            if referrer:
                body["referrer"] = referrer
            if props:
                body["props"] = props
            status, _ = http("POST", f"{api}/api/event", body, {"User-Agent": UA[agent], "X-Forwarded-For": address})
            if status != 202:
                raise RuntimeError(f"POST /api/event answered {status}")


def v2(api, key, site, metrics, date_range="day"):
    """The metrics of a Stats API v2 aggregate, or None when it was refused."""
    status, answer = http("POST", f"{api}/api/v2/query", {"site_id": site, "metrics": metrics, "date_range": date_range},
                          {"Authorization": f"Bearer {key}"})
    return answer["results"][0]["metrics"] if status == 200 and answer.get("results") else None


# ---------------------------------------------------------------------------------------------
# Reading the page

def loaded(driver, after):
    """Waits for a finished load counted after `after`; the new count (None on timeout)."""
    def done():
        count = driver.execute_script("return document.documentElement.dataset.load")
        state = driver.execute_script("return document.documentElement.dataset.state")
        return int(count) if count and int(count) > after and state in ("ready", "error") else None
    return wait_until(done, timeout=WAIT)


def notice(driver):
    """The page's notice (what went wrong, when something did) and its state."""
    return driver.execute_script("return [document.documentElement.dataset.state, document.getElementById('notice').textContent]")


def load_count(driver):
    return int(driver.execute_script("return document.documentElement.dataset.load || '0'"))


def tiles(driver):
    """{metric: exact value} of the top row (None for a tile showing a dash)."""
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('.tile[data-metric]')]"
        ".map(t => { const v = t.querySelector('.value').dataset.value; return [t.dataset.metric, v === undefined ? null : Number(v)]; }))")


def card(driver, name):
    """{row label: [numbers]} of a card, by data-value (the exact numbers behind what is shown)."""
    return driver.execute_script(
        "const card = document.querySelector(`.card[data-card='${arguments[0]}']`);"
        "return Object.fromEntries([...card.querySelectorAll('.row')].map(r => [r.dataset.value,"
        " [...r.querySelectorAll('.num')].map(n => Number(n.dataset.value))]));", name)


def query_of(driver):
    """The page URL's query parameters."""
    return driver.execute_script("return Object.fromEntries(new URLSearchParams(location.search))")


def console_errors(driver):
    """The console's errors since the last call (reading the log empties it)."""
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def first_load_bytes(driver):
    """Bytes of the page and the CSS and JavaScript it loaded (API answers aside)."""
    return driver.execute_script(
        "const nav = performance.getEntriesByType('navigation')[0];"
        "const assets = performance.getEntriesByType('resource').filter(r => new URL(r.name).pathname.startsWith('/dashboard/'));"
        "return {total: nav.encodedBodySize + assets.reduce((s, r) => s + r.encodedBodySize, 0),"
        " files: [location.pathname, ...assets.map(r => new URL(r.name).pathname)]};")


# ---------------------------------------------------------------------------------------------
# The run

def api_requests(driver):
    """How many Stats API queries the page has made."""
    return driver.execute_script("return performance.getEntriesByType('resource').filter(r => r.name.endsWith('/api/v2/query')).length")


def run(report, cluster, screenshot):
    """The whole scenario against `cluster`."""
    api = f"http://127.0.0.1:{cluster.api_port}"
    zone = far_from_midnight()
    worker(cluster, "sites", "add", SITE, "--timezone", zone)
    worker(cluster, "sites", "add", OTHER)
    worker(cluster, "sites", "add", PUBLIC, "--public")
    key = worker(cluster, "keys", "create", "--name", "dashboard", "--site", SITE, "--site", OTHER).strip().split("\n")[-1]
    probe = worker(cluster, "keys", "create", "--name", "probe", "--all-sites").strip().split("\n")[-1]
    seed(api, SITE, VISITS)
    seed(api, PUBLIC, VISITS[1:2])
    stored = wait_until(lambda: v2(api, probe, SITE, ["pageviews", "events"]) == [6, 7] and v2(api, probe, PUBLIC, ["pageviews"]) == [1],
                        timeout=60, interval=0.5)
    report.check("seed: the Stats API counts every event sent", stored, v2(api, probe, SITE, ["pageviews", "events"]))
    api_duration = (v2(api, probe, SITE, ["visit_duration"]) or [None])[0]
    api_week = (v2(api, probe, SITE, ["visitors"], "7d") or [None])[0]

    downloads = tempfile.mkdtemp(prefix="dashboard-downloads-")
    driver = make_driver(downloads=downloads)
    try:
        # 1. Sign-in: no key, no site: the form, and no request made.
        driver.get(f"{api}/")
        signin = wait_until(lambda: driver.execute_script("return document.documentElement.dataset.state") == "signin")
        report.check("no key: the sign-in form is shown", signin and driver.find_element(By.ID, "signin").is_displayed())
        size = first_load_bytes(driver)
        report.check(f"first load {size['total']} bytes ({', '.join(size['files'])}) is under 100 KB",
                     0 < size["total"] < FIRST_LOAD_LIMIT and len(size["files"]) >= 5, size)
        requests = driver.execute_script("return performance.getEntriesByType('resource').filter(r => r.name.includes('/api/')).length")
        report.equal("no key: no API request made", requests, 0)

        before = load_count(driver)
        driver.find_element(By.ID, "key").send_keys(key + Keys.ENTER)
        report.check("sign-in: the dashboard loads", loaded(driver, before))
        report.equal("sign-in: the key is kept in localStorage", driver.execute_script("return localStorage.getItem('pipeline.dashboard.key')"), key)
        options = driver.execute_script("return [...document.querySelectorAll('#site option')].map(o => o.value)")
        report.equal("a key for two sites: the picker offers both", sorted(options), sorted([SITE, OTHER]))
        report.check("the picker is shown", driver.find_element(By.ID, "site-picker").is_displayed())

        # 2. Today's numbers.
        picker = driver.find_element(By.ID, "site")
        if driver.execute_script("return arguments[0].value", picker) != SITE:
            before = load_count(driver)
            driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))", picker, SITE)
            loaded(driver, before)
        before = load_count(driver)
        driver.execute_script("const p = document.getElementById('period'); p.value = 'day'; p.dispatchEvent(new Event('change'))")
        report.check("period Today: loaded", loaded(driver, before) and notice(driver)[0] == "ready", notice(driver))
        report.equal("the site's time zone is shown", driver.find_element(By.ID, "zone").text, zone)
        top = tiles(driver)
        report.equal("top row: the seeded numbers", {k: top.get(k) for k in ALL}, ALL)
        report.equal("top row: visit duration is the Stats API's", top.get("visit_duration"), api_duration)
        shown = driver.execute_script("return [...document.querySelectorAll('.tile[data-metric] .value')].map(v => v.textContent)")
        report.equal("top row: as displayed", shown[:5], ["4", "4", "6", "1.5", "50%"])
        report.equal("top pages card: pages, visitors and pageviews", card(driver, "pages"), ALL_PAGES)
        report.equal("sources card", {k: v[0] for k, v in card(driver, "sources").items()}, ALL_SOURCES)
        realtime = wait_until(lambda: driver.execute_script("return document.querySelector('#realtime .value').dataset.value"))
        report.equal("current visitors (last 5 minutes)", realtime, "4")
        labels = driver.execute_script("return document.querySelectorAll('#chart svg .hit').length")
        report.equal("chart: one column per hour of today", labels, hours_today(zone))
        report.equal("locations card: countries of the visitors' addresses", card(driver, "locations"), ALL_LOCATIONS)
        report.equal("URL: site and period", {k: query_of(driver).get(k) for k in ("site", "period")}, {"site": SITE, "period": "day"})

        # 3. A click on a source filters everything.
        before = load_count(driver)
        driver.find_element(By.CSS_SELECTOR, ".card[data-card='sources'] .row[data-value='Google']").click()
        report.check("filter: loaded", loaded(driver, before))
        report.equal("filter: the URL carries it", query_of(driver).get("visit:source"), "Google")
        report.equal("filter: top row", {k: tiles(driver).get(k) for k in GOOGLE}, GOOGLE)
        for name, want in GOOGLE_CARDS.items():
            report.equal(f"filter: the {name} card", card(driver, name), want)
        chips = driver.execute_script("return [...document.querySelectorAll('#filters .chip')].map(c => [c.dataset.property, c.dataset.value, c.textContent])")
        report.check("filter: one chip, 'Source is Google'", len(chips) == 1 and chips[0][:2] == ["visit:source", "Google"] and "Source is Google" in chips[0][2], chips)
        filtered_url = driver.current_url

        # 4. Export the filtered view.
        driver.find_element(By.ID, "export").click()
        def exported_rows():
            """The downloaded CSV's rows once it is there and whole: Chromium may create the file
            under its final name before it has written it."""
            names = [f for f in os.listdir(downloads) if f.endswith(".csv")]
            if not names:
                return None
            with open(os.path.join(downloads, names[0]), newline="") as f:
                rows = list(csv.reader(f))
            return rows if any(r and r[0] == "summary" for r in rows) else None

        rows = wait_until(exported_rows, timeout=WAIT)
        if report.check("export: a CSV file is downloaded", rows, os.listdir(downloads)):
            summary = {r[2]: r[3] for r in rows if r[0] == "summary"}
            report.equal("export: the filtered top row", {k: summary.get(k) for k in ("visitors", "pageviews")}, {"visitors": "2", "pageviews": "3"})
            report.check("export: the filter and the pages", ["filter", "visit:source", "is", "Google"] in rows and ["event:page", "/", "pageviews", "2"] in rows, rows[:12])

        # 5. The URL alone restores the view (a fresh page with the key saved).
        before = 0
        driver.get(filtered_url)
        report.check("link: loaded", loaded(driver, before))
        report.equal("link: the same top row", {k: tiles(driver).get(k) for k in GOOGLE}, GOOGLE)
        report.equal("link: the same pages card", card(driver, "pages"), GOOGLE_CARDS["pages"])
        report.equal("link: the period select", driver.execute_script("return document.getElementById('period').value"), "day")

        # 6. The chip is removed with the keyboard; compare draws the previous period.
        before = load_count(driver)
        remove = driver.find_element(By.CSS_SELECTOR, "#filters .chip button")
        driver.execute_script("arguments[0].focus()", remove)
        remove.send_keys(Keys.ENTER)
        report.check("keyboard: chip removed", loaded(driver, before))
        report.equal("keyboard: filter gone from the URL", "visit:source" in query_of(driver), False)
        report.equal("keyboard: the top row is whole again", tiles(driver).get("visitors"), 4)

        # A page filter: views per visit is not defined with it (the API refuses it), the rest is.
        before = load_count(driver)
        driver.find_element(By.CSS_SELECTOR, ".card[data-card='pages'] .row[data-value='/pricing']").click()
        report.check("page filter: loaded without an error", loaded(driver, before) and notice(driver) == ["ready", ""], notice(driver))
        top = tiles(driver)
        report.equal("page filter: top row", ({k: top.get(k) for k in PRICING}, top.get("views_per_visit")), (PRICING, None))
        report.equal("page filter: the tile shows a dash", driver.execute_script(
            "return document.querySelector('.tile[data-metric=views_per_visit] .value').textContent"), "—")
        before = load_count(driver)
        driver.find_element(By.CSS_SELECTOR, "#filters .chip button").click()
        loaded(driver, before)

        # A tab reloads its card alone.
        requests, before = api_requests(driver), load_count(driver)
        driver.find_element(By.CSS_SELECTOR, ".card[data-card='devices'] .tabs button[data-tab='visit:browser']").click()
        report.check("tab: loaded", loaded(driver, before))
        report.equal("tab: one query, for that card only", api_requests(driver) - requests, 1)
        browsers = card(driver, "devices")
        report.equal("tab: the browsers card counts every visitor", sum(v[0] for v in browsers.values()), 4)

        # The last 7 days end yesterday, as the Stats API's "7d" does.
        before = load_count(driver)
        driver.execute_script("const p = document.getElementById('period'); p.value = '7d'; p.dispatchEvent(new Event('change'))")
        loaded(driver, before)
        report.equal("7 days: as the Stats API's 7d (today excluded)", (query_of(driver).get("period"), tiles(driver).get("visitors")), ("7d", api_week))
        before = load_count(driver)
        driver.back()
        report.check("back: the previous period again", loaded(driver, before) and query_of(driver).get("period") == "day", query_of(driver))
        before = load_count(driver)
        driver.find_element(By.ID, "compare").click()
        loaded(driver, before)
        report.equal("compare: in the URL", query_of(driver).get("compare"), "1")
        report.equal("compare: the previous period is drawn", driver.execute_script("return document.querySelectorAll('#chart path.previous').length"), 1)
        changes = driver.execute_script("return document.querySelector('.tile[data-metric=visitors] .change').dataset.change")
        report.equal("compare: visitors' change against an empty yesterday", changes, "100")
        errors = console_errors(driver)
        report.check("console: no errors while signed in", errors == [], errors)

        # 7. The period arithmetic, on fixed days (month ends, a leap year), against this file's own reading.
        check_periods(report, driver)

        # 8. A phone-sized window: nothing wider than the screen.
        driver.set_window_size(390, 844)
        wide = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        report.check("phone width: no horizontal overflow", wide <= 0, f"{wide} px too wide")
        driver.set_window_size(1280, 1000)
        if screenshot:
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(screenshot)
            print(f"screenshot: {screenshot}")

        # 9. Sign out; a public site opens without a key.
        driver.find_element(By.ID, "signout").click()
        report.equal("sign out: the key is gone", driver.execute_script("return localStorage.getItem('pipeline.dashboard.key')"), None)
        driver.get(f"{api}/?site={PUBLIC}&period=day")
        report.check("public site: loaded without a key", loaded(driver, 0))
        report.equal("public site: its visitors", tiles(driver).get("visitors"), 1)
        errors = console_errors(driver)
        report.check("console: no errors on the public site", errors == [], errors)
    finally:
        driver.quit()


def expected_period(period, today):
    """(first, last) of a dashboard period on `today` (a date), worked out with datetime."""
    day = datetime.timedelta(days=1)
    month_start = today.replace(day=1)
    def months_back(date, n):
        y, m = divmod(date.year * 12 + date.month - 1 - n, 12)
        return datetime.date(y, m + 1, 1)
    return {
        "day": (today, today), "yesterday": (today - day, today - day), "7d": (today - 7 * day, today - day),
        "30d": (today - 30 * day, today - day), "month": (month_start, months_back(month_start, -1) - day),
        "lastmonth": (months_back(month_start, 1), month_start - day), "12mo": (months_back(month_start, 12), month_start - day),
    }[period]


def expected_previous(first, last, today):
    """The previous period of the Stats API's compare=previous_period: as many days as the period
    has up to today, ending the day before it starts."""
    end = today if first <= today < last else last
    days = (end - first).days + 1
    return first - datetime.timedelta(days=days), end - datetime.timedelta(days=days)


def check_periods(report, driver):
    """periods.js (imported by the page) against expected_period/expected_previous, and its
    change() against the server's rule, on days where month lengths and leap years matter."""
    days = ["2024-02-29", "2024-03-31", "2025-01-01", "2025-03-01", "2026-11-24", "2026-12-31"]
    got = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/dashboard/periods.js').then(p => done(arguments[0].flatMap(today => arguments[1].map(id => {"
        "  const r = p.resolvePeriod(id, today); const prev = p.previousPeriod(r.first, r.last, today);"
        "  return [today, id, r.first, r.last, prev.first, prev.last]; }))))"
        ".catch(e => done(String(e)));",
        days, ["day", "yesterday", "7d", "30d", "month", "lastmonth", "12mo"])
    wrong = []
    for today_text, period, first, last, prev_first, prev_last in (got if isinstance(got, list) else []):
        today = datetime.date.fromisoformat(today_text)
        want = expected_period(period, today)
        want_previous = expected_previous(*want, today)
        if (first, last, prev_first, prev_last) != tuple(d.isoformat() for d in want + want_previous):
            wrong.append((today_text, period, (first, last, prev_first, prev_last), want, want_previous))
    report.check(f"periods.js: {len(got) if isinstance(got, list) else 0} periods and their previous periods", isinstance(got, list) and len(got) == 42 and not wrong, wrong or got)
    changes = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/dashboard/periods.js').then(p => done([p.change('visitors', 0, 0), p.change('visitors', 0, 5), p.change('visitors', 8, 6),"
        " p.change('visitors', 8, 7), p.change('bounce_rate', 0, 40), p.change('bounce_rate', 50, 42.5),"
        " p.previousSeries(p.resolvePeriod('12mo', '2024-03-31'), '2024-03-31')]))")
    report.equal("periods.js: change() as the server rounds it; 12 months compare with the 12 before",
                 changes, [0, 100, -25, -13, None, -8, {"first": "2022-03-01", "last": "2023-02-28"}])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory holding the IngestAPI and Worker executables")
    parser.add_argument("--screenshot", help="save a screenshot of the seeded dashboard here")
    args = parser.parse_args()
    report = Report()

    def body():
        from chaos import Cluster
        with Cluster(args.bin, raw_mongo=None, fsync="no", workers=1, worker_env={"WORKER_BATCH_SIZE": "10", "TRUST_PROXY": "1"}) as cluster:
            run(report, cluster, args.screenshot)
    report.finish(body)


if __name__ == "__main__":
    main()
