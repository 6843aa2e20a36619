"""unittest base classes: real shardline processes and peers, each cleaned up with the test."""
import os
import signal
import time
import unittest

from . import procs, status
from .v2 import Conn, connect, new_nonce


def require_binary():
    # A missing binary is a failure, never a silent pass.
    if not os.access(procs.BIN, os.X_OK):
        raise AssertionError(f"{procs.BIN} is not built (set SHARDLINE_BIN to override)")


class HubCase(unittest.TestCase):
    """Starts real `shardline hub` / `shardline run` processes (own ports, cleaned up with
    addCleanup) and v2 peers of them."""

    secret = procs.SECRET

    @classmethod
    def setUpClass(cls):
        require_binary()

    def env(self, port=0, **extra):
        return procs.base_env(port, **extra)

    def _cleanup_proc(self, proc):
        try:
            proc.signal(signal.SIGCONT)
            proc.stop(timeout=3)
        except Exception:
            proc.kill()

    def proc(self, args, env, name):
        p = procs.Proc(args, env, name)
        self.addCleanup(self._cleanup_proc, p)
        return p

    def start_hub(self, name="hub", extra_args=(), **env):
        """`shardline hub` on an ephemeral port: (proc, port) once it listens."""
        hub = self.proc(["hub", "--port-file", "{port_file}", *extra_args], self.env(0, **env), name)
        return hub, hub.wait_port()

    def start_cluster(self, name, port, shard_ids=(0,), shard_count=1, wait=True,
                      mode="client", **env):
        """`shardline run` as a client cluster of the hub on `port` (with `wait`: once the
        hub lists it linked), or hosting the hub itself (mode="server")."""
        e = dict(SHARD_IPC_MODE=mode, SHARD_CLUSTER_NAME=name, SHARD_COUNT=shard_count,
                 SHARD_IDS=",".join(str(i) for i in shard_ids))
        e.update(env)
        args = ["run"] + (["--port-file", "{port_file}"] if mode == "server" else [])
        proc = self.proc(args, self.env(port, **e), name)
        if wait and mode == "client":
            status.wait_linked(port, name, procs=[proc])
        return proc

    def start_server_cluster(self, name, shard_ids=(0,), shard_count=1, **env):
        """A `shardline run` that hosts the hub (server mode): (proc, port) once its own
        cluster is linked to its hub."""
        proc = self.start_cluster(name, 0, shard_ids, shard_count, mode="server", **env)
        port = proc.wait_port()
        status.wait_linked(port, name, procs=[proc])
        return proc, port

    def client(self, port, name, role="cluster", secret=None, **kw):
        c = connect(port, secret or self.secret, name, role=role, **kw)
        self.addCleanup(c.close)
        return c

    def raw(self, port, **kw):
        c = Conn(port, **kw)
        self.addCleanup(c.close)
        return c

    def assert_serving(self, port, hub=None, label="after the bad input"):
        """The hub still serves honest clients: a fresh pair authenticates, routes a frame
        between them, and gets a heartbeat_ack."""
        tag = new_nonce()[:8]
        a = self.client(port, f"honest-a-{tag}", timeout=3)
        b = self.client(port, f"honest-b-{tag}", timeout=3)
        sent = a.send("stats_request", target=b.name, id=f"probe-{tag}")
        got = b.wait_op("stats_request", timeout=3, id=f"probe-{tag}")
        self.assertEqual(got["nonce"], sent["nonce"], label)
        a.send("heartbeat", {"timestamp": time.time(), "guild_count": 0})
        ack = a.wait_op("heartbeat_ack", timeout=3)
        self.assertEqual(ack.get("target"), a.name, label)
        return a, b
