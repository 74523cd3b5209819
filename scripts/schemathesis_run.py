"""A short schemathesis run: the OpenAPI document served at /api/openapi.json, checked against
the real IngestAPI answering it.

Starts redis-server, nx-27017, IngestAPI and a Worker from --bin on free loopback ports (servers
of its own, in a temporary directory), adds one public site and one API key through the real
`Worker sites add` / `Worker keys create`, sends a few days of events for the site and waits
until the worker has stored them, so the read routes answer rows for some inputs. Then runs
schemathesis (`st run`) against /api/openapi.json with the key as `Authorization: Bearer`,
a bounded number of examples per operation, and the checks:

  not_a_server_error            no 5xx (a 503 is documented where it can happen: a route that
                                answers one here, with every server up, fails this check)
  response_schema_conformance   every answer's body matches the document
  status_code_conformance       every status is one the document lists for the operation
  content_type_conformance      every Content-Type is one the document lists
  unsupported_method            a method the document does not list is answered 405 with Allow

and afterwards that IngestAPI is still running and logged no unhandled error. GET /api/openapi.json
itself (which schemathesis leaves out: it is where the schema came from) is checked directly:
JSON, cacheable (ETag, 304), and the same document as Sources/IngestAPI/OpenAPI/openapi.json.

Run: .venv/bin/python scripts/schemathesis_run.py --bin "$(swift build --show-bin-path)"
     [--max-examples 15] [--seed N] [--timeout 300] [--schema FILE] [--keep] [-- ST-RUN-OPTIONS…]
     (--schema: a local document instead of the served one; --keep: leave the servers' directory;
     --timeout: the run fails, instead of hanging, when a request never completes)
"""
import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from harness import Processes, free_port, http, wait_port, worker_command  # noqa: E402

HOST = "127.0.0.1"
NX = os.path.join(ROOT, ".venv", "bin", "nx-27017")
ST = os.path.join(ROOT, ".venv", "bin", "st")
SITE = "public.test"  # the documented examples' site_id
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,unsupported_method"
WAIT = 60  # seconds: the deadline of every wait on a condition


class Servers(Processes):
    """redis-server, nx-27017, IngestAPI and one Worker, on free ports, stopped by close()."""

    def __init__(self, bins, keep):
        super().__init__("schemathesis-")
        self.bins, self.keep = bins, keep
        try:
            self.start()
        except BaseException:
            sys.stderr.write(f"--- api.log ---\n{self.log('api.log')}\n")
            self.close()
            raise

    def start(self):
        bins = self.bins
        self.start_stores(NX, HOST)
        self.api_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RATE_LIMIT_", "STATS_", "METRICS_", "TRUST_PROXY"))}
        self.env.update(REDIS_URL=f"redis://{HOST}:{self.redis_port}/0",
                        MONGO_URI=f"mongodb://{HOST}:{self.mongo_port}/schemathesis?serverSelectionTimeoutMS=2000",
                        LOG_LEVEL="error", HOST=HOST,
                        # Schemathesis sends a few thousand reads with one key: no per-key limit
                        # here (429 is documented; the limit itself is tested elsewhere).
                        STATS_KEY_RATE_LIMIT="0")
        self.api = self.spawn([os.path.join(bins, "IngestAPI"), "--port", str(self.api_port)], "api.log", self.env)
        self.worker = self.spawn([os.path.join(bins, "Worker")], "worker.log", self.env)
        wait_port(self.api_port)
        self.base = f"http://{HOST}:{self.api_port}"

    def admin(self, *args):
        """`Worker ARGS…` against these servers; its output lines (exits on failure)."""
        try:
            return worker_command(self.bins, self.env, *args, cwd=self.dir).strip().splitlines()
        except RuntimeError as error:
            sys.exit(f"schemathesis_run: {error}")

    def log(self, name, lines=40):
        return super().log(name, lines)

    def close(self):
        super().close(keep=self.keep)


def wait_until(condition, what):
    """Polls `condition` until it is truthy; exits with `what` after WAIT seconds."""
    deadline = time.time() + WAIT
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    sys.exit(f"schemathesis_run: timed out waiting for {what}")


def seed(servers):
    """Adds the public site and a key, sends three days of events for the site, and waits until
    the worker has stored today's; returns the key."""
    servers.admin("sites", "add", SITE, "--public", "--timezone", "Europe/Paris")
    key = servers.admin("keys", "create", "--name", "schemathesis", "--all-sites",
                        "--scope", "stats:read", "--scope", "events:read")[-1].strip()
    if not key.startswith("pk_"):
        sys.exit(f"schemathesis_run: keys create did not print a key on its last line: {key!r}")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    events = []
    for day in range(3):
        for i in range(12):
            at = now - datetime.timedelta(days=day, minutes=5 * i + 1)
            events.append({"site_id": SITE, "event_type": "page_view", "path": ["/", "/pricing", "/blog/a"][i % 3],
                           "userid": f"user-{i % 4}", "timestamp": at.isoformat().replace("+00:00", "Z"),
                           "event_id": f"seed-{day}-{i}"})
        events.append({"site_id": SITE, "event_type": "signup", "userid": "user-1", "props": {"plan": "pro", "seats": 3},
                       "timestamp": (now - datetime.timedelta(days=day, minutes=2)).isoformat().replace("+00:00", "Z"),
                       "event_id": f"seed-{day}-signup"})
    status, answer = http("POST", servers.base + "/events", events, {"User-Agent": "schemathesis-seed/1.0 (Linux)"})
    if status != 202 or answer.get("accepted") != len(events):
        sys.exit(f"schemathesis_run: seeding answered {status}: {answer}")
    today = now.strftime("%Y-%m-%d")

    def stored():
        status, answer = http("GET", f"{servers.base}/stats?site_id={SITE}&date={today}")
        return status == 200 and answer["stats"]["total_views"] >= 12
    wait_until(stored, "the worker to store the seeded events")
    return key


def check_document(base):
    """Problems with `GET /api/openapi.json` itself, which schemathesis leaves out of its run
    (it is where the schema came from): the answer, its caching, and that it is the checked-in file."""
    problems = []
    with urllib.request.urlopen(base + "/api/openapi.json", timeout=10) as answer:
        body, headers = answer.read(), answer.headers
    if not headers.get("Content-Type", "").startswith("application/json"):
        problems.append(f"/api/openapi.json Content-Type is {headers.get('Content-Type')!r}")
    if "max-age" not in headers.get("Cache-Control", "") or not headers.get("ETag"):
        problems.append("/api/openapi.json is answered without Cache-Control max-age and ETag")
    with open(os.path.join(ROOT, "Sources", "IngestAPI", "OpenAPI", "openapi.json"), "rb") as f:
        if json.loads(body) != json.loads(f.read()):
            problems.append("/api/openapi.json differs from Sources/IngestAPI/OpenAPI/openapi.json (rebuild?)")
    try:
        urllib.request.urlopen(urllib.request.Request(base + "/api/openapi.json", headers={"If-None-Match": headers.get("ETag", "")}), timeout=10)
        problems.append("/api/openapi.json with its own ETag in If-None-Match was not answered 304")
    except urllib.error.HTTPError as error:
        if error.code != 304:
            problems.append(f"/api/openapi.json with its own ETag in If-None-Match was answered {error.code}, not 304")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory holding the IngestAPI and Worker executables")
    parser.add_argument("--max-examples", type=int, default=15, help="test cases per operation and phase (default 15)")
    parser.add_argument("--seed", type=int, help="schemathesis's random seed (default: random, printed)")
    parser.add_argument("--workers", default="1", help="schemathesis workers (default 1: CPython 3.11.7's ast.parse, which Hypothesis calls, can fail spuriously in threads, gh-106905)")
    parser.add_argument("--schema", help="check this document file instead of the one the API serves (while editing it)")
    parser.add_argument("--timeout", type=int, default=300, help="longest the schemathesis run may take, seconds (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the servers' directory for reading)")
    parser.add_argument("st_args", nargs="*", help="more options for `st run`, after `--` (e.g. -- --include-path /api/v2/query)")
    args = parser.parse_args()

    started = time.time()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped on TERM too
    servers = Servers(args.bin, args.keep)
    try:
        wait_until(lambda: http("GET", servers.base + "/healthz")[0] == 200, "IngestAPI to report healthy")
        key = seed(servers)
        location = os.path.abspath(args.schema) if args.schema else servers.base + "/api/openapi.json"
        command = [ST, "run", location, "--url", servers.base, "--checks", CHECKS,
                   "--max-examples", str(args.max_examples), "--workers", args.workers,
                   "--header", f"Authorization: Bearer {key}", "--request-timeout", "60",
                   "--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all",
                   "--generation-database", "none", "--no-color"]
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        command += args.st_args
        print("schemathesis_run:", " ".join(c if not c.startswith("Authorization") else "Authorization: Bearer pk_…" for c in command), flush=True)
        problems = [] if args.schema else check_document(servers.base)
        try:
            run = subprocess.run(command, cwd=servers.dir, timeout=args.timeout)
            if run.returncode != 0:
                problems.append(f"schemathesis exited {run.returncode}")
        except subprocess.TimeoutExpired:  # the child is killed; a request that never ends (a stream) gets here
            problems.append(f"schemathesis did not finish in {args.timeout} s: some request never completed")
        if servers.api.poll() is not None:
            problems.append(f"IngestAPI exited {servers.api.returncode} during the run")
        log = servers.log("api.log", lines=100_000)
        unhandled = [line for line in log.splitlines() if "unhandled error" in line]
        if unhandled:
            problems.append(f"IngestAPI logged {len(unhandled)} unhandled errors, e.g. {unhandled[0][:300]}")
        elapsed = time.time() - started
        if problems:
            sys.stderr.write("--- api.log (last lines) ---\n" + servers.log("api.log") + "\n")
            for problem in problems:
                print(f"FAIL  {problem}", flush=True)
            print(f"schemathesis_run: FAILED in {elapsed:.0f} s")
            return 1
        print(f"schemathesis_run: passed in {elapsed:.0f} s")
        return 0
    finally:
        servers.close()


if __name__ == "__main__":
    sys.exit(main())
