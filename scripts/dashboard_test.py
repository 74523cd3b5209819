"""Headless-Chromium test of the dashboard (GET / on IngestAPI, Sources/IngestAPI/Dashboard).

It starts redis-server, nx-27017, IngestAPI and a Worker of its own (scripts/chaos.py's Cluster),
adds a private site (in a time zone other than UTC) and a public one, makes a key, sends known
events through the Plausible Events API, waits until the Stats API counts all of them, then
drives the page as a person would:

  - `/` with no key shows the sign-in form and makes no request; the key typed in is kept in
    localStorage, and a key that sees two sites gets a site picker;
  - "Today" shows the seeded numbers in the top row and the top pages card (worked out here from
    the events sent, not read from the API);
  - a click on the "Google" source filters every card and the top row, shows a removable chip and
    puts `visit:source=Google` in the URL; that URL opened afresh shows the same view;
  - the chip is removed with the keyboard; the compare toggle draws the previous period;
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
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zoneinfo

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from browser_test import Report, make_driver, wait_until  # noqa: E402

SITE, OTHER, PUBLIC = "dash.test", "second.test", "open.test"
ZONE = "America/New_York"
WAIT = 20  # seconds: the deadline of every wait on a condition
FIRST_LOAD_LIMIT = 100 * 1024
UA = {
    "chrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    "firefox": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
    "safari": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "android": "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
}
# Four visitors (one user agent each), all today: (user agent, referrer, [(event name, path, props)]).
VISITS = [
    ("chrome", "https://www.google.com/", [("pageview", "/", None), ("pageview", "/pricing", None), ("Signup", "/pricing", {"plan": "pro"})]),
    ("firefox", "https://www.google.com/", [("pageview", "/", None)]),
    ("safari", "https://news.ycombinator.com/item?id=1", [("pageview", "/blog", None), ("pageview", "/", None)]),
    ("android", None, [("pageview", "/pricing", None)]),
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
    "devices": {"Desktop": [2]},
    "events": {"Signup": [1, 1]},
}


# ---------------------------------------------------------------------------------------------
# Seeding through the API

def http(method, url, body=None, headers=None):
    """(status, parsed JSON or None) of one request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, None


def worker(cluster, *args):
    """Runs a Worker admin subcommand; its standard output."""
    out = subprocess.run([os.path.join(cluster.bins, "Worker"), *args], env=cluster.env, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"Worker {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def clear_of_midnight(zone):
    """Waits while the zone's clock is within 3 minutes of midnight, so "today" holds for the run."""
    while True:
        local = datetime.datetime.now(zoneinfo.ZoneInfo(zone))
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        if 180 <= seconds <= 86_400 - 180:
            return
        time.sleep(5)  # a clock condition, not a synchronisation: nothing else is waited for


def seed(api, site, visits):
    for agent, referrer, events in visits:
        for name, path, props in events:
            body = {"name": name, "url": f"https://{site}{path}", "domain": site}
            if referrer:
                body["referrer"] = referrer
            if props:
                body["props"] = props
            status, _ = http("POST", f"{api}/api/event", body, {"User-Agent": UA[agent]})
            if status != 202:
                raise RuntimeError(f"POST /api/event answered {status}")


def stored_pageviews(api, key, site):
    status, answer = http("POST", f"{api}/api/v2/query", {"site_id": site, "metrics": ["pageviews", "events"], "date_range": "day"},
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
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('.tile[data-metric]')]"
        ".map(t => [t.dataset.metric, Number(t.querySelector('.value').dataset.value)]))")


def card(driver, name):
    """{row label: [numbers]} of a card, by data-value (the exact numbers behind what is shown)."""
    return driver.execute_script(
        "const card = document.querySelector(`.card[data-card='${arguments[0]}']`);"
        "return Object.fromEntries([...card.querySelectorAll('.row')].map(r => [r.dataset.value,"
        " [...r.querySelectorAll('.num')].map(n => Number(n.dataset.value))]));", name)


def query_of(driver):
    return driver.execute_script("return Object.fromEntries(new URLSearchParams(location.search))")


def console_errors(driver):
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

def run(report, cluster, screenshot):
    api = f"http://127.0.0.1:{cluster.api_port}"
    worker(cluster, "sites", "add", SITE, "--timezone", ZONE)
    worker(cluster, "sites", "add", OTHER)
    worker(cluster, "sites", "add", PUBLIC, "--public")
    key = worker(cluster, "keys", "create", "--name", "dashboard", "--site", SITE, "--site", OTHER).strip().split("\n")[-1]
    probe = worker(cluster, "keys", "create", "--name", "probe", "--all-sites").strip().split("\n")[-1]
    clear_of_midnight(ZONE)
    seed(api, SITE, VISITS)
    seed(api, PUBLIC, VISITS[1:2])
    stored = wait_until(lambda: stored_pageviews(api, probe, SITE) == [6, 7] and stored_pageviews(api, probe, PUBLIC) == [1, 1], timeout=60)
    report.check("seed: the Stats API counts every event sent", stored, stored_pageviews(api, probe, SITE))
    api_duration = http("POST", f"{api}/api/v2/query", {"site_id": SITE, "metrics": ["visit_duration"], "date_range": "day"},
                        {"Authorization": f"Bearer {probe}"})[1]["results"][0]["metrics"][0]

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
        report.equal("the site's time zone is shown", driver.find_element(By.ID, "zone").text, ZONE)
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
        report.equal("chart: one column per hour of today", labels, 24)
        report.equal("URL: site and period", {k: query_of(driver).get(k) for k in ("site", "period")}, {"site": SITE, "period": "day"})

        # 3. A click on a source filters everything.
        before = load_count(driver)
        driver.find_element(By.CSS_SELECTOR, ".card[data-card='sources'] .row[data-value='Google']").click()
        report.check("filter: loaded", loaded(driver, before))
        report.equal("filter: the URL carries it", query_of(driver).get("visit:source"), "Google")
        report.equal("filter: top row", {k: tiles(driver).get(k) for k in GOOGLE}, GOOGLE)
        for name, want in GOOGLE_CARDS.items():
            report.equal(f"filter: the {name} card", card(driver, name), want)
        locations = card(driver, "locations")
        report.check("filter: the locations card counts the filtered visitors only", sum(v[0] for v in locations.values()) <= 2, locations)
        chips = driver.execute_script("return [...document.querySelectorAll('#filters .chip')].map(c => [c.dataset.property, c.dataset.value, c.textContent])")
        report.check("filter: one chip, 'Source is Google'", len(chips) == 1 and chips[0][:2] == ["visit:source", "Google"] and "Source is Google" in chips[0][2], chips)
        filtered_url = driver.current_url

        # 4. Export the filtered view.
        driver.find_element(By.ID, "export").click()
        exported = wait_until(lambda: [f for f in os.listdir(downloads) if f.endswith(".csv")], timeout=WAIT)
        if report.check("export: a CSV file is downloaded", exported, os.listdir(downloads)):
            with open(os.path.join(downloads, exported[0]), newline="") as f:
                rows = list(csv.reader(f))
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
        before = load_count(driver)
        driver.find_element(By.ID, "compare").click()
        loaded(driver, before)
        report.equal("compare: in the URL", query_of(driver).get("compare"), "1")
        report.equal("compare: the previous period is drawn", driver.execute_script("return document.querySelectorAll('#chart path.previous').length"), 1)
        changes = driver.execute_script("return document.querySelector('.tile[data-metric=visitors] .change').dataset.change")
        report.equal("compare: visitors' change against an empty yesterday", changes, "100")
        errors = console_errors(driver)
        report.check("console: no errors while signed in", errors == [], errors)

        # 7. A phone-sized window: nothing wider than the screen.
        driver.set_window_size(390, 844)
        wide = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        report.check("phone width: no horizontal overflow", wide <= 0, f"{wide} px too wide")
        driver.set_window_size(1280, 1000)
        if screenshot:
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(screenshot)
            print(f"screenshot: {screenshot}")

        # 8. Sign out; a public site opens without a key.
        driver.find_element(By.ID, "signout").click()
        report.equal("sign out: the key is gone", driver.execute_script("return localStorage.getItem('pipeline.dashboard.key')"), None)
        driver.get(f"{api}/?site={PUBLIC}&period=day")
        report.check("public site: loaded without a key", loaded(driver, 0))
        report.equal("public site: its visitors", tiles(driver).get("visitors"), 1)
        errors = console_errors(driver)
        report.check("console: no errors on the public site", errors == [], errors)
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory holding the IngestAPI and Worker executables")
    parser.add_argument("--screenshot", help="save a screenshot of the seeded dashboard here")
    args = parser.parse_args()
    report = Report()

    def body():
        from chaos import Cluster
        with Cluster(args.bin, raw_mongo=None, fsync="no", workers=1, worker_env={"WORKER_BATCH_SIZE": "10"}) as cluster:
            run(report, cluster, args.screenshot)
    report.finish(body)


if __name__ == "__main__":
    main()
