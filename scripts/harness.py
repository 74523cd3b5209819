"""Helpers shared by the scripts and Benchmarks/bench.py: free ports, waiting for servers, one HTTP
request with a JSON answer, and the processes a script starts in a temporary directory."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_cluster_port():
    """A free port for a Redis Cluster node: its cluster bus listens 10,000 above it, so the
    port must be at most 55535 and that one free too."""
    for _ in range(1000):
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


if __name__ == "__main__" and os.environ.get("HARNESS_PRINT") == "cluster-port":
    print(free_cluster_port())


def http(method, url, body=None, headers=None):
    """(status, parsed JSON, or text when the answer is not JSON) of one request; `body` is sent as JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def worker_command(bins, env, *args, cwd=None):
    """Runs `Worker ARGS…` (an admin subcommand) from `bins` with `env`; its standard output, or
    RuntimeError with its standard error."""
    done = subprocess.run([os.path.join(bins, "Worker"), *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"Worker {' '.join(map(str, args))} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def wait_port(port, timeout=20):
    """Returns once something accepts connections on `port`; raises after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Processes:
    """A temporary directory and the processes a script starts in it; `close()` stops them all."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.procs = []

    def start_stores(self, nx, host="127.0.0.1"):
        """redis-server and nx-27017 on free ports (`redis_port`, `mongo_port`), waited for."""
        self.redis_port, self.mongo_port = free_port(), free_port()
        os.makedirs(f"{self.dir}/redis")
        os.makedirs(f"{self.dir}/mongo")
        self.spawn(["redis-server", "--port", str(self.redis_port), "--bind", host, "--dir", f"{self.dir}/redis",
                    "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"], "redis.log")
        self.spawn([nx, "--data-dir", f"{self.dir}/mongo", "--port", str(self.mongo_port), "--log-file",
                    f"{self.dir}/nx.log", "--pid-file", f"{self.dir}/nx.pid"], "nx.out")
        wait_port(self.redis_port)
        wait_port(self.mongo_port)

    def spawn(self, argv, log, env=None):
        """Starts `argv` with its output in `log`; cwd is the temporary directory, so no developer's .env is read."""
        proc = subprocess.Popen(argv, env=env, cwd=self.dir, stdout=open(f"{self.dir}/{log}", "wb"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def log(self, name, lines=20):
        """The last `lines` of a log in the directory ("" when there is none)."""
        try:
            with open(f"{self.dir}/{name}", "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self, graceful=True, keep=False):
        """Stops every process (SIGTERM and 10 s, then SIGKILL; SIGKILL at once unless `graceful`), then removes the directory unless `keep`."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate() if graceful else proc.kill()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if keep:
            print(f"servers' directory kept: {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
