"""The seed's secondary cluster (SHARD_IPC_MODE=client) as a version-1 peer of a hub: it
authenticates with the secret in clear text, then answers and logs as every v1 cluster does
(legacy.py).

By default it is the seed's client as it really runs:
- it never sends a heartbeat (the seed's heartbeat loop fails on its first iteration);
- it broadcasts its stats every STATS_INTERVAL (60 s), to "all";
- it answers stats_request and guild_count_request, and ignores eval_request;
- it drops the link when nothing arrived on it for `silence_timeout` (120 s), as the seed's
  read timeout does. It does not reconnect by itself (the seed does, after 5 s and more):
  a test that wants a new link makes a new client, so every link is one the test counted.

Options that are not the seed, for tests that need them: `heartbeat_interval` (a heartbeat
loop that works, as in the seed's first version, before 5dce57e: every 30 s), `answers_eval=True`
(a client that answers the v1 presets, as the seed's server does), `stats_interval=None` (no
stats loop). `freeze()` makes it a hung process: it goes on reading (what arrives is recorded,
so a test sees the hub probe it) but answers and sends nothing, and no longer times out.

`auth_before_ready=True` is the seed's real timing, off by default (the hub's tests rely on
the auth's shard list): the seed's cog connects from setup_hook, before discord.py has
started any shard, so its auth says shard_ids [0] and guild_count 0 whatever SHARD_IDS says
(shard_count is SHARD_COUNT all the same); only its stats carry the real shard_ids."""
import socket
import threading
import time

from .framing import Closed
from .inbox import DEFAULT_TIMEOUT
from .legacy import (SILENCE_TIMEOUT, STATS_INTERVAL, AuthRefused, Endpoint, Link, LocalCluster,
                     make_message, read_message)
from .wait import Deadline, Timeout


class LegacyClient(Endpoint):
    """A version-1 client cluster. connect() authenticates; then a reader thread answers
    requests as the seed does, and (if the intervals are set) stats and heartbeat threads run.
    Tests may also drive heartbeat() / broadcast_stats() / send() by hand.

    `shard_count` is the bot's total, as the seed reports it; `shard_ids` this cluster's."""

    def __init__(self, port, secret, name, shard_ids=(), shard_count=1, guild_count=0,
                 user_count=0, latency=float("nan"), host="127.0.0.1",
                 heartbeat_interval=None, stats_interval=STATS_INTERVAL, auto_answer=True,
                 answers_eval=False, silence_timeout=SILENCE_TIMEOUT, auth_before_ready=False):
        super().__init__(LocalCluster(name, shard_ids, shard_count, guild_count, user_count,
                                      latency, mode="client"), answers_eval=answers_eval)
        self.host, self.port, self.secret = host, port, secret
        self.heartbeat_interval = heartbeat_interval   # the seed: never (its loop dies at once)
        self.stats_interval = stats_interval           # the seed: 60 s
        self.silence_timeout = silence_timeout         # the seed: 120 s
        self.auto_answer = auto_answer
        self.auth_before_ready = auth_before_ready
        self.conn = None
        self.auth_response = None
        self.auth_envelope = None
        self.server_cluster = None
        self.silence_drops = 0     # links this client dropped because nothing arrived in time
        self._stop = threading.Event()
        self._threads = []

    @property
    def local_port(self):
        return self.conn.stream.local_port

    def connect(self, timeout=DEFAULT_TIMEOUT):
        """Connect and authenticate. Returns the auth_response data; raises AuthRefused
        (the socket is left open so the caller can watch the server close it)."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.conn = Link(sock, self, name=self.name)
        c = self.cluster
        ids, guilds = ([0], 0) if self.auth_before_ready else (list(c.shard_ids), c.guild_count)
        self.conn.send_message(make_message("auth", {
            "secret": self.secret, "cluster_name": c.name, "shard_ids": ids,
            "shard_count": c.shard_count, "guild_count": guilds}, c.name))
        msg = read_message(self.conn.stream, Deadline(timeout, "auth_response"))
        if msg.get("op") != "auth_response":
            raise AssertionError(f"expected auth_response, got {msg}")
        self.auth_envelope = msg
        self.auth_response = data = msg.get("data") or {}
        if data.get("success") is not True:
            # No reader thread: waits read the socket themselves until the server closes it.
            self.inbox.pull = lambda d: self._record(self.server_cluster,
                                                     read_message(self.conn.stream, d))
            raise AuthRefused(f"Auth failed: {data.get('error')}", data)
        self.server_cluster = data.get("server_cluster")
        self._start_thread(self._reader)
        if self.heartbeat_interval:
            self._start_thread(self._every, self.heartbeat_interval, self.heartbeat)
        if self.stats_interval:
            self._start_thread(self._every, self.stats_interval, self.broadcast_stats)
        return data

    def _start_thread(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _reader(self):
        try:
            while not self._stop.is_set():
                try:
                    # The seed's read timeout: one deadline per frame.
                    msg = read_message(self.conn.stream,
                                       Deadline(self.silence_timeout, "a frame from the server"))
                except Timeout:
                    if self.frozen or self._stop.is_set():
                        continue             # a hung process runs no timers
                    self.silence_drops += 1
                    self.conn.stream.shutdown()
                    raise Closed(f"{self.name}: nothing arrived for {self.silence_timeout:g} s: "
                                 "link dropped (the seed's read timeout)")
                self._record(self.server_cluster, msg)
                if self.auto_answer:
                    self.handle_local(msg, self._reply)
            self.inbox.end(Closed(f"{self.name}: closed by the test"))
        except (Closed, ValueError, OSError) as e:
            self.inbox.end(e if isinstance(e, Closed) else Closed(f"{self.name}: {e}"))

    def _every(self, interval, fn):
        while not self._stop.wait(interval):
            if self.frozen:
                continue
            try:
                fn()
            except OSError:
                return

    def _reply(self, op, data, target):
        try:
            self.send(op, data, target)
        except OSError:
            pass

    # ---- a hung process
    def freeze(self):
        """From now on: answer nothing, send nothing, drop nothing (what arrives is still
        recorded). A thread that stops answering, as a process stuck in a blocking call."""
        self.frozen = True

    def thaw(self):
        self.frozen = False

    # ---- sending
    def send(self, op, data=None, target="all"):
        return self.conn.send_message(make_message(op, data, self.name, target))

    def send_message(self, msg):
        """A hand-built message (tests of the hub's tolerance)."""
        return self.conn.send_message(msg)

    def heartbeat(self):
        """By hand (the seed's client never sends one)."""
        return self.send("heartbeat", {"timestamp": time.time(),
                                       "guild_count": self.cluster.guild_count})

    def broadcast_stats(self, target="all"):
        return self.send("stats_broadcast", self.cluster.stats(), target)

    def broadcast(self, message, author="Owner#0001", author_id=123456789012345678):
        """/broadcastmsg: author_id is a JSON number, as discord.py's user ids are ints."""
        return self.send("broadcast_message", {"message": message[:500], "author": author,
                                               "author_id": author_id})

    # ---- endings
    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """Until the server closes the connection; returns the messages that arrived before
        (after a refused auth: those after the auth_response)."""
        return [m for _, m in self.inbox.drain_until_closed(timeout)]

    def close(self):
        self._stop.set()
        if self.conn:
            self.conn.stream.shutdown()
        for t in self._threads:
            t.join(2)
