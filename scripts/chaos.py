"""Fault injection on the real system: checks Jepsen's total-queue invariant (every event the
API answered 202 for is stored exactly once) through worker kills, a MongoDB outage, a Redis
crash, a Redis master killed under Sentinel (with and without replica acknowledgements), a
paused worker and a poison event, and prints a table.

Run by scripts/chaos (full cases) and by scripts/test (--short: the same cases, smaller)."""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from harness import free_cluster_port, free_port, wait_port  # noqa: E402
NX = os.path.join(ROOT, ".venv", "bin", "nx-27017")


class Cluster:
    """redis-server (AOF on), nx-27017, one IngestAPI and a set of workers, all restartable."""

    def __init__(self, bins, raw_mongo, fsync="always", workers=3, worker_env=None, api=True):
        self.bins, self.raw_mongo, self.fsync = bins, raw_mongo, fsync
        self.dir = tempfile.mkdtemp(prefix="chaos-")
        self.read_retries = 0  # failed reads of MongoDB that `stored` retried
        self.redis_port, self.mongo_port, self.api_port = free_port(), free_port(), free_port()
        os.makedirs(f"{self.dir}/redis")
        os.makedirs(f"{self.dir}/mongo")
        self.redis = self.mongo = self.api = None
        self.start_redis()
        self.start_mongo()
        self.env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
                        MONGO_URI=f"mongodb://127.0.0.1:{self.mongo_port}/chaos?serverSelectionTimeoutMS=1000",
                        LOG_LEVEL="error", HEARTBEAT_TTL_MS="1000", WORKER_BATCH_SIZE="200", RETRY_CAP_MS="1000")
        self.env.update(worker_env or {})
        if api:
            self.api = subprocess.Popen([os.path.join(bins, "IngestAPI"), "--port", str(self.api_port)], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(self.api_port)
        self.workers = [self.start_worker() for _ in range(workers)]

    def start_redis(self):
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", f"{self.dir}/redis", "--appendonly", "yes",
             "--appendfsync", self.fsync, "--save", "", "--maxmemory-policy", "noeviction", "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL)
        wait_port(self.redis_port)

    def start_mongo(self):
        self.mongo = subprocess.Popen([NX, "--data-dir", f"{self.dir}/mongo", "--port", str(self.mongo_port), "--log-file",
                                       f"{self.dir}/nx.log", "--pid-file", f"{self.dir}/nx.pid"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.mongo_port)

    def start_worker(self):
        return subprocess.Popen([os.path.join(self.bins, "Worker")], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def cli(port, *args):
        """redis-cli's answer from the server on `port`."""
        out = subprocess.run(["redis-cli", "-p", str(port), *map(str, args)], capture_output=True, text=True)
        return out.stdout.strip()

    def redis_cli(self, *args):
        return self.cli(self.redis_port, *args)

    def drained(self):
        """Queue, retries and every registered worker's processing list empty (the registry
        names every list; KEYS would block a Redis holding millions of keys)."""
        if self.redis_cli("LLEN", "et:queue") != "0" or self.redis_cli("ZCARD", "et:retry") != "0":
            return False
        workers = [w for w in self.redis_cli("ZRANGE", "et:workers", 0, -1).split("\n") if w]
        return all(self.redis_cli("LLEN", f"et:processing:{w}") == "0" for w in workers)

    def dead_letters(self):
        return int(self.redis_cli("LLEN", "et:dead") or 0)

    def start_with_servers_of_its_own(self, bins, raw_mongo, workers, env):
        """Starts as a Cluster (AOF off) whose Redis processes are kept in `self.extra`; if the
        start fails, nothing it started outlives it."""
        try:
            Cluster.__init__(self, bins, raw_mongo, fsync="no", workers=workers, worker_env=env)
        except BaseException:
            for proc in self.extra + [getattr(self, "redis", None), getattr(self, "mongo", None), getattr(self, "api", None)]:
                if proc and proc.poll() is None:
                    proc.kill()
                    proc.wait()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def stored(self, site, attempts=5):
        """Every stored event id of `site`. A failed or hung read is retried (at most `attempts`
        times, each failure printed with raw_mongo's message and counted in `read_retries`,
        which the verdict shows): one find failed a CI run once with its message unseen."""
        for attempt in range(1, attempts + 1):
            try:
                out = subprocess.run([self.raw_mongo, "ids", f"mongodb://127.0.0.1:{self.mongo_port}/chaos", site, "-"],
                                     capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired as hung:
                stderr = hung.stderr.decode(errors="replace") if isinstance(hung.stderr, bytes) else (hung.stderr or "")
                failure = f"no answer in 60 s: {stderr.strip()}"
            else:
                if out.returncode == 0:
                    return [line.split()[0] for line in out.stdout.split("\n") if line.strip()]
                failure = f"exit {out.returncode}: {out.stderr.strip()}"
            self.read_retries += 1
            print(f"chaos: raw_mongo ids {site} failed (attempt {attempt}/{attempts}), {failure}", file=sys.stderr, flush=True)
            time.sleep(0.5 * attempt)
        raise RuntimeError(f"raw_mongo ids {site}: {attempts} reads of MongoDB failed; see the messages above")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        # Subclasses keep their extra Redis processes (replicas, sentinels, cluster nodes) in `extra`.
        for proc in self.workers + [self.api, self.redis, self.mongo] + getattr(self, "extra", []):
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelCluster(Cluster):
    """A Cluster whose Redis runs under Sentinel: the master (AOF off: the replicas are its
    copies), two replicas and three sentinels on loopback. The API and the workers find the
    master through the sentinels (REDIS_SENTINELS); pushes wait for `ack_replicas` replicas."""

    NAME = "chaos"

    def __init__(self, bins, raw_mongo, ack_replicas, workers=2):
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.replica_ports = [free_port() for _ in range(2)]
        self.extra = []
        self.replicas = []
        env = {"REDIS_SENTINELS": ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports), "REDIS_SENTINEL_MASTER": self.NAME,
               "REDIS_ACK_REPLICAS": str(ack_replicas)}
        self.start_with_servers_of_its_own(bins, raw_mongo, workers, env)

    def start_redis(self):
        """The master, its replicas and the sentinels; returns once the replicas are in sync and
        every sentinel knows both replicas and its two peers."""
        self.redis = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", f"{self.dir}/redis",
                                       "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        wait_port(self.redis_port)
        for port in self.replica_ports:
            os.makedirs(f"{self.dir}/replica-{port}")
            self.replicas.append(subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", f"{self.dir}/replica-{port}",
                                                   "--save", "", "--appendonly", "no", "--replicaof", "127.0.0.1", str(self.redis_port)],
                                                  stdout=subprocess.DEVNULL))
            self.extra.append(self.replicas[-1])
        for port in self.sentinel_ports:
            conf = f"{self.dir}/sentinel-{port}.conf"
            with open(conf, "w") as f:
                f.write(f"sentinel monitor {self.NAME} 127.0.0.1 {self.redis_port} 2\n"
                        f"sentinel down-after-milliseconds {self.NAME} 1000\nsentinel failover-timeout {self.NAME} 10000\n")
            self.extra.append(subprocess.Popen(["redis-server", conf, "--sentinel", "--port", str(port), "--bind", "127.0.0.1", "--dir", self.dir],
                                               stdout=subprocess.DEVNULL))
        for port in self.replica_ports + self.sentinel_ports:
            wait_port(port)
        deadline = time.time() + 60
        while time.time() < deadline:
            synced = self.cli(self.redis_port, "INFO", "replication").count("state=online") == 2
            known = all(self.cli(p, "SENTINEL", "replicas", self.NAME).count("name") == 2 and
                        self.cli(p, "SENTINEL", "sentinels", self.NAME).count("name") == 2 for p in self.sentinel_ports)
            if synced and known:
                return
            time.sleep(0.2)
        raise RuntimeError("the replicas did not sync, or the sentinels did not find each other, within 60 s")

    def master_port(self):
        """The master's port as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            named = self.cli(port, "SENTINEL", "get-master-addr-by-name", self.NAME).split("\n")
            if len(named) == 2 and named[1].isdigit():
                return int(named[1])
        return self.redis_port

    def redis_cli(self, *args):
        return self.cli(self.master_port(), *args)


class RedisClusterDeployment(Cluster):
    """A Cluster whose Redis is a Redis Cluster: three masters with a replica each (node timeout
    1 s, AOF off: the replicas are the copies). The API and the workers reach it through
    REDIS_CLUSTER_NODES, the queue in its default 12 shards; pushes wait for `ack_replicas`."""

    def __init__(self, bins, raw_mongo, ack_replicas, workers=2):
        self.node_ports = [free_cluster_port() for _ in range(6)]
        self.extra, self.by_port = [], {}
        env = {"REDIS_CLUSTER_NODES": ",".join(f"127.0.0.1:{p}" for p in self.node_ports), "REDIS_ACK_REPLICAS": str(ack_replicas)}
        self.start_with_servers_of_its_own(bins, raw_mongo, workers, env)

    def start_redis(self):
        """Six nodes, `redis-cli --cluster create`; returns once every slot is served and every
        master's replica is in sync."""
        for port in self.node_ports:
            os.makedirs(f"{self.dir}/node-{port}")
            proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", f"{self.dir}/node-{port}",
                                     "--save", "", "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                     "--cluster-node-timeout", "1000"], stdout=subprocess.DEVNULL)
            self.extra.append(proc)
            self.by_port[port] = proc
        for port in self.node_ports:
            wait_port(port)
        self.redis_port = self.node_ports[0]
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.node_ports], "--cluster-replicas", "1",
                        "--cluster-yes"], check=True, capture_output=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            up = all("cluster_state:ok" in self.cli(p, "CLUSTER", "INFO") for p in self.node_ports)
            if up and sum("state=online" in self.cli(p, "INFO", "replication") for p in self.masters()) == 3:
                return
            time.sleep(0.2)
        raise RuntimeError("the cluster did not come up within 60 s")

    def nodes(self):
        """`CLUSTER NODES` as (id, port, flags, master id) from the first node that answers."""
        for port in self.node_ports:
            if self.by_port[port].poll() is None:
                lines = self.cli(port, "CLUSTER", "NODES").split("\n")
                return [(f[0], int(f[1].split("@")[0].rsplit(":", 1)[1]), f[2], f[3]) for f in (line.split() for line in lines) if len(f) > 3]
        return []

    def masters(self):
        return [port for _, port, flags, _ in self.nodes() if "master" in flags and "fail" not in flags]

    def replica_of(self, master_port):
        ids = {port: node_id for node_id, port, _, _ in self.nodes()}
        return next(port for _, port, flags, master in self.nodes() if "slave" in flags and master == ids[master_port])

    def redis_cli(self, *args):
        out = subprocess.run(["redis-cli", "-c", "-p", str(self.masters()[0]), *map(str, args)], capture_output=True, text=True)
        return out.stdout.strip()

    def _sum(self, pattern, command):
        total = 0
        for port in self.masters():
            for key in (k for k in self.cli(port, "KEYS", pattern).split("\n") if k):
                total += int(self.cli(port, command, key) or 0)
        return total

    def drained(self):
        """Every shard's queue, retries and processing lists empty, on every master."""
        return self._sum("et:{*}:queue", "LLEN") == 0 and self._sum("et:{*}:retry", "ZCARD") == 0 \
            and self._sum("et:{*}:processing:*", "LLEN") == 0

    def dead_letters(self):
        return self._sum("et:{*}:dead", "LLEN")


class Sender:
    """Posts batches of unique events to /events; remembers which ids were answered 202."""

    def __init__(self, cluster, site, total, batch=100, pace=0.0):
        self.cluster, self.site, self.total, self.batch, self.pace = cluster, site, total, batch, pace
        self.acked, self.sent, self.refused, self.log = set(), 0, 0, []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conn = None
        for start in range(0, self.total, self.batch):
            ids = [f"{self.site}-{i}" for i in range(start, min(self.total, start + self.batch))]
            body = json.dumps([{"event_id": i, "site_id": self.site, "event_type": "page_view", "path": "/p"} for i in ids])
            self.sent += len(ids)
            status = None
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.cluster.api_port, timeout=10)
                conn.request("POST", "/events", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = response.read()
                status = response.status
                if status == 202:
                    rejected = {r["index"] for r in json.loads(answer)["rejected"]}
                    self.acked.update(i for n, i in enumerate(ids) if n not in rejected)
                else:
                    self.refused += len(ids)
            except (OSError, http.client.HTTPException):
                conn = None
                self.refused += len(ids)
            self.log.append((time.time(), status))
            if self.pace:
                time.sleep(self.pace)

    def start(self):
        self.thread.start()
        return self

    def join(self):
        self.thread.join()
        return self


def drain(cluster, site, expected, timeout):
    """Waits until the queue is empty and every acknowledged event is stored; seconds taken."""
    started = time.time()
    while time.time() - started < timeout:
        # Two attempts per read here: the loop itself asks again, and a long retry would count as drain time.
        if cluster.drained() and expected <= set(cluster.stored(site, attempts=2)):
            return time.time() - started
        time.sleep(0.2)
    return None


def verdict(name, sender, cluster, site, drain_seconds, notes=""):
    # A stored event's _id is "site/event_id", so MongoDB itself refuses a second copy: the
    # duplicates column would only move if that scheme changed (its guard, not the workers').
    ids = cluster.stored(site)
    distinct = set(ids)
    lost = len(sender.acked - distinct)
    duplicates = len(ids) - len(distinct)
    dead = cluster.dead_letters()
    ok = lost == 0 and duplicates == 0 and drain_seconds is not None
    retries = cluster.read_retries
    if retries:
        notes = f"{notes}; {retries} failed reads of MongoDB retried (see stderr)" if notes else f"{retries} failed reads of MongoDB retried (see stderr)"
    return dict(case=name, sent=sender.sent, acked=len(sender.acked), stored=len(distinct & sender.acked), lost=lost,
                duplicates=duplicates, dead=dead, drain=drain_seconds, ok=ok, notes=notes)


def case_kill(args, bins, raw):
    """kill -9 of a random worker every 0.2-0.6 s while 3 workers drain."""
    with Cluster(bins, raw, workers=0) as cluster:
        site = "kill"
        sender = Sender(cluster, site, args.events).start().join()
        cluster.workers = [cluster.start_worker() for _ in range(3)]
        kills = 0
        started = time.time()
        while not (cluster.drained() and sender.acked <= set(cluster.stored(site))) and time.time() - started < args.timeout:
            time.sleep(random.uniform(0.2, 0.6))
            victim = random.randrange(3)
            cluster.workers[victim].kill()
            cluster.workers[victim].wait()
            cluster.workers[victim] = cluster.start_worker()
            kills += 1
        seconds = drain(cluster, site, sender.acked, 60)
        total = time.time() - started if seconds is not None else None
        return verdict("kill -9 a random worker every 0.2-0.6 s (3 workers)", sender, cluster, site, total, f"{kills} kills")


def case_mongo(args, bins, raw):
    """MongoDB stopped mid-stream while ingest goes on."""
    with Cluster(bins, raw, workers=2) as cluster:
        site = "mongo"
        sender = Sender(cluster, site, args.events, pace=args.pace).start()
        time.sleep(args.outage / 3)
        cluster.mongo.kill()
        cluster.mongo.wait()
        time.sleep(args.outage)
        cluster.start_mongo()
        sender.join()
        seconds = drain(cluster, site, sender.acked, args.timeout)
        return verdict(f"MongoDB stopped for {args.outage:g} s mid-stream", sender, cluster, site, seconds,
                       f"{sender.refused} refused (503)")


def case_redis(args, bins, raw):
    """Redis killed and restarted (AOF, appendfsync always) mid-stream."""
    with Cluster(bins, raw, workers=2, fsync="always") as cluster:
        site = "redis"
        sender = Sender(cluster, site, args.events, pace=args.pace).start()
        time.sleep(args.outage / 3)
        cluster.redis.kill()
        cluster.redis.wait()
        down_from = time.time()
        time.sleep(args.outage)
        down_until = time.time()
        cluster.start_redis()
        sender.join()
        # An answer that arrived entirely while Redis was down must not be a 202.
        wrong = sum(1 for at, status in sender.log if down_from + 0.5 < at < down_until and status == 202)
        seconds = drain(cluster, site, sender.acked, args.timeout)
        result = verdict(f"Redis killed for {args.outage:g} s and restarted (AOF always)", sender, cluster, site, seconds,
                         f"{sender.refused} refused (503); {wrong} 202s while down")
        result["ok"] = result["ok"] and wrong == 0
        return result


def outage(log, since):
    """(seconds from `since` to the first answer that was not 202, seconds from `since` until
    202s came back after it) in a log of (time, status): when ingest noticed, and when it
    recovered; None where it did not."""
    after = sorted((at, status) for at, status in log if at >= since)
    first_refusal = next((at for at, status in after if status != 202), None)
    if first_refusal is None:
        return None, None
    back = next((at for at, status in after if at > first_refusal and status == 202), None)
    return first_refusal - since, (back - since if back else None)


def case_sentinel_acks(args, bins, raw, acks):
    """Kills -9 the Redis master under Sentinel while ingest pushes as fast as it can, the
    replicas lagging for the last 0.3 s before (SIGSTOPped and their links cut, resumed right
    after the kill: on loopback they are otherwise under a millisecond behind, and no loss
    could show), then keeps
    sending at a steady pace until 202s come back: counts what was acknowledged and lost, when
    ingest began answering 503 and when it answered 202 again."""
    with SentinelCluster(bins, raw, ack_replicas=acks) as cluster:
        site = f"sentinel-{acks}"
        burst = Sender(cluster, site, 4 * args.events).start()
        time.sleep(0.3)
        for replica in cluster.replicas:
            replica.send_signal(signal.SIGSTOP)
        # Cut the links too: a stopped replica would still find in its socket buffer what the master sent.
        cluster.cli(cluster.redis_port, "CLIENT", "KILL", "TYPE", "replica")
        time.sleep(0.3)  # under the sentinels' 1 s down-after: the replicas must not look down
        killed = time.time()
        cluster.redis.kill()
        cluster.redis.wait()
        for replica in cluster.replicas:
            replica.send_signal(signal.SIGCONT)
        burst.join()
        after = Sender(cluster, site + "-after", args.events, pace=args.pace).start().join()
        noticed, recovered = outage(burst.log + after.log, killed)
        started = time.time()
        while not cluster.drained() and time.time() - started < args.timeout:
            time.sleep(0.2)
        # With acks=0 some acknowledged events may be gone for good: wait for the queue, not for them.
        seconds = drain(cluster, site, burst.acked, 10 if acks == 0 else args.timeout)
        seconds = seconds if seconds is not None else (time.time() - started if cluster.drained() else None)
        result = verdict(f"Redis master killed under Sentinel mid-burst, REDIS_ACK_REPLICAS={acks}", burst, cluster, site, seconds,
                         f"{burst.refused} refused (503); 503s from {'-' if noticed is None else f'{noticed:.2f}'} s after the kill, "
                         f"202s again at {'never' if recovered is None else f'{recovered:.1f} s'}; new master :{cluster.master_port()}")
        # Without replica acknowledgements a loss is possible, and is what this case measures.
        result["ok"] = recovered is not None and result["duplicates"] == 0 and result["drain"] is not None and (acks == 0 or result["lost"] == 0)
        return result


def case_cluster_acks(args, bins, raw, acks):
    """Kills -9 one Redis Cluster master while ingest pushes as fast as it can, its replica
    lagging for the last 0.3 s before (SIGSTOPped, link cut, resumed right after the kill),
    then keeps sending at a steady pace: counts what was acknowledged and lost, and when ingest
    refused pushes (those whose shard was on the dead master) until the replica took over."""
    with RedisClusterDeployment(bins, raw, ack_replicas=acks) as cluster:
        site = f"cluster-{acks}"
        burst = Sender(cluster, site, 4 * args.events).start()
        time.sleep(0.3)
        victim = cluster.masters()[0]
        replica = cluster.replica_of(victim)
        cluster.by_port[replica].send_signal(signal.SIGSTOP)
        cluster.cli(victim, "CLIENT", "KILL", "TYPE", "replica")
        time.sleep(0.3)  # under the 1 s node timeout: the replica must not look down
        killed = time.time()
        cluster.by_port[victim].kill()
        cluster.by_port[victim].wait()
        cluster.by_port[replica].send_signal(signal.SIGCONT)
        burst.join()
        after = Sender(cluster, site + "-after", args.events, pace=args.pace).start().join()
        log = sorted((at, status) for at, status in burst.log + after.log if at >= killed)
        refusals = [at - killed for at, status in log if status != 202]
        started = time.time()
        while not cluster.drained() and time.time() - started < args.timeout:
            time.sleep(0.2)
        seconds = drain(cluster, site, burst.acked, 10 if acks == 0 else args.timeout)
        seconds = seconds if seconds is not None else (time.time() - started if cluster.drained() else None)
        window = f"from {refusals[0]:.2f} s to {refusals[-1]:.2f} s after the kill" if refusals else "none after the kill"
        recovered = bool(log) and log[-1][1] == 202
        result = verdict(f"Redis Cluster master killed mid-burst, REDIS_ACK_REPLICAS={acks}", burst, cluster, site, seconds,
                         f"{burst.refused} refused (503); refusals {window}; {len(cluster.masters())} masters after, "
                         f"replica :{replica} promoted: {replica in cluster.masters()}")
        result["ok"] = recovered and result["duplicates"] == 0 and result["drain"] is not None and (acks == 0 or result["lost"] == 0)
        return result


def case_cluster(args, bins, raw):
    """Redis Cluster master kill -9, with and without REDIS_ACK_REPLICAS=1."""
    return [case_cluster_acks(args, bins, raw, 1), case_cluster_acks(args, bins, raw, 0)]


def case_sentinel(args, bins, raw):
    """Redis master kill -9 under Sentinel, with and without REDIS_ACK_REPLICAS=1."""
    return [case_sentinel_acks(args, bins, raw, 1), case_sentinel_acks(args, bins, raw, 0)]


def case_sigstop(args, bins, raw):
    """a worker SIGSTOPped past its heartbeat TTL, then SIGCONTed."""
    with Cluster(bins, raw, workers=0) as cluster:
        site = "stop"
        sender = Sender(cluster, site, args.events).start().join()
        cluster.workers = [cluster.start_worker() for _ in range(3)]
        paused = cluster.workers[0]
        # Pause it while it holds a batch (its processing list, named after its pid, is not empty).
        deadline = time.time() + 30
        while time.time() < deadline:
            paused.send_signal(signal.SIGSTOP)
            held = [key for key in cluster.redis_cli("KEYS", f"et:processing:*-{paused.pid}-*").split() if key]
            if held and cluster.redis_cli("LLEN", held[0]) != "0":
                break
            paused.send_signal(signal.SIGCONT)
            time.sleep(0.02)
        # Past its 1 s TTL the others recover its batch and fence it: wait for that (10 s at most).
        recovered = False
        deadline = time.time() + 10
        while not recovered and time.time() < deadline:
            recovered = bool(cluster.redis_cli("KEYS", "et:fenced:*"))
            time.sleep(0.05)
        paused.send_signal(signal.SIGCONT)
        seconds = drain(cluster, site, sender.acked, args.timeout)
        fence_cleared = False
        for _ in range(100):
            if not cluster.redis_cli("KEYS", "et:fenced:*"):
                fence_cleared = True
                break
            time.sleep(0.1)
        notes = ("its batch was recovered by the others; on SIGCONT it found the fence and acknowledged nothing"
                 if recovered else "it held no batch when paused")
        result = verdict("a worker SIGSTOPped past its TTL, then SIGCONTed", sender, cluster, site, seconds, notes)
        result["ok"] = result["ok"] and (not recovered or fence_cleared)
        return result


class Pushed:
    """Events LPUSHed straight into the queue (as ingest would after its 202): a Sender's figures."""

    def __init__(self, cluster, site, total):
        self.sent, self.refused, self.log = total, 0, []
        self.acked = {f"{site}-{i}" for i in range(total)}
        resp = Resp(cluster.redis_port)
        for start in range(0, total, 1000):
            resp.call("LPUSH", "et:queue", *[
                json.dumps({"event_id": f"{site}-{i}", "site_id": site, "event_type": "page_view", "path": "/p",
                            "timestamp": 1763916271123, "received_at": 1763916271123}, separators=(",", ":"))
                for i in range(start, min(total, start + 1000))])
        resp.close()


class Resp:
    """A minimal RESP client on one socket: cheap enough to sample Redis every few milliseconds."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.buf = b""

    def call(self, *args):
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            a = str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n", 1)
        return head

    def read(self):
        head = self.line()
        kind, rest = head[:1], head[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {head!r}")

    def close(self):
        self.sock.close()


def case_registry(args, bins, raw):
    """recovery among millions of unrelated keys: heartbeats on time, a kill -9'd worker's batch back within TTL + interval."""
    ttl_ms, interval_ms, slack_ms = 1000, 500, 500  # HEARTBEAT_TTL_MS=1000: beats every 250 ms, recovery every 500 ms
    with Cluster(bins, raw, workers=0, api=False) as cluster:
        site = "registry"
        populate = args.keys
        started = time.time()
        cluster.redis_cli("DEBUG", "POPULATE", populate, "unrelated")
        populated = time.time() - started
        sender = Pushed(cluster, site, args.events)
        cluster.workers = [cluster.start_worker() for _ in range(3)]
        victim = cluster.workers[0]
        sampler = Resp(cluster.redis_port)
        samples = {"max_age": 0, "lapses": 0, "count": 0}
        stop = threading.Event()
        dead = set()

        def sample():
            probe = Resp(cluster.redis_port)
            while not stop.is_set():
                seconds, micros = probe.call("TIME")
                now = int(seconds) * 1000 + int(micros) // 1000
                entries = probe.call("ZRANGE", "et:workers", 0, -1, "WITHSCORES") or []
                for worker, deadline in zip(entries[::2], entries[1::2]):
                    if worker in dead:
                        continue
                    age = now - (int(float(deadline)) - ttl_ms)
                    samples["max_age"] = max(samples["max_age"], age)
                    if int(float(deadline)) < now:
                        samples["lapses"] += 1
                samples["count"] += 1
                time.sleep(0.01)
            probe.close()

        watcher = threading.Thread(target=sample, daemon=True)
        # Kill the victim while it holds a batch: SIGSTOP, look, SIGKILL (or SIGCONT and look again).
        held, victim_ids = 0, []
        deadline = time.time() + 30
        while time.time() < deadline and not held:
            victim_ids = [w for w in (sampler.call("ZRANGE", "et:workers", 0, -1) or []) if f"-{victim.pid}-" in w]
            if victim_ids and not watcher.is_alive():
                watcher.start()
            victim.send_signal(signal.SIGSTOP)
            held = sum(sampler.call("LLEN", f"et:processing:{w}") for w in victim_ids)
            if not held:
                victim.send_signal(signal.SIGCONT)
                time.sleep(0.01)
        if not watcher.is_alive():
            watcher.start()
        dead.update(victim_ids)
        victim.kill()
        killed_at = time.time()
        victim.wait()
        recovered_after = None
        while time.time() - killed_at < 30:
            left = sum(sampler.call("LLEN", f"et:processing:{w}") for w in victim_ids)
            registered = [w for w in victim_ids if sampler.call("ZSCORE", "et:workers", w) is not None]
            if not left and not registered:
                recovered_after = (time.time() - killed_at) * 1000
                break
            time.sleep(0.005)
        cluster.workers[0] = cluster.start_worker()  # one more live worker to finish the drain
        seconds = drain(cluster, site, sender.acked, args.timeout)
        stop.set()
        watcher.join()
        keys = sampler.call("DBSIZE")
        sampler.close()
        bound = ttl_ms + interval_ms
        recovered_text = f"{recovered_after:.0f} ms" if recovered_after is not None else "never"
        notes = (f"{keys:,} keys (populate {populated:.1f} s); victim held {held}; recovered {recovered_text} after kill -9 "
                 f"(bound TTL {ttl_ms} + interval {interval_ms} = {bound} ms); last-beat age max {samples['max_age']} ms "
                 f"(beat every {ttl_ms // 4} ms) over {samples['count']} samples; {samples['lapses']} lapses")
        result = verdict(f"kill -9 among {populate:,} unrelated keys", sender, cluster, site, seconds, notes)
        result["ok"] = (result["ok"] and held > 0 and recovered_after is not None and recovered_after <= bound + slack_ms
                        and samples["lapses"] == 0)
        return result


def case_poison(args, bins, raw):
    """a poison event among good ones."""
    with Cluster(bins, raw, workers=2) as cluster:
        site = "poison"
        # Valid JSON the store cannot take (an empty event_id) pushed straight into the queue,
        # as a buggy producer would; nx-27017 refuses no document, so this is the store's refusal.
        cluster.redis_cli("LPUSH", "et:queue", '{"event_id":"","site_id":"poison","event_type":"page_view","timestamp":1,"received_at":1}')
        sender = Sender(cluster, site, args.events // 5).start().join()
        seconds = drain(cluster, site, sender.acked, args.timeout)
        result = verdict("a poison event among good ones", sender, cluster, site, seconds)
        result["ok"] = result["ok"] and result["dead"] == 1
        return result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="small version of every case (part of scripts/test)")
    parser.add_argument("--bin", required=True, help="directory holding IngestAPI and Worker")
    parser.add_argument("--raw-mongo", required=True, help="the raw_mongo helper (Benchmarks/raw_mongo.c)")
    parser.add_argument("--only", choices=["kill", "mongo", "redis", "sentinel", "cluster", "sigstop", "poison", "registry"])
    parser.add_argument("--keys", type=int, help="unrelated keys for the registry case (default 3M, 10M without --short)")
    args = parser.parse_args()
    args.events = 5_000 if args.short else 50_000
    args.outage = 3.0 if args.short else 30.0
    # Sending lasts about three outages, so that the outage falls mid-stream.
    args.pace = 3 * args.outage / (args.events / 100)
    args.timeout = 120 if args.short else 600
    args.keys = args.keys or (3_000_000 if args.short else 10_000_000)
    cases = {"kill": case_kill, "mongo": case_mongo, "redis": case_redis, "sentinel": case_sentinel, "cluster": case_cluster, "sigstop": case_sigstop,
             "poison": case_poison, "registry": case_registry}
    results = []
    for name, case in cases.items():
        if args.only and name != args.only:
            continue
        print(f"chaos: {case.__doc__}", flush=True)
        result = case(args, args.bin, args.raw_mongo)
        results.extend(result if isinstance(result, list) else [result])
    print()
    print("| case | sent | acknowledged (202) | stored | lost | duplicates | dead-lettered | drain s | notes | result |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        drain_text = f"{r['drain']:.1f}" if r["drain"] is not None else "did not drain"
        print(f"| {r['case']} | {r['sent']:,} | {r['acked']:,} | {r['stored']:,} | {r['lost']} | {r['duplicates']} | {r['dead']} | "
              f"{drain_text} | {r['notes']} | {'PASS' if r['ok'] else 'FAIL'} |")
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
