"""Helpers for integration tests: start real shardline processes on loopback and wait on
events they log (never on sleeps). Standard library only."""
import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SHARDLINE_BIN", os.path.join(ROOT, "build", "bin", "shardline"))
SECRET = "integration-test-secret-0123456789"

# Every process of one test run keeps its logs under one folder, removed at exit (failures
# already print the log tails); SHARDLINE_KEEP_LOGS=1 keeps it for a post-mortem.
_RUN_DIR = tempfile.mkdtemp(prefix="shardline-it-")
if os.environ.get("SHARDLINE_KEEP_LOGS") != "1":
    atexit.register(shutil.rmtree, _RUN_DIR, True)


def base_env(port=0, **extra):
    """A clean environment for a shardline process: no inherited SHARD_* settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SHARD_", "ENABLE_SHARD", "DISCORD_", "BOT_OWNER"))}
    env.update({
        "ENABLE_SHARD_MANAGER": "true",
        "SHARD_IPC_SECRET": SECRET,
        "SHARD_IPC_HOST": "127.0.0.1",
        "SHARD_IPC_PORT": str(port),
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Proc:
    """A shardline process whose stderr/stdout go to a log file the test can wait on."""

    def __init__(self, args, env, name="proc", cwd=None):
        self.dir = tempfile.mkdtemp(prefix=f"{name}-", dir=_RUN_DIR)
        self.log_path = os.path.join(self.dir, "log.txt")
        self.port_file = os.path.join(self.dir, "port")
        self.name = name
        args = [a.replace("{port_file}", self.port_file) for a in args]
        self._log = open(self.log_path, "wb")
        self.p = subprocess.Popen([BIN] + list(args), env=env, stdout=self._log,
                                  stderr=subprocess.STDOUT, cwd=cwd or self.dir)

    @property
    def pid(self):
        return self.p.pid

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def wait_for_log(self, pattern, timeout=15.0, count=1):
        """Wait until `pattern` (regex) has matched `count` times in the log; return the
        last match. Fails if the process exits first or the deadline passes."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            matches = list(rx.finditer(self.log()))
            if len(matches) >= count:
                return matches[count - 1]
            if self.p.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.p.returncode}) before "
                                     f"/{pattern}/; log:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no /{pattern}/ within {timeout}s; "
                                     f"log:\n{self.log()[-4000:]}")
            time.sleep(0.02)

    def wait_port(self, timeout=15.0):
        """Port the process bound (it writes --port-file once listening)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    return int(text)
            except FileNotFoundError:
                pass
            if self.p.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.p.returncode}); "
                                     f"log:\n{self.log()[-4000:]}")
            time.sleep(0.02)
        raise AssertionError(f"{self.name}: no port file within {timeout}s")

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stop(self, timeout=10.0):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._log.close()
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self._log.close()


def poll(fn, timeout=10.0, what="condition"):
    """Calls fn() until it returns something truthy; returns that. Fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.02)


def start_hub(name="hub", env=None, extra_args=()):
    """Start `shardline hub` on an ephemeral loopback port; return (proc, port)."""
    hub = Proc(["hub", "--port-file", "{port_file}", *extra_args], env or base_env(0), name)
    return hub, hub.wait_port()


def run_cli(args, env, timeout=20.0):
    """Run a one-shot shardline command (clusters, query, ...)."""
    return subprocess.run([BIN] + list(args), env=env, capture_output=True, text=True,
                          timeout=timeout)
