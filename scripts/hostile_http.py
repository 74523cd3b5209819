#!/usr/bin/env python3
"""Hostile HTTP on raw sockets against a real IngestAPI: malformed media types, header and
request-line edge cases, framing attacks, pipelining, slow and idle clients, a connection flood
and hostile bodies. Starts its own redis-server, nx-27017 and two IngestAPI processes on free
loopback ports (no worker, so everything queued stays in Redis to be checked).

After every case: the API process is alive and still answers a good POST /event with 202; no
answer was a 5xx (other than one a case allows) and no 2xx came back for an invalid request.
At the end every queued payload must be one of the events this script sent as valid, and every
event answered 202 must be queued. For `POST /api/event` (the Plausible Events API) a valid
event sent with a browser User-Agent is queued once per site it names, carrying that user agent
and URL; dropped ones (bots, no User-Agent, `engagement`: 202 with `X-Plausible-Dropped: <count>`) and
invalid ones are never queued, and every error is in Plausible's shape. One line per case, then
`N passed, N failed`; exit 1 on any failure.

    scripts/hostile_http.py --bin "$(swift build --show-bin-path)" [--case NAME]... [--verbose]
"""
import argparse
import json
import os
import select
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from harness import Processes, free_port, wait_port  # noqa: E402

NX = os.path.join(ROOT, ".venv", "bin", "nx-27017")
HOST = "127.0.0.1"
PREFIX = "hostile:"
IDLE_MS = READ_MS = 1000   # the main API's HTTP_IDLE_TIMEOUT_MS / HTTP_READ_TIMEOUT_MS
CAP_CONNECTIONS = 100      # HTTP_MAX_CONNECTIONS of the second API (the connection flood)
PER_ADDRESS = 10           # HTTP_MAX_CONNECTIONS_PER_ADDRESS of the third API (no proxy in front)
CLOSED, SILENT = "closed", "silent"   # no answer: the server closed / still open at the deadline


# --- the servers ----------------------------------------------------------------------------

class Servers(Processes):
    """redis-server, nx-27017 and three IngestAPIs (plain, for floods, per-address caps) on free ports."""

    def __init__(self, bins):
        super().__init__("hostile-")
        try:
            self.start(bins)
        except BaseException:
            for log in ("api.log", "flood-api.log"):
                sys.stderr.write(f"--- {log} ---\n{self.log(log)}\n")
            self.close()
            raise

    def start(self, bins):
        self.start_stores(NX, HOST)
        env = dict(os.environ, REDIS_URL=f"redis://{HOST}:{self.redis_port}/0",
                   MONGO_URI=f"mongodb://{HOST}:{self.mongo_port}/hostile?serverSelectionTimeoutMS=1000",
                   QUEUE_PREFIX=PREFIX, LOG_LEVEL="error", HOST=HOST, TRUST_PROXY="1")
        for key in [k for k in env if k.startswith("RATE_LIMIT_")]:
            del env[key]
        self.api_port, self.flood_port, self.per_address_port = free_port(), free_port(), free_port()
        self.api = self.spawn([os.path.join(bins, "IngestAPI"), "--port", str(self.api_port)], "api.log",
                              dict(env, HTTP_IDLE_TIMEOUT_MS=str(IDLE_MS), HTTP_READ_TIMEOUT_MS=str(READ_MS),
                                   HTTP_MAX_CONNECTIONS=str(CAP_CONNECTIONS)))
        self.flood_api = self.spawn([os.path.join(bins, "IngestAPI"), "--port", str(self.flood_port)], "flood-api.log",
                                    dict(env, HTTP_IDLE_TIMEOUT_MS="30000", HTTP_READ_TIMEOUT_MS="30000",
                                         HTTP_MAX_CONNECTIONS=str(CAP_CONNECTIONS)))
        self.per_address_api = self.spawn([os.path.join(bins, "IngestAPI"), "--port", str(self.per_address_port)], "per-address-api.log",
                                          dict({k: v for k, v in env.items() if k != "TRUST_PROXY"},
                                               HTTP_MAX_CONNECTIONS_PER_ADDRESS=str(PER_ADDRESS)))
        wait_port(self.api_port)
        wait_port(self.flood_port)
        wait_port(self.per_address_port)

    def close(self):
        super().close(graceful=False)

    def redis(self, *args):
        """One command over RESP on a raw socket; the reply as Python values."""
        with socket.create_connection((HOST, self.redis_port), timeout=5) as s:
            s.settimeout(5)
            s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in
                                                        (x if isinstance(x, bytes) else str(x).encode() for x in args)))
            reader = s.makefile("rb")
            return read_resp(reader)


def read_resp(reader):
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else reader.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_resp(reader) for _ in range(n)]
    raise RuntimeError(f"unexpected RESP {line!r}")


# --- raw HTTP ---------------------------------------------------------------------------------

class Outcome:
    def __init__(self):
        self.responses = []        # (status, headers dict, body bytes), 1xx left out
        self.closed = False        # the server closed the connection (or reset it)
        self.silent = False        # the deadline passed with the connection still open
        self.seconds = 0.0

    def describe(self):
        parts = [str(r[0]) for r in self.responses]
        if self.closed:
            parts.append(CLOSED)
        elif self.silent:
            parts.append(SILENT)
        return "+".join(parts) + f" ({self.seconds:.1f}s)"

    @property
    def first(self):
        if self.responses:
            return self.responses[0][0]
        return CLOSED if self.closed else SILENT


def parse_responses(buf):
    """Complete responses at the start of `buf` (1xx skipped); the rest is left in place."""
    out = []
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out, buf
        head = buf[:end].decode("latin-1").split("\r\n")
        try:
            status = int(head[0].split(" ")[1])
        except (IndexError, ValueError):
            raise ValueError(f"not an HTTP response: {buf[:80]!r}")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        rest = buf[end + 4:]
        if 100 <= status < 200:
            buf = rest
            continue
        if "content-length" in headers:
            n = int(headers["content-length"])
            if len(rest) < n:
                return out, buf
            out.append((status, headers, rest[:n]))
            buf = rest[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body, pos = b"", 0
            while True:
                line_end = rest.find(b"\r\n", pos)
                if line_end < 0:
                    return out, buf
                size = int(rest[pos:line_end].split(b";")[0], 16)
                if len(rest) < line_end + 2 + size + 2:
                    return out, buf
                body += rest[line_end + 2:line_end + 2 + size]
                pos = line_end + 2 + size + 2
                if size == 0:
                    break
            out.append((status, headers, body))
            buf = rest[pos:]
        elif status in (204, 304):
            out.append((status, headers, b""))
            buf = rest
        else:
            return out, buf   # body until close: not complete until the server closes


def exchange(port, data=b"", want=1, timeout=3.0, half_close=False, sock=None):
    """Sends `data` on a new connection (or `sock`) and reads until `want` responses arrived, the
    server closed, or `timeout` seconds passed."""
    outcome, started = Outcome(), time.monotonic()
    s = sock or socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.settimeout(timeout)
        try:
            if data:
                s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass   # a server may close mid-send; what it answered is still read below
        buf, deadline = b"", started + timeout
        while len(outcome.responses) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                outcome.silent = True
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                outcome.silent = True
                break
            except OSError:
                outcome.closed = True
                break
            if not chunk:
                outcome.closed = True
                break
            buf += chunk
            parsed, buf = parse_responses(buf)
            outcome.responses.extend(parsed)
        if outcome.closed and buf:
            parsed, buf = parse_responses(buf + b"\r\n\r\n") if b"\r\n\r\n" not in buf else parse_responses(buf)
            outcome.responses.extend(parsed)
            if buf and not parsed:   # an answer without a length, ended by the close
                head, _, body = buf.partition(b"\r\n\r\n")
                try:
                    outcome.responses.append((int(head.split(b" ")[1]), {}, body))
                except (IndexError, ValueError):
                    pass
    finally:
        if sock is None:
            s.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def request(method, target, body=b"", headers=(), version=b"HTTP/1.1", content_length=True):
    if isinstance(body, str):
        body = body.encode()
    lines = [method + b" " + target + b" " + version, b"Host: 127.0.0.1"]
    lines += [h if isinstance(h, bytes) else h.encode() for h in headers]
    if content_length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


BROWSER_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Safari/537.36")
MAX_UA_BYTES = 512   # ClientContext.maxUserAgentBytes: the queued user agent is cut to this


class Plausible:
    """What one valid `POST /api/event` must put in the queue: one payload per site."""

    def __init__(self, sites, event_type, name, url, ua, path=None, ref=None):
        self.sites, self.event_type, self.name, self.url, self.ua = set(sites), event_type, name, url, ua
        self.path, self.ref = path, ref


class Events:
    """Events this script sends as valid (each with its own event_id), and those answered 202.
    `/api/event` ones are kept apart: one event id stands for one payload per site."""

    def __init__(self):
        self.n, self.valid, self.acked = 0, set(), set()
        self.plausible, self.plausible_acked = {}, set()

    def plausible_id(self, tag):
        self.n += 1
        return f"hostile-api-{tag}-{self.n}"

    def expect_plausible(self, event_id, expected):
        """`expected`: a `Plausible`, registered as valid (to be queued once per site when answered 202)."""
        self.plausible[event_id] = expected

    def note_plausible(self, outcome, event_id):
        """Records a valid `/api/event` answered 202 without `X-Plausible-Dropped`."""
        for status, headers, _ in outcome.responses:
            if status == 202 and "x-plausible-dropped" not in headers and event_id in self.plausible:
                self.plausible_acked.add(event_id)

    def body(self, tag="ok"):
        self.n += 1
        event_id = f"hostile-{tag}-{self.n}"
        self.valid.add(event_id)
        return event_id, json.dumps({"site_id": "hostile", "event_type": "page_view", "path": f"/{tag}",
                                     "userid": "u1", "event_id": event_id}).encode()

    def note(self, outcome, event_ids):
        """Records which events of a /event(s) answer were accepted."""
        for status, _, body in outcome.responses:
            if status != 202:
                continue
            try:
                answer = json.loads(body)
            except ValueError:
                continue
            if "event_id" in answer:
                self.acked.add(answer["event_id"])
            elif "accepted" in answer:
                rejected = {r["index"] for r in answer.get("rejected", [])}
                self.acked.update(e for i, e in enumerate(event_ids) if i not in rejected and e is not None)


# --- the cases --------------------------------------------------------------------------------

J = b"Content-Type: application/json"
BAD = {400, 404, 405, 408, 411, 413, 414, 415, 422, 431, CLOSED}   # a refusal, in any form


class Case:
    def __init__(self, name, allow, run, valid=False, allow_5xx=()):
        self.name, self.allow, self.run, self.valid, self.allow_5xx = name, set(allow), run, valid, set(allow_5xx)


def simple(name, data, allow, valid_ids=(), want=1, timeout=3.0, half_close=False, port="api", allow_5xx=()):
    def run(ctx):
        outcome = exchange(ctx.port(port), data, want=want, timeout=timeout, half_close=half_close)
        ctx.events.note(outcome, list(valid_ids))
        return outcome, None
    return Case(name, allow, run, valid=bool(valid_ids) or any(isinstance(a, int) and a < 300 for a in allow),
                allow_5xx=allow_5xx)


def build_cases(ev):
    cases = []

    def event_request(headers, tag, method=b"POST", target=b"/event", **kw):
        event_id, body = ev.body(tag)
        return request(method, target, body, headers, **kw), [event_id]

    # Content-Type: the trap this suite exists for, and its relatives. Valid bodies, bad types: never 2xx.
    for name, value in [("content-type ;", b";"), ("content-type ;;;", b";;;"), ("content-type empty", b""),
                        ("content-type 10 KB of parameters", b"application/json; " + b"a=b; " * 2048),
                        ("content-type /json", b"/json"), ("content-type text/", b"text/"),
                        ("content-type NUL", b"application/json\x00"), ("content-type non-ASCII", b"application/j\xc3\xa9son"),
                        ("content-type text/html", b"text/html")]:
        data, _ = event_request([b"Content-Type: " + value], "ct")
        cases.append(simple(name, data, {400, 415, 431, CLOSED}))
    data, ids = event_request([b"Content-Type:  Application/JSON ; charset=utf-8"], "ct-ok")
    cases.append(simple("content-type mixed case + charset", data, {202}, ids))
    data, ids = event_request([b"Content-Type: text/plain;charset=UTF-8"], "beacon")
    cases.append(simple("content-type text/plain (sendBeacon)", data, {202}, ids))

    # Header edge cases: the body is a valid event, so a 202 is allowed where the header is harmless.
    data, ids = event_request([J, b"X-No-Colon header line"], "nocolon")
    cases.append(simple("header without colon", data, BAD | {202}, ids))
    data, ids = event_request([J, b"X-Folded: a", b"  continued", b"\tand again"], "fold")
    cases.append(simple("obs-fold continuation lines", data, BAD | {202}, ids))
    data, ids = event_request([J, b"X-Nul: a\x00b"], "nul")
    cases.append(simple("NUL in a header value", data, BAD | {202}, ids))
    data, ids = event_request([J, b"X-Ctl: a\x01\x02\x1b[31m\x7fb"], "ctl")
    cases.append(simple("control bytes in a header value", data, BAD | {202}, ids))
    data, ids = event_request([J, b"X-Bytes: \xff\xfe\xc3\x28\xed\xa0\x80"], "nonascii")
    cases.append(simple("non-ASCII bytes in a header value", data, BAD | {202}, ids))
    data, ids = event_request([J, b"X-\xff\xfe: v"], "nonascii-name")
    cases.append(simple("non-ASCII bytes in a header name", data, BAD | {202}, ids))
    data, ids = event_request([J] + [b"X-H-%d: v" % i for i in range(1000)], "many")
    cases.append(simple("1000 headers", data, BAD | {202}, ids))
    data, _ = event_request([J, b"X-Big: " + b"a" * 100_000], "bighead")
    cases.append(simple("100 KB header", data, {400, 413, 431, CLOSED}))
    data, ids = event_request([J, b"Content-Type: text/html"], "twotypes")
    cases.append(simple("two Content-Types", data, BAD | {202}, ids))

    # Request line.
    cases.append(simple("garbage method", b"F\x00O\x01 /event HTTP/1.1\r\nHost: x\r\n\r\n", BAD))
    cases.append(simple("unknown method token", b"BREW /event HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", BAD, allow_5xx={501}))
    cases.append(simple("binary garbage", bytes(range(256)) * 4, BAD))
    cases.append(simple("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", BAD, allow_5xx={505}))
    cases.append(simple("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", BAD, allow_5xx={505}))
    data, ids = event_request([J], "absolute", target=b"http://127.0.0.1/event")
    cases.append(simple("absolute-form URI", data, BAD | {202}, ids))
    cases.append(simple("%00 in path", request(b"GET", b"/stats%00?site_id=a&date=2025-11-23"), BAD))
    cases.append(simple("%00/%ff in query", request(b"GET", b"/stats?site_id=a%00%ff&date=2025-11-23%00&limit=%ff"), BAD))
    cases.append(simple("%ff in path", request(b"POST", b"/event%ff", b"{}", [J]), BAD))
    cases.append(simple("raw bytes in query", request(b"GET", b"/stats?site_id=\xff\xfe&date=\x01"), BAD))
    cases.append(simple("query operator injection", request(b"GET", b"/stats?site_id[$gt]=&date=2025-11-23"), BAD))
    cases.append(simple("query limit overflow", request(b"GET", b"/stats?site_id=a&date=2025-11-23&limit=99999999999999999999999"), BAD))
    cases.append(simple("64 KB URI", request(b"GET", b"/stats?site_id=" + b"a" * 65536 + b"&date=2025-11-23"), BAD))
    cases.append(simple("1 MB URI", request(b"GET", b"/" + b"a" * 1_000_000), BAD))

    # Framing.
    event_id, body = ev.body("cl-te")
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    cases.append(simple("Content-Length + Transfer-Encoding", request(b"POST", b"/event", chunked, [J, b"Content-Length: 5", b"Transfer-Encoding: chunked"], content_length=False),
                        BAD | {202}, [event_id]))
    smuggled = b"0\r\n\r\n" + request(b"POST", b"/event", b'{"site_id":{"$gt":""},"event_type":"x"}', [J])
    cases.append(simple("CL.TE smuggling attempt", request(b"POST", b"/event", smuggled, [J, b"Content-Length: %d" % len(smuggled), b"Transfer-Encoding: chunked"], content_length=False),
                        BAD, want=2))
    event_id, body = ev.body("twocl")
    cases.append(simple("two different Content-Lengths", request(b"POST", b"/event", body, [J, b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 1)], content_length=False),
                        BAD))
    for name, value in [("negative", b"-1"), ("huge", b"99999999999999999999999"), ("non-numeric", b"abc"), ("hex", b"0x10"),
                        ("plus sign", b"+10"), ("1 GB", b"1000000000")]:
        cases.append(simple(f"Content-Length {name}", request(b"POST", b"/event", b'{"site_id":"hostile"}', [J, b"Content-Length: " + value], content_length=False),
                            BAD, timeout=READ_MS / 1000 + 3))
    cases.append(simple("chunk size not hex", request(b"POST", b"/event", b"zz\r\n{}\r\n0\r\n\r\n", [J, b"Transfer-Encoding: chunked"], content_length=False), BAD))
    cases.append(simple("chunk size huge", request(b"POST", b"/events", b"ffffffffffffffffffff\r\n[]\r\n0\r\n\r\n", [J, b"Transfer-Encoding: chunked"], content_length=False),
                        BAD, timeout=READ_MS / 1000 + 3))
    cases.append(simple("chunk size 1 GB", request(b"POST", b"/events", b"40000000\r\n" + b"[" * 1000, [J, b"Transfer-Encoding: chunked"], content_length=False),
                        BAD, timeout=READ_MS / 1000 + 3))
    event_id, body = ev.body("nofinal")
    cases.append(simple("chunked without final chunk", request(b"POST", b"/event", b"%x\r\n%s\r\n" % (len(body), body), [J, b"Transfer-Encoding: chunked"], content_length=False),
                        BAD, timeout=READ_MS / 1000 + 3))
    cases.append(simple("Transfer-Encoding gzip, chunked", request(b"POST", b"/event", b"2\r\n{}\r\n0\r\n\r\n", [J, b"Transfer-Encoding: gzip, chunked"], content_length=False), BAD))
    event_id, body = ev.body("short")
    cases.append(simple("body shorter than Content-Length, then close", request(b"POST", b"/event", body[:-10], [J, b"Content-Length: %d" % len(body)], content_length=False),
                        BAD, half_close=True, timeout=READ_MS / 1000 + 3))
    cases.append(simple("body longer than Content-Length", request(b"POST", b"/event", b'{"site_id":"hostile"} GARBAGE GARBAGE', [J, b"Content-Length: 21"], content_length=False),
                        BAD, want=2))

    def pipelined(ctx):
        parts, expected = [], []
        for kind in ["good", "bad", "health", "good", "missing", "good", "badjson"]:
            if kind == "good":
                event_id, body = ctx.events.body("pipe")
                parts.append(request(b"POST", b"/event", body, [J]))
                expected.append((202, event_id))
            elif kind == "bad":
                parts.append(request(b"POST", b"/event", b'{"site_id":{"$gt":""},"event_type":"x"}', [J]))
                expected.append((400, None))
            elif kind == "health":
                parts.append(request(b"GET", b"/healthz", content_length=False))
                expected.append((200, None))
            elif kind == "missing":
                parts.append(request(b"GET", b"/nowhere", content_length=False))
                expected.append((404, None))
            else:
                parts.append(request(b"POST", b"/event", b"{\xff", [J]))
                expected.append((400, None))
        outcome = exchange(ctx.api_port, b"".join(parts), want=len(expected), timeout=5)
        ctx.events.note(outcome, [])
        got = []
        for status, _, body in outcome.responses:
            try:
                got.append((status, json.loads(body).get("event_id") if status == 202 else None))
            except ValueError:
                got.append((status, None))
        if got != expected:
            return outcome, f"responses out of order or missing: expected {expected}, got {got}"
        return outcome, None
    cases.append(Case("pipelining (7 requests in one write)", {202}, pipelined, valid=True))

    # Slow and idle clients on the main API (HTTP_IDLE_TIMEOUT_MS = HTTP_READ_TIMEOUT_MS = 1000).
    def trickle(ctx, head_bytes, body_bytes, interval, limit):
        started = time.monotonic()
        s = socket.create_connection((HOST, ctx.api_port), timeout=3)
        outcome = Outcome()
        try:
            if head_bytes:
                s.sendall(head_bytes)
            for byte in body_bytes:
                if time.monotonic() - started > limit:
                    break
                readable, _, _ = select.select([s], [], [], interval)
                if readable:
                    tail = exchange(ctx.api_port, sock=s, timeout=1.0)
                    outcome.responses, outcome.closed = tail.responses, tail.closed
                    break
                try:
                    s.send(bytes([byte]))
                except OSError:
                    outcome.closed = True
                    break
            else:
                outcome.silent = True
            if not outcome.closed and not outcome.responses:
                outcome.silent = True
        finally:
            s.close()
        outcome.seconds = time.monotonic() - started
        return outcome

    limit = 3 * max(IDLE_MS, READ_MS) / 1000 + 2

    def slow_head(ctx):
        event_id, body = ctx.events.body("slowhead")
        data = request(b"POST", b"/event", body, [J, b"X-Padding: " + b"p" * 200])
        outcome = trickle(ctx, b"", data, 0.5, limit)
        if outcome.silent:
            return outcome, f"a head sent one byte every 0.5 s was still being read after {outcome.seconds:.1f}s (slowloris)"
        return outcome, None
    cases.append(Case("slow head (1 byte / 0.5 s)", {CLOSED, 400, 408}, slow_head))

    def slow_body(ctx):
        head = b"POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
        outcome = trickle(ctx, head, b" " * 400, 0.3, limit)
        if outcome.silent:
            return outcome, f"a body sent one byte every 0.3 s was still being read after {outcome.seconds:.1f}s"
        return outcome, None
    cases.append(Case("slow body (1 byte / 0.3 s)", {CLOSED, 400, 408, 413}, slow_body))

    def idle(ctx):
        outcome = exchange(ctx.api_port, b"", timeout=limit)
        return outcome, (f"an idle connection was kept {outcome.seconds:.1f}s" if outcome.silent else None)
    cases.append(Case("idle connection", {CLOSED}, idle))

    def half_head(ctx):
        outcome = exchange(ctx.api_port, b"POST /event HTTP/1.1\r\nHost: x\r\n", timeout=limit)
        return outcome, (f"a half-sent head was kept {outcome.seconds:.1f}s" if outcome.silent else None)
    cases.append(Case("half a head, then silence", {CLOSED, 400, 408}, half_head))

    # A connection flood against the second API (HTTP_MAX_CONNECTIONS=100, idle timeout 30 s).
    def flood(ctx):
        held, started = [], time.monotonic()
        try:
            for _ in range(3 * CAP_CONNECTIONS):
                try:
                    held.append(socket.create_connection((HOST, ctx.flood_port), timeout=2))
                except OSError:
                    break
            time.sleep(0.3)
            event_id, body = ctx.events.body("flood")
            late = socket.create_connection((HOST, ctx.flood_port), timeout=2)
            try:
                blocked = exchange(ctx.flood_port, request(b"POST", b"/event", body, [J]), timeout=1.5, sock=late)
                if blocked.responses:
                    ctx.events.note(blocked, [event_id])
                    return blocked, f"with {len(held)} connections open, connection {len(held) + 1} was served (cap {CAP_CONNECTIONS})"
                for s in held[:len(held) - CAP_CONNECTIONS // 2]:
                    s.close()
                outcome = exchange(ctx.flood_port, b"", timeout=10, sock=late)
            finally:
                late.close()
            ctx.events.note(outcome, [event_id])
            outcome.seconds = time.monotonic() - started
            note = f"{len(held)} held; request {len(held) + 1} unanswered while over the cap, then {outcome.first}"
            return outcome, (None if outcome.first == 202 else note)
        finally:
            for s in held:
                s.close()
    cases.append(Case(f"{3 * CAP_CONNECTIONS} idle connections, cap {CAP_CONNECTIONS}", {202}, flood, valid=True))

    # One address holding its share of connections (third API: HTTP_MAX_CONNECTIONS_PER_ADDRESS=10,
    # no proxy): the next connection from it is closed at once, and served again once one closes.
    def per_address(ctx):
        port = ctx.servers.per_address_port
        held = [socket.create_connection((HOST, port), timeout=2) for _ in range(PER_ADDRESS)]
        try:
            for s in held:   # an answer on each proves the server counts it (keep-alive keeps it open)
                if not exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3, sock=s).responses:
                    return Outcome(), "a connection within the cap was not served"
            event_id, body = ctx.events.body("per-address")
            over = exchange(port, request(b"POST", b"/event", body, [J]), timeout=3)
            ctx.events.note(over, [event_id])
            if over.responses:
                return over, f"connection {PER_ADDRESS + 1} from one address was served"
            held.pop().close()
            for _ in range(50):   # the server forgets the closed connection as soon as it sees the FIN
                event_id, body = ctx.events.body("per-address")
                outcome = exchange(port, request(b"POST", b"/event", body, [J]), timeout=3)
                ctx.events.note(outcome, [event_id])
                if outcome.first == 202:
                    return outcome, None
                time.sleep(0.05)
            return outcome, "no connection was served again after one closed"
        finally:
            for s in held:
                s.close()
    cases.append(Case(f"{PER_ADDRESS + 1} connections from one address, cap {PER_ADDRESS} per address", {202}, per_address, valid=True))

    # X-Forwarded-For garbage (TRUST_PROXY=1): the address is only a rate-limit key; the event stays valid.
    for name, value in [("garbage", b"garbage"), ("empty entries", b", , ,,"), ("unclosed bracket", b"[::1"),
                        ("port overflow", b"1.2.3.4:999999"), ("NUL", b"1.2.3.4\x00"), ("non-ASCII", b"\xff\xfe"),
                        ("10 KB", b"1.1.1.1, " * 1200), ("v6 chain", b"2001:db8::1, [2001:db8::2]:443, ::ffff:10.0.0.1")]:
        data, ids = event_request([J, b"X-Forwarded-For: " + value], "xff")
        cases.append(simple(f"X-Forwarded-For {name}", data, BAD | {202}, ids))
    data, ids = event_request([J] + [b"X-Forwarded-For: 10.0.0.%d" % i for i in range(100)], "xff")
    cases.append(simple("X-Forwarded-For 100 headers", data, BAD | {202}, ids))

    # Hostile bodies.
    cases.append(simple("JSON nesting 16 K deep (/event)", request(b"POST", b"/event", b"[" * 16000, [J]), BAD))
    cases.append(simple("JSON nesting 500 K deep (/events)", request(b"POST", b"/events", b"[" * 500_000 + b"]" * 500_000, [J]), BAD))
    cases.append(simple("object nesting in props", request(b"POST", b"/event", b'{"site_id":"hostile","event_type":"x","props":' + b'{"a":' * 3000 + b"1" + b"}" * 3001, [J]), BAD))
    cases.append(simple("invalid UTF-8 body", request(b"POST", b"/event", b'{"site_id":"host\xffile","event_type":"x"}', [J]), BAD))
    event_id, body = ev.body("utf16")   # JSONDecoder reads UTF-16 too: a 202 is lenient, not wrong
    cases.append(simple("UTF-16 body", request(b"POST", b"/event", body.decode().encode("utf-16"), [J]), BAD | {202}, [event_id]))
    cases.append(simple("operator injection", request(b"POST", b"/event", b'{"site_id":{"$gt":""},"event_type":"x"}', [J]), {400}))
    cases.append(simple("NUL escapes", request(b"POST", b"/event", b'{"site_id":"hostile\\u0000","event_type":"x"}', [J]), {400}))
    big = b'{"site_id":"hostile","event_type":"x","path":"/' + b"a" * 20000 + b'"}'
    cases.append(simple("chunked 20 KB event (no Content-Length)", request(b"POST", b"/event", b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big),
                                                                        [J, b"Transfer-Encoding: chunked"], content_length=False), {413, CLOSED}))
    cases.append(simple("17 KB event", request(b"POST", b"/event", b'{"site_id":"hostile","event_type":"x","path":"/' + b"a" * 17000 + b'"}', [J]), {413, CLOSED}))
    cases.append(simple("1001-event batch", request(b"POST", b"/events", json.dumps([{"site_id": "hostile", "event_type": "x"}] * 1001), [J]), {400, 413}))
    ids, bodies = zip(*[ev.body("batch") for _ in range(3)])
    batch = b"[" + b",".join([bodies[0], b'{"site_id":{"$ne":null},"event_type":"x"}', bodies[1], b'"str"', bodies[2]]) + b"]"
    cases.append(simple("batch of valid and invalid events", request(b"POST", b"/events", batch, [J]), {202}, list(ids)[:1] + [None] + list(ids)[1:2] + [None] + list(ids)[2:]))
    cases.append(simple("Expect: 100-continue", request(b"POST", b"/event", b'{"site_id":{"$gt":""}}', [J, b"Expect: 100-continue"]), BAD))
    return cases + plausible_cases(ev)


# --- POST /api/event (the Plausible Events API) -----------------------------------------------

API = b"/api/event"
SITE = "hostile.example"
ORIGIN = b"Origin: https://hostile.example"
GOOGLEBOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def api_request(body, ua=BROWSER_UA, content_type=J, extra=(), method=b"POST", **kw):
    """A request to /api/event; `ua=None` sends no User-Agent, `content_type=None` no Content-Type."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    headers = [] if content_type is None else [content_type]
    if ua is not None:
        headers.append(b"User-Agent: " + (ua if isinstance(ua, bytes) else ua.encode()))
    return request(method, API, body, headers + list(extra), **kw)


def plausible_error_problem(body, field=None):
    """None when `body` is `{"errors":{"<field>":["message"]}}` (with that field, if given)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return f"error answer is not JSON: {body[:120]!r}"
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if not isinstance(errors, dict) or len(errors) != 1 or list(answer)[0] != "errors":
        return f"error answer is not in Plausible's shape: {body[:160]!r}"
    (key, messages), = errors.items()
    if not isinstance(messages, list) or not messages or not all(isinstance(m, str) and m for m in messages):
        return f"error answer is not in Plausible's shape: {body[:160]!r}"
    if field is not None and key not in (field if isinstance(field, tuple) else (field,)):
        return f"error names {key!r}, expected {field!r}: {body[:160]!r}"
    return None


def api_case(name, data, expect, event_id=None, allow=None, field=None, cors=False, timeout=3.0, dropped=1):
    """`expect`: "queued" (202 `{}`, no X-Plausible-Dropped; `event_id` registered by the caller),
    "dropped" (202 `{}` with X-Plausible-Dropped: <`dropped`, the events dropped>, nothing queued)
    or "error" (`allow`, default 400, in Plausible's shape, naming `field` when given). `cors`:
    every answer carries Access-Control-Allow-Origin (send an Origin)."""
    allow = {202} if expect in ("queued", "dropped") else (allow or {400})

    def run(ctx):
        outcome = exchange(ctx.api_port, data, timeout=timeout)
        if expect == "queued":
            ctx.events.note_plausible(outcome, event_id)
        for status, headers, body in outcome.responses:
            if cors and "access-control-allow-origin" not in headers:
                return outcome, f"no Access-Control-Allow-Origin on a {status}: {sorted(headers)}"
            if status == 202:
                marked = headers.get("x-plausible-dropped")
                if expect == "queued" and marked is not None:
                    return outcome, f"a valid event with a browser User-Agent was dropped (X-Plausible-Dropped: {marked})"
                if expect == "dropped" and marked != str(dropped):
                    return outcome, f"answered 202 with X-Plausible-Dropped: {marked}, expected {dropped} (none may be queued)"
                if body.strip() != b"{}":
                    return outcome, f"202 body {body[:120]!r}, expected {{}}"
            elif 400 <= status < 500 and status not in (405, 408, 431) and body:
                problem = plausible_error_problem(body, field)
                if problem:
                    return outcome, problem
        return outcome, None
    return Case(f"/api/event {name}", allow, run, valid=expect != "error")


def plausible_cases(ev):
    cases = []
    url = f"https://{SITE}/docs/intro?utm_source=hostile#part-2"

    def valid(tag, fields, sites=(SITE,), event_type="page_view", ua=BROWSER_UA, path=None, ref=None, **kw):
        """A valid event: its body with our event_id, registered to be queued once per site."""
        event_id = ev.plausible_id(tag)
        body = dict(fields, event_id=event_id)
        name = body.get("n", body.get("name"))
        ev.expect_plausible(event_id, Plausible(sites, event_type, name, body.get("u", body.get("url")), ua, path, ref))
        return api_request(body, ua=ua, **kw), event_id

    def queued(name, fields, cors=False, **kw):
        data, event_id = valid("".join(c for c in name.split()[0] if c.isalnum()), fields, **kw)
        cases.append(api_case(name, data, "queued", event_id, cors=cors))

    def not_queued(tag, fields):
        """A body carrying an event_id that is never registered: if it reaches the queue, the queue check fails."""
        return fields if "event_id" in fields else dict(fields, event_id=ev.plausible_id(tag))

    def error(name, body, field=None, allow=None, **kw):
        if isinstance(body, dict):
            body = not_queued("bad", body)
        cases.append(api_case(name, api_request(body, **kw), "error", allow=allow, field=field, cors=ORIGIN in kw.get("extra", ())))

    base = {"n": "pageview", "u": url, "d": SITE}

    # Accepted and queued: the tracker's short keys, the Events API's long ones, every props form.
    queued("pageview (tracker's short keys)", dict(base, r="https://www.google.com/", w=1440, h=0), path="/docs/intro", ref="https://www.google.com/")
    queued("custom event (Events API long keys, props)", {"name": "Signup", "url": f"https://{SITE}/pricing", "domain": SITE, "referrer": "",
           "props": {"plan": "pro", "seats": 3, "annual": True, "price": 9.5}, "screen_width": 1280, "interactive": True,
           "revenue": {"currency": "USD", "amount": "9.99"}}, event_type="Signup", path="/pricing")
    queued("m as a JSON string", dict(base, n="Outbound Link: Click", m=json.dumps({"url": "https://github.com/x"})), event_type="Outbound_Link:_Click")
    queued("meta as an object, p and m merged", dict(base, n="Download", p={"a": 1}, meta={"b": "x", "nested": {"dropped": 1}, "list": [1]}),
           event_type="Download")
    queued("hash mode", {"n": "pageview", "u": f"https://app.{SITE}/#/inbox/3", "d": f"app.{SITE}", "h": 1}, sites=(f"app.{SITE}",), path="/#/inbox/3")
    queued("hashMode true", {"name": "pageview", "url": f"https://{SITE}/app#/x", "domain": SITE, "hashMode": True}, path="/app#/x")
    queued("three domains (www., case, spaces, a repeat)", dict(base, d=f"a.{SITE}, B.Hostile.Example,www.c.{SITE} ,a.{SITE},,"),
           sites=(f"a.{SITE}", f"b.{SITE}", f"c.{SITE}"))
    queued("10 domains", dict(base, d=",".join(f"d{i}.{SITE}" for i in range(10))), sites=tuple(f"d{i}.{SITE}" for i in range(10)))
    queued("ignored keys of any type", dict(base, w="wide", i="yes", v={"a": 1}, sd=None, e=[1], **{"$": "12", "screen_width": -1}))
    queued("text/plain (sendBeacon)", base, content_type=b"Content-Type: text/plain;charset=UTF-8")
    queued("no Content-Type", base, content_type=None)
    queued("Content-Type application/json; charset=utf-8", base, content_type=b"Content-Type: Application/JSON; charset=utf-8")
    queued("app:// URL", dict(base, u="app://localhost/login"), path="/login")
    queued("name of 120 bytes (60 x e-acute)", dict(base, n="\u00e9" * 60), event_type="_" * 64)
    queued("curl User-Agent (a generic client, not a bot)", base, ua="curl/8.5.0")
    queued("600-byte User-Agent (queued cut to 512)", base, ua=BROWSER_UA + " X" * 250)
    queued("User-Agent with invalid UTF-8 bytes", base, ua=BROWSER_UA.encode() + b" \xff\xfe")
    queued("Origin (CORS headers on the 202)", base, cors=True, extra=[ORIGIN])
    queued("X-Forwarded-For garbage", base, extra=[b"X-Forwarded-For: garbage, \xff, [::1"])
    event_id = ev.plausible_id("chunked")
    body = json.dumps(dict(base, event_id=event_id)).encode()
    ev.expect_plausible(event_id, Plausible([SITE], "page_view", "pageview", url, BROWSER_UA))
    cases.append(api_case("chunked body", api_request(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body), extra=[b"Transfer-Encoding: chunked"],
                                                         content_length=False), "queued", event_id))

    # Dropped: 202 {} with X-Plausible-Dropped: <events dropped>, nothing queued (their event ids are never registered).
    three = dict(base, d=f"a.{SITE},b.{SITE},www.c.{SITE},a.{SITE}")   # three sites
    for name, fields, ua, count in [("engagement", dict(base, n="engagement", sd=80, e=1234), BROWSER_UA, 1),
                                    ("engagement, three domains", dict(three, n="engagement"), BROWSER_UA, 3),
                                    ("no User-Agent", base, None, 1), ("empty User-Agent", base, b"", 1),
                                    ("no User-Agent, three domains", three, None, 3), ("Googlebot", base, GOOGLEBOT_UA, 1),
                                    ("Googlebot, three domains", three, GOOGLEBOT_UA, 3),
                                    ("HeadlessChrome", base, BROWSER_UA.replace("Chrome/", "HeadlessChrome/"), 1)]:
        cases.append(api_case(f"dropped: {name}", api_request(not_queued("drop", fields), ua=ua), "dropped", dropped=count))

    # Malformed and huge bodies.
    for name, body in [("empty body", b""), ("not JSON", b"pageview"), ("unclosed object", b'{"n":"pageview"'),
                       ("null", b"null"), ("array", b"[]"), ("array of the event", json.dumps([base]).encode()),
                       ("string", b'"pageview"'), ("trailing garbage", json.dumps(base).encode() + b"}{"),
                       ("invalid UTF-8 in a string", json.dumps(base).encode().replace(b"pageview", b"page\xffview")),
                       ("raw control byte in name", json.dumps(base).encode().replace(b"pageview", b"page\x07view")),
                       ("nesting 16 K deep", b"[" * 16000), ("props nesting 2000 deep", b'{"n":"x","u":"https://a.b/","d":"a.b","p":' + b'{"a":' * 2000 + b"1" + b"}" * 2001),
                       ("m string nesting 600 deep", json.dumps(dict(base, m='{"a":' * 600 + "1" + "}" * 600)).encode())]:
        error(name, body)
    error("17 KB body", dict(base, p={"pad": "x" * 17000}), allow={413, CLOSED})
    big = json.dumps(dict(base, p={"pad": "x" * 1_000_000})).encode()
    cases.append(api_case("1 MB chunked body", api_request(b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 65536]), big[i:i + 65536]) for i in range(0, len(big), 65536)) + b"0\r\n\r\n",
                                                           extra=[b"Transfer-Encoding: chunked"], content_length=False), "error", allow={413, CLOSED}))

    # Wrong types for each key (the ignored keys take any type: see above).
    for key, value, field in [("n", 1, "n"), ("n", None, "name"), ("name", {"a": 1}, "name"), ("u", ["https://a.b/"], "u"), ("url", None, "url"),
                              ("u", 1.5, "u"), ("d", {"$gt": ""}, "d"), ("domain", None, "domain"), ("d", ["a.com"], "d"), ("r", False, "r"),
                              ("referrer", 0, "referrer"), ("p", [1], "p"), ("p", 1, "p"), ("props", "str", "props"), ("m", 1, "m"), ("meta", True, "meta"),
                              ("m", [], "m"), ("h", "yes", "h"), ("h", 2.5, "h"), ("hashMode", {}, "hashMode"), ("event_id", 5, "event_id")]:
        body = {k: v for k, v in base.items() if k[0] != key[0]}   # the long key replaces the short one
        body[key] = value
        if value is None:   # null for a required key: it is missing
            error(f"{key}: null", body, field=field)
        else:
            error(f"{key}: {type(value).__name__} {json.dumps(value)[:20]}", body, field=field)
    error("unknown key", dict(base, foo=1), field="foo")
    error("event_id of 65 bytes", dict(base, event_id="e" * 65), field="event_id")
    error("event_id with a NUL", dict(base, event_id="a\u0000b"), field="event_id")

    # m as a string that does not hold a JSON object.
    for name, value in [("non-JSON string", "not json"), ("JSON array string", "[1,2]"), ("JSON string string", '"x"'),
                        ("5 KB string", json.dumps({"pad": "x" * 5000})), ("truncated JSON", '{"a":1'), ("empty string", "")]:
        error(f"m as a {name}", dict(base, m=value), field="m")

    # Domains: at most 10, each a valid site id; Mongo-operator-looking domains and props keys.
    error("11 domains", dict(base, d=",".join(f"d{i}.{SITE}" for i in range(11))), field="domain")
    error("11 domains that fold to 1", dict(base, d=",".join([SITE] * 11)), field="domain")
    for name, value in [("$where", "$where"), ("$gt in a list", f"{SITE},$gt"), ("an operator object as text", '{"$gt":""}'),
                        ("with a space", "a b.example"), ("only commas", ",,,"), ("empty", ""), ("NUL", f"{SITE}\u0000"),
                        ("65 bytes", "a" * 65), ("non-ASCII", "h\u00f6stile.example")]:
        error(f"domain {name}", dict(base, d=value), field="domain")
    for name, props in [("$where", {"$where": "1"}), ("$gt", {"$gt": ""}), ("a.b", {"a.b": 1}), ("a.$x", {"ok": 1, "a.$x": 1}),
                        ("NUL", {"a\u0000": 1}), ("empty", {"": 1}), ("129 bytes", {"k" * 129: 1})]:
        error(f"props key {name}", dict(base, p=props), field=("props", "p") + tuple(f"props.{k}" for k in props))
    error("props key $gt inside m string", dict(base, m=json.dumps({"$gt": 1})), field=("props", "props.$gt"))
    error("props with 33 keys", dict(base, p={f"k{i}": i for i in range(33)}), field="props")
    error("props over 4 KiB", dict(base, p={"pad": "x" * 4100}), field="props")

    # The name, the URL and the referrer.
    for name, value in [("NUL", "sign\u0000up"), ("BEL", "a\u0007b"), ("DEL", "a\u007fb"), ("newline", "line\nbreak"), ("tab", "a\tb"),
                        ("ESC sequence", "\u001b[31mred"), ("121 bytes", "x" * 121), ("empty", "")]:
        error(f"control characters in name: {name}" if name not in ("121 bytes", "empty") else f"name {name}", dict(base, n=value), field=("n", "name"))
    for name, value in [("3 KB", f"https://{SITE}/" + "a" * 3000), ("javascript:", "javascript:alert(document.cookie)//"),
                        ("javascript:// with a host", f"javascript://{SITE}/%0Aalert(1)"), ("JavaScript: mixed case", f"JaVaScRiPt://{SITE}/"),
                        ("data:", "data://text/html,<script>alert(1)</script>"), ("vbscript:", f"vbscript://{SITE}/"),
                        ("relative", "/docs"), ("no host", "https:///docs"), ("host $gt", "https://$gt/"), ("bad port", f"https://{SITE}:99999/"),
                        ("NUL", f"https://{SITE}/\u0000"), ("C1 control", f"https://{SITE}/\u0085"), ("empty", "")]:
        error(f"url {name}", dict(base, u=value), field=("u", "url"))
    error("referrer of 3 KB", dict(base, r="https://r.example/" + "b" * 3000), field=("r", "referrer"))

    # Content types, methods, the order of checks.
    for name, value in [("Content-Type: ;", b";"), ("Content-Type empty", b""), ("Content-Type text/html", b"text/html"),
                        ("Content-Type form", b"application/x-www-form-urlencoded"), ("Content-Type NUL", b"application/json\x00")]:
        error(name, base, allow={400, 415, CLOSED}, content_type=b"Content-Type: " + value)
    error("Content-Type text/html with an Origin (CORS on the error)", base, allow={415}, content_type=b"Content-Type: text/html", extra=[ORIGIN])
    error("invalid body with an Origin (CORS on the error)", b"{", extra=[ORIGIN])
    error("no User-Agent and an invalid body", dict(base, d="$gt"), field="domain", ua=None)
    error("Googlebot and an invalid body", dict(base, u="javascript:x"), field=("u", "url"), ua=GOOGLEBOT_UA)
    cases.append(api_case("GET", request(b"GET", API, content_length=False), "error", allow={404, 405}))

    def preflight(ctx):
        outcome = exchange(ctx.api_port, request(b"OPTIONS", API, b"", [ORIGIN, b"Access-Control-Request-Method: POST",
                                                                        b"Access-Control-Request-Headers: content-type"], content_length=False))
        if not outcome.responses:
            return outcome, "no answer to the preflight"
        status, headers, _ = outcome.responses[0]
        wrong = []
        if headers.get("access-control-allow-origin") not in ("*", "https://hostile.example"):
            wrong.append(f"Access-Control-Allow-Origin {headers.get('access-control-allow-origin')!r}")
        if "POST" not in headers.get("access-control-allow-methods", "").upper():
            wrong.append(f"Access-Control-Allow-Methods {headers.get('access-control-allow-methods')!r}")
        if "content-type" not in headers.get("access-control-allow-headers", "").lower():
            wrong.append(f"Access-Control-Allow-Headers {headers.get('access-control-allow-headers')!r}")
        return outcome, ("preflight: " + "; ".join(wrong)) if wrong else None
    cases.append(Case("/api/event OPTIONS preflight (CORS headers)", {200, 204}, preflight, valid=True))
    return cases


class Context:
    def __init__(self, servers, events):
        self.servers, self.events = servers, events
        self.api_port, self.flood_port = servers.api_port, servers.flood_port

    def port(self, which):
        return self.api_port if which == "api" else self.flood_port


def good_event(ctx, port):
    event_id, body = ctx.events.body("alive")
    outcome = exchange(port, request(b"POST", b"/event", body, [J]), timeout=5)
    ctx.events.note(outcome, [event_id])
    return outcome.first == 202, outcome


def good_plausible(ctx):
    event_id = ctx.events.plausible_id("alive")
    ctx.events.expect_plausible(event_id, Plausible([SITE], "page_view", "pageview", f"https://{SITE}/alive", BROWSER_UA, "/alive"))
    outcome = exchange(ctx.api_port, api_request({"n": "pageview", "u": f"https://{SITE}/alive", "d": SITE, "event_id": event_id}), timeout=5)
    ctx.events.note_plausible(outcome, event_id)
    ok = outcome.first == 202 and "x-plausible-dropped" not in outcome.responses[0][1]
    return ok, outcome


def check_queue(servers, events):
    """Every queued payload is an event sent as valid; every event answered 202 is queued."""
    payloads = servers.redis("LRANGE", PREFIX + "queue", 0, -1)
    problems, queued, per_site = [], set(), {}
    for raw in payloads:
        try:
            event = json.loads(raw)
        except ValueError:
            problems.append(f"not JSON in the queue: {raw[:100]!r}")
            continue
        event_id = event.get("event_id")
        queued.add(event_id)
        if event_id in events.plausible:
            problems += check_plausible_payload(events.plausible[event_id], event, raw)
            key = (event_id, event.get("site_id"))
            per_site[key] = per_site.get(key, 0) + 1
        elif event_id not in events.valid or event.get("site_id") != "hostile" or event.get("event_type") != "page_view":
            problems.append(f"queued an event this script did not send as valid: {raw[:200]!r}")
    missing = events.acked - queued
    if missing:
        problems.append(f"{len(missing)} events answered 202 are not queued: {sorted(missing)[:5]}")
    twice = sorted(key for key, count in per_site.items() if count > 1)
    if twice:
        problems.append(f"{len(twice)} /api/event events queued more than once for a site: {twice[:5]}")
    for event_id in sorted(events.plausible_acked):
        lost = sorted(events.plausible[event_id].sites - {site for (eid, site) in per_site if eid == event_id})
        if lost:
            problems.append(f"/api/event {event_id} answered 202 is not queued for {lost}")
    return len(payloads), problems


def check_plausible_payload(expected, event, raw):
    """A queued `/api/event` payload against what was sent."""
    client = event.get("client") or {}
    sent = expected.ua if isinstance(expected.ua, bytes) else expected.ua.encode()
    ua = sent.decode("utf-8", "replace").encode()[:MAX_UA_BYTES].decode("utf-8", "ignore")
    wrong = []
    for what, got, want in [("site_id", event.get("site_id") in expected.sites, True), ("event_type", event.get("event_type"), expected.event_type),
                            ("name", event.get("name"), expected.name), ("client.url", client.get("url"), expected.url),
                            ("client.ua", client.get("ua"), ua), ("client.ref", client.get("ref"), expected.ref),
                            ("visit", event.get("visit"), None), ("userid", event.get("userid"), None)]:
        if got != want:
            wrong.append(f"{what} {got!r}, expected {want!r}")
    if expected.path is not None and event.get("path") != expected.path:
        wrong.append(f"path {event.get('path')!r}, expected {expected.path!r}")
    if not str(event.get("path", "")).startswith("/"):
        wrong.append(f"path {event.get('path')!r}")
    return [f"queued /api/event payload differs from what was sent ({'; '.join(wrong)}): {raw[:300]!r}"] if wrong else []


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory holding IngestAPI")
    parser.add_argument("--case", action="append", help="run only cases whose name contains this (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="print the API's log tail on failure")
    args = parser.parse_args()

    started = time.monotonic()
    servers = Servers(args.bin)
    passed = failed = 0
    try:
        events = Events()
        ctx = Context(servers, events)
        cases = build_cases(events)
        if args.case:
            cases = [c for c in cases if any(p.lower() in c.name.lower() for p in args.case)]
        for case in cases:
            problems = []
            try:
                outcome, note = case.run(ctx)
            except Exception as error:  # a broken case is a failure, not a crash of the suite
                outcome, note = Outcome(), f"case raised {type(error).__name__}: {error}"
            if note:
                problems.append(note)
            if outcome.first not in case.allow:
                problems.append(f"answer {outcome.first} not in {sorted(map(str, case.allow))}")
            for status, _, body in outcome.responses:
                if status >= 500 and status not in case.allow_5xx:
                    problems.append(f"5xx: {status} {body[:120]!r}")
                if 200 <= status < 300 and not case.valid:
                    problems.append(f"2xx for an invalid request: {status} {body[:120]!r}")
            for name, proc in [("IngestAPI", servers.api), ("IngestAPI (flood)", servers.flood_api),
                               ("IngestAPI (per address)", servers.per_address_api)]:
                if proc.poll() is not None:
                    problems.append(f"{name} exited with {proc.returncode}")
            if not problems:
                for port in {servers.api_port, servers.flood_port} if "connections" in case.name else {servers.api_port}:
                    ok, alive = good_event(ctx, port)
                    if not ok:
                        problems.append(f"a good POST /event afterwards got {alive.describe()}")
                if case.name.startswith("/api/event"):
                    ok, alive = good_plausible(ctx)
                    if not ok:
                        problems.append(f"a good POST /api/event afterwards got {alive.describe()}")
            line = f"{'ok  ' if not problems else 'FAIL'} {case.name}: {outcome.describe()}"
            if problems:
                failed += 1
                line += " -- " + "; ".join(problems)
            else:
                passed += 1
            print(line, flush=True)
            if problems and (servers.api.poll() is not None or servers.flood_api.poll() is not None):
                break
        count, problems = check_queue(servers, events)
        if problems:
            failed += 1
        else:
            passed += 1
        print(f"{'ok  ' if not problems else 'FAIL'} queue holds only events sent as valid: {count} payloads, "
              f"{len(events.acked)} answered 202" + ("" if not problems else " -- " + "; ".join(problems)))
        if failed and args.verbose:
            print("--- IngestAPI log tail ---\n" + servers.log("api.log"))
    finally:
        servers.close()
    print(f"hostile_http: {time.monotonic() - started:.0f}s")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
