"""Bot processes for the bot endpoint's tests (issue 14): the examples of examples/discordpy_bot
and examples/discordjs_bot run as a user runs them, each printing one JSON object per line on
stdout, which is their status: a test waits on those lines (bounded), never on sleeps.

Also: finding a python that has Debian's python3-discord (the test's own interpreter may be
another one), `npm ci` of the pinned discord.js once per test run, and a gateway client that
stays attached in a thread of its own (heartbeats included) to prove other clients go on
receiving events while something else happens.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from . import npm, procs
from .sim import Closed, Gateway
from .wait import Timeout, wait_until

PY_DIR = os.path.join(procs.ROOT, "examples", "discordpy_bot")
JS_DIR = os.path.join(procs.ROOT, "examples", "discordjs_bot")
CPP_DIR = os.path.join(procs.ROOT, "examples", "cpp_bot")
CPP_BUILD_TIMEOUT = 300


def bot_env(api_port, token, shard_ids=None, shard_count=None, **extra):
    """What a bot is given, as `shardline launch` gives it (SHARD_BOT_COMMAND): the endpoint's
    REST base, the token, its shards. No inherited SHARD_*/DISCORD_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHARD_", "DISCORD_"))}
    env.update({"DISCORD_TOKEN": token, "DISCORD_API_URL": f"http://127.0.0.1:{api_port}/api/v10"})
    if shard_ids is not None:
        ids = sorted(shard_ids)
        contiguous = len(ids) > 1 and ids == list(range(ids[0], ids[-1] + 1))
        # As `shardline launch` writes it: a range when it can.
        env["SHARD_IDS"] = f"{ids[0]}-{ids[-1]}" if contiguous else ",".join(map(str, ids))
    if shard_count is not None:
        env["SHARD_COUNT"] = str(shard_count)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class BotProc:
    """A bot process whose stdout (JSON lines) and stderr go to files of their own."""

    def __init__(self, argv, env, cwd, name="bot"):
        self.dir = procs.scratch_dir(f"{name}-")
        self.name = name
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.started = time.monotonic()
        self.p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._out, stderr=self._err,
                                  stdin=subprocess.DEVNULL)

    def events(self, kind=None):
        with open(self.out_path, "r", errors="replace") as f:
            text = f.read()
        out = []
        for line in text.split("\n")[:-1]:  # the last piece is empty or still being written
            if line.startswith("{"):
                ev = json.loads(line)
                if kind is None or ev["event"] == kind:
                    out.append(ev)
        return out

    def tail(self):
        with open(self.out_path, "r", errors="replace") as f:
            out = f.read()[-2500:]
        with open(self.err_path, "r", errors="replace") as f:
            err = f.read()[-2500:]
        return f"{self.name} stdout (tail):\n{out}\n{self.name} stderr (tail):\n{err}"

    def wait(self, kind, pred=lambda ev: True, timeout=20.0, count=1):
        """The first `count` events of `kind` matching `pred`; fails at once if the bot exits."""
        def check():
            found = [ev for ev in self.events(kind) if pred(ev)]
            if len(found) >= count:
                return found[:count]
            if self.p.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.p.returncode}) before {count} {kind!r}\n{self.tail()}")
            return None
        return wait_until(check, timeout, f"{count} {kind!r} from {self.name}", detail=self.tail)

    def wait_one(self, kind, pred=lambda ev: True, timeout=20.0):
        return self.wait(kind, pred, timeout)[0]

    def errors(self):
        return self.events("error")

    def stop(self, timeout=10.0):
        """SIGTERM (the bots close their connections and exit 0); the exit code."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._close_files()
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self._close_files()

    def _close_files(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()


def discordpy_python():
    """An interpreter that imports discord.py (Debian's python3-discord lives in the system
    python's dist-packages; the test may run under another python). None if there is none."""
    candidates = [sys.executable, "/usr/bin/python3", shutil.which("python3")]
    for exe in dict.fromkeys(c for c in candidates if c):
        try:
            res = subprocess.run([exe, "-c", "import discord, sys; sys.exit(0 if discord.version_info.major == 2 else 3)"],
                                 capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if res.returncode == 0:
            return exe
    return None


def start_discordpy(env, name="discordpy"):
    exe = discordpy_python()
    if exe is None:
        raise AssertionError("discord.py 2.x is not importable (install Debian's python3-discord: "
                             "scripts/install-deps.sh)")
    return BotProc([exe, "bot.py"], env, PY_DIR, name)


_installed = {}


def install_discordjs():
    """`npm ci` of examples/discordjs_bot (discord.js and @discordjs/ws pinned by its
    package-lock.json) into a scratch copy, once per test run; returns that directory."""
    if "dir" in _installed:
        return _installed["dir"]
    workdir = npm.install(JS_DIR, ("package.json", "package-lock.json", "bot.js", "session_bot.js"),
                          "discordjs-bot-")
    _installed["dir"] = workdir
    return workdir


def build_cpp():
    """examples/cpp_bot built from its own directory, as docs/bots.md builds it (cmake, Debian's
    Boost and nothing of this repository), once per test run; returns the binary."""
    if "cpp" in _installed:
        return _installed["cpp"]
    cmake = shutil.which("cmake")
    if not cmake:
        raise AssertionError("the C++ bot needs cmake on PATH; run scripts/install-deps.sh")
    build = procs.scratch_dir("cpp-bot-build-")
    configure = [cmake, "-S", CPP_DIR, "-B", build]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    if shutil.which("ccache"):
        configure += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    for argv in (configure, [cmake, "--build", build]):
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=CPP_BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{' '.join(argv)} did not finish within {CPP_BUILD_TIMEOUT}s")
        if res.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    _installed["cpp"] = os.path.join(build, "cpp_bot")
    return _installed["cpp"]


def start_cpp(env, name="cpp"):
    return BotProc([build_cpp()], env, CPP_DIR, name)


def start_discordjs(env, name="discordjs", script="bot.js"):
    return BotProc(["node", script], env, install_discordjs(), name)


class AttachedClient:
    """A raw gateway client attached to one shard of an endpoint for as long as a test runs:
    a thread identifies, heartbeats on HELLO's interval and records every dispatch. It proves
    that what the test does to other connections does not reach this one. With
    `identify=False` or `heartbeat=False` it is instead a client that forgets one of them,
    whose close (`error`, a Closed, and `closed_at`) the test then awaits."""

    def __init__(self, port, token, shard, intents=513 | (1 << 15), name="attached", identify=True,
                 heartbeat=True):
        self.name = name
        self.lock = threading.Lock()
        self.dispatches = []   # (seq, type, monotonic time)
        self.ready = None
        self.error = None
        self.closed_at = None
        self.stopping = threading.Event()
        self.connected_at = time.monotonic()
        self.gw = Gateway(port)
        self.interval = self.gw.hello["d"]["heartbeat_interval"] / 1000.0
        self.heartbeats = heartbeat
        if identify:
            self.gw.identify(token, shard=shard, intents=intents)
        # One thread reads (with a long deadline: a read given up halfway through a frame
        # would lose its place), one heartbeats; a socket takes a send and a recv at once.
        self.reader = threading.Thread(target=self._read, name=f"{name}-read", daemon=True)
        self.beater = threading.Thread(target=self._beat, name=f"{name}-beat", daemon=True)
        self.reader.start()
        self.beater.start()

    def _read(self):
        try:
            while not self.stopping.is_set():
                try:
                    msg = self.gw.recv(timeout=60.0)
                except Timeout:
                    continue
                if msg["op"] == 0:
                    with self.lock:
                        if msg["t"] == "READY":
                            self.ready = msg["d"]
                        self.dispatches.append((msg["s"], msg["t"], time.monotonic()))
        except Closed as c:
            if not self.stopping.is_set():
                self.error, self.closed_at = c, time.monotonic()
        except Exception as e:  # noqa: BLE001 - reported by the test through check()
            if not self.stopping.is_set():
                self.error, self.closed_at = e, time.monotonic()

    def _beat(self):
        if not self.heartbeats:
            return
        while not self.stopping.wait(self.interval / 2) and self.error is None:
            try:
                self.gw.heartbeat()
            except OSError as e:
                if not self.stopping.is_set():
                    self.error = e
                return

    def count(self, kind=None):
        with self.lock:
            return sum(1 for _, t, _ in self.dispatches if kind is None or t == kind)

    def seqs(self):
        with self.lock:
            return [s for s, _, _ in self.dispatches]

    def check(self):
        """Fails if the connection ended."""
        if self.error is not None:
            raise AssertionError(f"{self.name} lost its connection: {self.error!r}")

    def wait_ready(self, timeout=15.0):
        def ready():
            self.check()
            return self.ready
        return wait_until(ready, timeout, f"READY on {self.name}")

    def wait_closed(self, timeout):
        """The Closed that ended the connection, within `timeout` seconds of connecting."""
        left = max(0.0, self.connected_at + timeout - time.monotonic())
        wait_until(lambda: self.error is not None, left, f"{self.name} closed by the server")
        if not isinstance(self.error, Closed):
            raise AssertionError(f"{self.name} ended without a close frame: {self.error!r}")
        return self.error

    def wait_more(self, than, timeout=10.0, kind=None):
        """Waits until more than `than` dispatches (of `kind`) have arrived."""
        def more():
            self.check()
            return self.count(kind) > than
        return wait_until(more, timeout, f"{self.name} receiving dispatches beyond {than}")

    def close(self):
        self.stopping.set()
        self.gw.close()
        self.reader.join(5)
        self.beater.join(5)


def gaps(seqs):
    """Sequence numbers missing between 1 and the highest one seen."""
    seen = set(seqs)
    return [s for s in range(1, max(seen, default=0) + 1) if s not in seen]

