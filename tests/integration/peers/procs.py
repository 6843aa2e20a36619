"""Real shardline processes on loopback for the integration tests: start them with a clean
environment, keep each one's output in a log file, learn the port it bound from its port file,
stop them. Standard library only.

A test learns a process's state from a status API (status.py), not from its log. The log is
read only where a log line is itself the behaviour under test (`assert_log`), and to show the
tail of it when something fails.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

from .wait import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Absolute: processes run in folders of their own, where a relative path would not resolve.
BIN = os.path.abspath(os.environ.get("SHARDLINE_BIN", os.path.join(ROOT, "build", "bin", "shardline")))
SECRET = "integration-test-secret-0123456789"

# Every process of one test run keeps its logs under one folder, removed at exit (failures
# already print the log tails); SHARDLINE_KEEP_LOGS=1 keeps it for a post-mortem.
RUN_DIR = tempfile.mkdtemp(prefix="shardline-it-")
if os.environ.get("SHARDLINE_KEEP_LOGS") != "1":
    atexit.register(shutil.rmtree, RUN_DIR, True)


def scratch_dir(prefix):
    """A folder for one test's files (data dirs, certificates), removed with the run's logs."""
    return tempfile.mkdtemp(prefix=prefix, dir=RUN_DIR)


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


def free_port():
    """A loopback port with nothing listening on it (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A shardline process whose stderr/stdout go to a log file."""

    def __init__(self, args, env, name="proc", cwd=None):
        self.dir = scratch_dir(f"{name}-")
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

    def tail(self, n=4000):
        return f"{self.name} log:\n{self.log()[-n:]}"

    def exited(self):
        return self.p.poll() is not None

    def alive_or_fail(self, what):
        """For waits on this process's state: fails at once if it has exited."""
        if self.exited():
            raise AssertionError(f"{self.name} exited ({self.p.returncode}) before {what}; "
                                 f"{self.tail()}")

    def assert_log(self, pattern, timeout=15.0, count=1):
        """Checks that the process logs `pattern` (a regex) `count` times; returns the last
        match. Only for a line that is itself the behaviour under test, or for a state no
        status API reports (say which where it is called): to wait for a state, use a status
        API (status.py). Bounded, as the line may be written a moment after what it reports."""
        rx = re.compile(pattern)

        def check():
            matches = list(rx.finditer(self.log()))
            if len(matches) >= count:
                return matches[count - 1]
            self.alive_or_fail(f"logging /{pattern}/")
            return None
        return wait_until(check, timeout, f"/{pattern}/ (x{count}) in {self.name}'s log",
                          detail=self.tail)

    def wait_port(self, timeout=15.0):
        """The port the process listens on: it writes --port-file once listening."""
        def check():
            try:
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    return int(text)
            except FileNotFoundError:
                pass
            self.alive_or_fail("writing its port file")
            return None
        return wait_until(check, timeout, f"port file of {self.name}", detail=self.tail)

    def wait_exit(self, timeout=10.0):
        """The exit code, once the process has exited."""
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout}s; {self.tail()}")

    def stays_up(self, seconds):
        """True if the process is still running after `seconds` (a bounded wait for an exit
        that must not come)."""
        try:
            self.p.wait(seconds)
            return False
        except subprocess.TimeoutExpired:
            return True

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


def alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start_hub(name="hub", env=None, extra_args=()):
    """Start `shardline hub` on an ephemeral loopback port; return (proc, port). The port
    file is written once the hub listens: nothing else to wait for."""
    hub = Proc(["hub", "--port-file", "{port_file}", *extra_args], env or base_env(0), name)
    return hub, hub.wait_port()


def start_sim(flags, name="sim"):
    """Start `shardline sim` on an ephemeral port with `flags` ({"--guilds": 100, ...});
    return (proc, port)."""
    argv = ["sim", "--port", "0", "--port-file", "{port_file}"]
    for k, v in flags.items():
        argv += [k, str(v)]
    sim = Proc(argv, dict(os.environ), name)
    return sim, sim.wait_port()


def run_cli(args, env, timeout=20.0):
    """Run a one-shot shardline command (clusters, query, ...)."""
    return subprocess.run([BIN] + list(args), env=env, capture_output=True, text=True,
                          timeout=timeout)
