"""REST load for issue 15 (REST coordination): bot processes that fire a list of requests as fast
as they may, what Discord's rules allow for such a list (the physical limit), and the driver that
starts the bots together and adds up what they saw. Standard library only.

Two kinds of bot, each given a request list (JSON: [{"method", "path", "body"?, "tag"?}]), an
API base, the token and a concurrency, each writing one JSON result (`Result` below reads it):

- node: tests/discordjs/rest_load.js, discord.js's own REST client (@discordjs/rest's REST class:
  its per-process buckets, its global limiter set to the simulator's global, its 429 retries);
- python: this module run as `python3 -m peers.rest_load bot ...` (from tests/integration): plain
  http.client with keep-alive on a thread pool, optionally behind a per-process limiter in the
  style of discord.py's HTTPClient (a bucket per route hash and major parameter following
  X-RateLimit-Remaining/Reset-After, retry_after honoured, a global 429 holding every request,
  5 tries).

Every bot is bounded: its list, a deadline after which it writes what it has and exits, and a
go file it waits for (bounded) so that every bot of a run starts at the same moment.
"""
import argparse
import collections
import http.client
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

from .wait import wait_until

# Not procs.ROOT: importing procs makes a run folder, and a bot process (this module run as a
# script) must leave nothing behind. The driver below imports procs and npm where it uses them.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NODE_DIR = os.path.join(ROOT, "tests", "discordjs")
INTEGRATION_DIR = os.path.join(ROOT, "tests", "integration")

# ---------------------------------------------------------------------------------------------
# Discord's rules for a request mix: which bucket a request spends, and the least time a mix
# needs under them.

def _template_regex(template):
    """'/channels/{channel}/messages' -> a regex with one named group per {param}."""
    out, pos = "", 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out += re.escape(template[pos:m.start()]) + f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    return re.compile("^" + out + re.escape(template[pos:]) + "$")


class RouteModel:
    """The simulator's REST model (GET /_sim/rest/limits): route groups, each with its bucket
    hash, limit per window, major parameter and routes ("POST /channels/{channel}/messages"),
    the global limit, and the routes it leaves out. classify() says which bucket a request
    spends and whether it counts against the global limit: as on Discord, a route outside every
    group (the interaction callback, webhooks) has no bucket and is not global-limited, and the
    global_exempt_routes are not global-limited whatever their group."""

    def __init__(self, limits):
        self.limits = limits
        self.global_per_sec = int(limits["global_per_sec"])
        self.routes = []  # (method, regex, group)
        for g in limits["groups"]:
            for route in g["routes"]:
                method, _, template = route.partition(" ")
                self.routes.append((method.upper(), _template_regex(template), g))
        self.exempt = []
        for route in limits.get("global_exempt_routes", []):
            method, _, template = route.partition(" ")
            self.exempt.append((method.upper(), _template_regex(template)))

    @staticmethod
    def path_only(path):
        return urllib.parse.urlsplit(path).path

    def group_of(self, method, path):
        """(group, the route's parameters) or (None, {})."""
        path = self.path_only(path)
        for m, rx, g in self.routes:
            if m == method.upper():
                hit = rx.match(path)
                if hit:
                    return g, hit.groupdict()
        return None, {}

    def classify(self, method, path):
        """(bucket key or None, global-limited?). The key is (group hash, major parameter's
        value): routes sharing a hash share a bucket per major parameter."""
        g, params = self.group_of(method, path)
        if g is None:
            return None, False
        major = g.get("major")
        key = (g["hash"], params.get(major) if major else None)
        p = self.path_only(path)
        exempt = any(m == method.upper() and rx.match(p) for m, rx in self.exempt)
        return key, not exempt

    def bucket_name(self, key):
        """'messages:123' for a bucket key (the group's name and the major parameter)."""
        name = next((g["name"] for g in self.limits["groups"] if g["hash"] == key[0]), key[0])
        return name if key[1] is None else f"{name}:{key[1]}"

    def bucket_rule(self, key):
        """(limit, window in seconds) of the bucket with this key."""
        hash_ = key[0]
        rules = [(int(g["limit"]), g["window_ms"] / 1000.0) for g in self.limits["groups"] if g["hash"] == hash_]
        return min(rules)


class PhysicalLimit(collections.namedtuple("PhysicalLimit", "seconds rate total binding buckets global_count names")):
    """The least time Discord's rules allow for a mix, the rate that gives, and what binds:
    `binding` is "global" or a bucket key (the first found of those that take the longest),
    `names` every limit that takes that long ("global", "messages:123")."""


def physical_limit(limits, requests):
    """The least time (s) in which `requests` ((method, path) pairs) can all be answered under
    `limits` (GET /_sim/rest/limits), and so the most requests per second for that mix.

    Each bucket (group hash, major parameter) and the global limit are fixed windows opened by
    their first request, as the simulator keeps them: n requests into a bucket of `limit` per
    `window` need ceil(n / limit) windows, the last opening (ceil(n / limit) - 1) * window after
    the first request; the global-limited requests likewise in 1-second windows of
    global_per_sec. The mix needs the longest of those."""
    model = RouteModel(limits)
    per_bucket = collections.Counter()
    global_count = 0
    total = 0
    for method, path in requests:
        total += 1
        key, global_limited = model.classify(method, path)
        if key is not None:
            per_bucket[key] += 1
        if global_limited:
            global_count += 1
    times = {}
    for key, n in per_bucket.items():
        limit, window = model.bucket_rule(key)
        times[key] = (math.ceil(n / limit) - 1) * window
    global_s = max(0, math.ceil(global_count / model.global_per_sec) - 1) if global_count else 0
    seconds, binding = global_s, "global"
    for key, t in times.items():
        if t > seconds:
            seconds, binding = t, key
    rate = total / seconds if seconds > 0 else math.inf
    names = (["global"] if global_s == seconds else []) + \
        sorted(model.bucket_name(k) for k, t in times.items() if t == seconds)
    return PhysicalLimit(seconds, rate, total, binding, times, global_count, names)


# ---------------------------------------------------------------------------------------------
# The python bot: `python3 -m peers.rest_load bot --requests F --api URL --token T ...`

TRIES = 5  # discord.py's


class Bucket:
    """One rate-limit bucket as discord.py keeps it (its Ratelimit): starts at one request
    until the first answer tells the limit; then lets `remaining` requests go at once, and once
    they are spent waits for the reset the headers announced."""

    def __init__(self):
        self.cond = threading.Condition()
        self.limit = 1
        self.remaining = 1
        self.outgoing = 0
        self.expires = None
        self.dirty = False

    def acquire(self, deadline):
        """Once a request may go: whether it had to wait for the bucket. None: the deadline
        came first."""
        held = False
        with self.cond:
            while True:
                now = time.monotonic()
                if self.expires is not None and now >= self.expires:
                    self.remaining = self.limit - self.outgoing
                    self.expires = None
                    self.dirty = False
                if self.remaining > 0:
                    self.remaining -= 1
                    self.outgoing += 1
                    return held
                if now >= deadline:
                    return None
                wait = (self.expires - now) if self.expires is not None else 0.05
                held = True
                self.cond.wait(max(0.001, min(wait, deadline - now)))

    def release(self, status, headers):
        with self.cond:
            self.outgoing -= 1
            if status != 429 and headers.get("x-ratelimit-limit") is not None:
                self.limit = int(headers["x-ratelimit-limit"])
                remaining = int(headers.get("x-ratelimit-remaining", 0))
                self.remaining = min(remaining, self.limit - self.outgoing) if self.dirty else remaining
                self.dirty = True
                reset_after = float(headers.get("x-ratelimit-reset-after", 0) or 0)
                self.expires = time.monotonic() + reset_after
            elif self.expires is None:
                # No headers to go by (a 429, a failed exchange): the next acquire starts the
                # bucket over from its limit, as discord.py's refresh does.
                self.expires = time.monotonic()
            self.cond.notify_all()


_SNOWFLAKE = re.compile(r"/\d{5,}")


def route_key(method, path):
    """discord.py's route key and major parameters, from a concrete path: the route with ids
    taken out, and the channel, guild or webhook (with its token) the request is for."""
    path = urllib.parse.urlsplit(path).path
    parts = path.strip("/").split("/")
    major = ""
    if len(parts) >= 2 and parts[0] in ("channels", "guilds"):
        major = f"{parts[0]}:{parts[1]}"
    elif len(parts) >= 3 and parts[0] in ("webhooks", "interactions"):
        major = f"{parts[0]}:{parts[1]}:{parts[2]}"
    return f"{method} {_SNOWFLAKE.sub('/{id}', path)}", major


class Limiter:
    """discord.py's HTTPClient limits for one process: buckets by (bucket hash or route key,
    major parameters), the hash learnt from X-RateLimit-Bucket; a global 429 holds every
    request of the process for its retry_after."""

    def __init__(self):
        self.lock = threading.Lock()
        self.hashes = {}
        self.buckets = {}
        self.global_over = threading.Event()
        self.global_over.set()

    def bucket(self, method, path):
        key, major = route_key(method, path)
        with self.lock:
            h = self.hashes.get(key)
            name = f"{h}:{major}" if h else f"{key}:{major}"
            b = self.buckets.get(name)
            if b is None:
                b = self.buckets[name] = Bucket()
            return b

    def learn(self, method, path, bucket, headers):
        h = headers.get("x-ratelimit-bucket")
        if not h:
            return
        key, major = route_key(method, path)
        with self.lock:
            if self.hashes.get(key) != h:
                self.hashes[key] = h
                self.buckets.setdefault(f"{h}:{major}", bucket)


class Counts:
    """What one bot saw, shared by its threads."""

    def __init__(self, n):
        self.lock = threading.Lock()
        self.result = {"kind": "python", "requests": n, "statuses": {}, "responses": {}, "scopes": {},
                       "shardline": {}, "self_limited": {}, "by_tag": {}, "done_at": {}, "latency_ms": {}, "first_sent": None,
                       "last_done": None, "started": None, "ended": None, "unfinished": 0, "errors": []}
        self.latencies = []

    @staticmethod
    def _bump(d, k):
        d[k] = d.get(k, 0) + 1

    def response(self, status, headers):
        with self.lock:
            self._bump(self.result["responses"], str(status))
            if status == 429:
                self._bump(self.result["scopes"], headers.get("x-ratelimit-scope") or "none")
            ours = headers.get("x-shardline-ratelimit")
            if ours:
                self._bump(self.result["shardline"], ours)

    def held(self, why):
        with self.lock:
            self._bump(self.result["self_limited"], why)

    def sent(self, t):
        with self.lock:
            if self.result["first_sent"] is None:
                self.result["first_sent"] = t

    def done(self, tag, outcome, t0, t1, error=None):
        with self.lock:
            self._bump(self.result["statuses"], outcome)
            if tag:
                self._bump(self.result["by_tag"].setdefault(tag, {}), outcome)
            self.result["done_at"].setdefault(tag or "", []).append(round(t1, 4))
            self.latencies.append((t1 - t0) * 1000.0)
            self.result["last_done"] = t1
            if error and len(self.result["errors"]) < 20:
                self.result["errors"].append(error)

    def snapshot(self):
        with self.lock:
            r = json.loads(json.dumps(self.result))
            lat = sorted(self.latencies)
        pick = (lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else None)
        r["latency_ms"] = {"p50": pick(50), "p90": pick(90), "p99": pick(99), "max": lat[-1] if lat else None}
        r["unfinished"] = r["requests"] - sum(r["statuses"].values())
        r["ended"] = time.time()
        return r


class PyBot:
    """A thread pool sending the list over keep-alive connections (one per thread)."""

    def __init__(self, args, requests):
        u = urllib.parse.urlsplit(args.api)
        self.host, self.port = u.hostname, u.port or 80
        self.base = u.path.rstrip("/")
        self.token = args.token
        self.requests = requests
        self.concurrency = max(1, args.concurrency)
        self.limiter = Limiter() if args.limiter == "on" else None
        self.max_retry_after = args.max_retry_after
        self.counts = Counts(len(requests))
        self.next = 0
        self.next_lock = threading.Lock()
        self.deadline = None

    def take(self):
        with self.next_lock:
            if self.next >= len(self.requests):
                return None
            self.next += 1
            return self.requests[self.next - 1]

    def worker(self):
        conn = None
        while time.monotonic() < self.deadline:
            req = self.take()
            if req is None:
                break
            conn = self.one(conn, req)

    def exchange(self, conn, method, path, body):
        """(conn, status, headers (lowercase names), parsed body); reconnects once on a
        connection the server closed between two requests."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bot {self.token}", "User-Agent": "DiscordBot (rest_load, 1)"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                conn.request(method, self.base + path, body=data, headers=headers)
                res = conn.getresponse()
                raw = res.read()
                hdrs = {k.lower(): v for k, v in res.getheaders()}
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = None
                if hdrs.get("connection", "").lower() == "close":
                    conn.close()
                    conn = None
                return conn, res.status, hdrs, parsed
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def one(self, conn, req):
        method, path, body, tag = req["method"], req["path"], req.get("body"), req.get("tag")
        t0 = time.time()
        self.counts.sent(t0)
        outcome, error = None, None
        for tries in range(TRIES):
            if time.monotonic() >= self.deadline:
                break
            bucket = None
            if self.limiter:
                if not self.limiter.global_over.is_set():
                    self.counts.held("global")
                self.limiter.global_over.wait(max(0.0, self.deadline - time.monotonic()))
                bucket = self.limiter.bucket(method, path)
                held = bucket.acquire(self.deadline)
                if held is None:
                    break
                if held:
                    self.counts.held("bucket")
            try:
                conn, status, headers, parsed = self.exchange(conn, method, path, body)
            except (http.client.HTTPException, OSError) as e:
                if bucket:
                    bucket.release(0, {})
                outcome, error = "error", f"{method} {path}: {e!r}"
                continue
            self.counts.response(status, headers)
            if bucket:
                self.limiter.learn(method, path, bucket, headers)
            if status == 429:
                retry_after = None
                if isinstance(parsed, dict) and isinstance(parsed.get("retry_after"), (int, float)):
                    retry_after = float(parsed["retry_after"])
                elif headers.get("retry-after"):
                    retry_after = float(headers["retry-after"])
                is_global = bool(isinstance(parsed, dict) and parsed.get("global")) or \
                    headers.get("x-ratelimit-global") == "true"
                outcome = "429"
                if retry_after is None or retry_after > self.max_retry_after:
                    if bucket:
                        bucket.release(status, headers)
                    break
                if self.limiter and is_global:
                    self.limiter.global_over.clear()
                # discord.py sleeps holding the bucket: the retry goes first.
                time.sleep(min(retry_after, max(0.0, self.deadline - time.monotonic())))
                if self.limiter and is_global:
                    self.limiter.global_over.set()
                if bucket:
                    bucket.release(status, headers)
                continue
            if bucket:
                bucket.release(status, headers)
            if 500 <= status < 600:
                outcome = str(status)
                time.sleep(min(0.1 * (tries + 1), max(0.0, self.deadline - time.monotonic())))
                continue
            outcome = "2xx" if 200 <= status < 300 else str(status)
            break
        if outcome is None:
            return conn  # the deadline came first: left unfinished
        self.counts.done(tag, outcome, t0, time.time(), error)
        return conn

    def run(self, deadline_s):
        self.counts.result["started"] = time.time()
        self.deadline = time.monotonic() + deadline_s
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, self.deadline - time.monotonic()) + 1.0)
        return self.counts.snapshot()


def wait_go(path, bound_s=120.0):
    print(json.dumps({"event": "ready"}), flush=True)
    end = time.monotonic() + bound_s
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise SystemExit(f"no go file {path} within {bound_s} s")
        time.sleep(0.002)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def bot_main(argv):
    p = argparse.ArgumentParser(prog="peers.rest_load bot")
    p.add_argument("--requests", required=True)
    p.add_argument("--api", required=True, help="REST base with the version: http://127.0.0.1:PORT/api/v10")
    p.add_argument("--token", required=True)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--limiter", choices=("on", "off"), default="on")
    p.add_argument("--deadline-s", type=float, default=60.0)
    p.add_argument("--max-retry-after", type=float, default=30.0,
                   help="a 429 asking to wait longer fails the request (discord.py's max_ratelimit_timeout)")
    p.add_argument("--out", required=True)
    p.add_argument("--go")
    args = p.parse_args(argv)
    with open(args.requests) as f:
        requests = json.load(f)
    bot = PyBot(args, requests)
    if args.go:
        wait_go(args.go)
    result = bot.run(min(600.0, max(1.0, args.deadline_s)))
    write_json(args.out, result)
    sys.stdout.flush()
    os._exit(0)  # threads still blocked past the deadline are abandoned, bounded by it


# ---------------------------------------------------------------------------------------------
# The driver: start bots, start them together, collect their results.

_node = {}


def install_node():
    """`npm ci` of tests/discordjs (discord.js 14 and its @discordjs/rest, pinned) with
    rest_load.js, once per test run; returns the directory."""
    from . import npm
    if "dir" not in _node:
        _node["dir"] = npm.install(NODE_DIR, ("package.json", "package-lock.json", "rest_load.js"), "rest-load-")
    return _node["dir"]


class LoadBot:
    """One bot process of a run. kind "node" or "python"; api_base is the REST base without
    the version (http://127.0.0.1:PORT/api); `limiter` only for python ("on"/"off")."""

    def __init__(self, name, kind, api_base, token, requests, go_file, concurrency=16,
                 limiter="on", global_per_sec=50, deadline_s=60.0, max_retry_after=30.0):
        from . import procs
        self.name, self.kind = name, kind
        self.dir = procs.scratch_dir(f"load-{name}-")
        self.list_path = os.path.join(self.dir, "requests.json")
        self.out_path = os.path.join(self.dir, "result.json")
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.requests = requests
        self.deadline_s = deadline_s
        write_json(self.list_path, requests)
        if kind == "node":
            argv = ["node", "rest_load.js", "--api", api_base, "--global-per-sec", str(global_per_sec)]
            cwd = install_node()
        elif kind == "python":
            argv = [sys.executable, "-m", "peers.rest_load", "bot", "--api", api_base + "/v10",
                    "--limiter", limiter, "--max-retry-after", str(max_retry_after)]
            cwd = INTEGRATION_DIR
        else:
            raise ValueError(kind)
        argv += ["--requests", self.list_path, "--token", token, "--concurrency", str(concurrency),
                 "--deadline-s", str(deadline_s), "--out", self.out_path, "--go", go_file]
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.p = subprocess.Popen(argv, cwd=cwd, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                                  env={k: v for k, v in os.environ.items() if not k.startswith(("SHARD_", "DISCORD_"))})

    def tail(self):
        parts = []
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            with open(path, "r", errors="replace") as f:
                parts.append(f"{self.name} {label} (tail):\n{f.read()[-2000:]}")
        return "\n".join(parts)

    def ready(self):
        with open(self.stdout_path, "r", errors="replace") as f:
            if '"ready"' in f.read():
                return True
        if self.p.poll() is not None:
            raise AssertionError(f"{self.name} exited ({self.p.returncode}) before it was ready\n{self.tail()}")
        return False

    def result(self):
        """Its result once it has exited; fails if it wrote none."""
        if self.p.poll() is None:
            return None
        for f in (self._out, self._err):
            if not f.closed:
                f.close()
        try:
            with open(self.out_path) as f:
                r = json.load(f)
        except FileNotFoundError:
            raise AssertionError(f"{self.name} exited ({self.p.returncode}) without a result\n{self.tail()}")
        r["name"] = self.name
        return r

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for f in (self._out, self._err):
            if not f.closed:
                f.close()


class Run:
    """Bots started together: every one loads and says it is ready, then one go file starts
    them all; results() waits (bounded by their deadlines) for every result."""

    def __init__(self, label):
        from . import procs
        self.label = label
        self.dir = procs.scratch_dir(f"run-{label}-")
        self.go_file = os.path.join(self.dir, "go")
        self.bots = []
        self.go_at = None

    def add(self, name, kind, api_base, token, requests, **kw):
        bot = LoadBot(name, kind, api_base, token, requests, self.go_file, **kw)
        self.bots.append(bot)
        return bot

    def go(self, ready_timeout=60.0):
        wait_until(lambda: all(b.ready() for b in self.bots), ready_timeout,
                   f"every bot of the {self.label} run loaded",
                   detail=lambda: "\n".join(b.tail() for b in self.bots if not b.ready()))
        self.go_at = time.time()
        with open(self.go_file, "w") as f:
            f.write("go\n")

    def results(self, margin_s=30.0):
        bound = max(b.deadline_s for b in self.bots) + margin_s
        return wait_until(lambda: (lambda rs: rs if all(r is not None for r in rs) else None)(
                              [b.result() for b in self.bots]),
                          bound, f"every bot of the {self.label} run finished",
                          detail=lambda: ", ".join(b.name for b in self.bots if b.p.poll() is None),
                          pause=lambda d: time.sleep(min(0.1, d.left())))

    def kill(self):
        for b in self.bots:
            b.kill()


def merge(results):
    """The bots' results added up: statuses, responses, scopes, shardline values, by_tag,
    done_at (per tag, every final outcome's time), count of requests, unfinished, first_sent /
    last_done over all of them."""
    out = {"requests": 0, "unfinished": 0, "statuses": collections.Counter(), "responses": collections.Counter(),
           "scopes": collections.Counter(), "shardline": collections.Counter(), "self_limited": collections.Counter(),
           "by_tag": {}, "done_at": {},
           "first_sent": None, "last_done": None, "errors": []}
    for r in results:
        out["requests"] += r["requests"]
        out["unfinished"] += r["unfinished"]
        for k in ("statuses", "responses", "scopes", "shardline", "self_limited"):
            out[k].update(r.get(k) or {})
        for tag, counts in (r.get("by_tag") or {}).items():
            out["by_tag"].setdefault(tag, collections.Counter()).update(counts)
        for tag, times in (r.get("done_at") or {}).items():
            out["done_at"].setdefault(tag, []).extend(times)
        if r.get("first_sent") is not None:
            out["first_sent"] = r["first_sent"] if out["first_sent"] is None else min(out["first_sent"], r["first_sent"])
        if r.get("last_done") is not None:
            out["last_done"] = r["last_done"] if out["last_done"] is None else max(out["last_done"], r["last_done"])
        out["errors"] += [f"{r['name']}: {e}" for e in (r.get("errors") or [])[:3]]
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "bot":
        raise SystemExit("usage: python3 -m peers.rest_load bot --requests F --api URL --token T ...")
    bot_main(sys.argv[2:])
