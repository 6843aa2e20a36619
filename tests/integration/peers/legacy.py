"""A clean-room peer for the Shardline IPC protocol, version 1: the protocol of the seed's
Python Shard Manager (`cogs/shard_manager.py`), written from docs/protocol.md and the
seed document, and checked against the seed's real behaviour (never its code). It shares the
frame layer (framing.py) and the waits (inbox.py) with the v2 client, and nothing of the v2
protocol.

It behaves as the seed's implementation does, because the tests prove Shardline interoperates
with exactly that:
- frames of at most 1 MB; every message is exactly {op, data, source, target, timestamp,
  nonce}, serialised with plain `json.dumps` (so a float('nan') latency goes out as NaN);
- auth is `auth {secret, cluster_name, shard_ids, shard_count, guild_count}` with the secret
  in clear text, answered by `auth_response {success, server_cluster, connected_clients}` or
  `{success: false, error: "Invalid secret"}` and a close;
- `shard_count`, in `auth` and in its stats, guild_count_response and eval answers, is the
  bot's total (discord.py's `bot.shard_count`), not the length of `shard_ids`;
- every frame read has a deadline: a link on which nothing arrived for SILENCE_TIMEOUT
  (120 s) is dropped, by the client and by the server alike;
- a cluster broadcasts its stats every STATS_INTERVAL (60 s; latency NaN before the bot's
  first gateway heartbeat), answers stats_request (stats_broadcast to the requester) and
  guild_count_request, and answers eval_request (the five version-1 presets, never code) only
  when it is the server. The seed's client never heartbeats: its heartbeat loop fails on its
  first iteration.

Beyond the seed, and only for the tests' observations: an endpoint logs broadcast_message,
cluster_join and cluster_leave (`log_lines`; the seed has no handler for them).

This module holds the wire format and what every v1 cluster does; the two roles are
legacy_client.py (a secondary cluster, SHARD_IPC_MODE=client) and legacy_server.py (the
primary cluster hosting the IPC server, SHARD_IPC_MODE=server). What an endpoint received
(`inbox`) and logged (`logs`) are its status: tests wait on those, never on time.
"""
import json
import math
import re
import time
import uuid

from .framing import MAX_FRAME, Closed, FrameStream
from .inbox import DEFAULT_TIMEOUT, Inbox
from .wait import Timeout

MAX_MESSAGE = MAX_FRAME          # "Message size limit: 1MB max per message"
AUTH_TIMEOUT = 10.0              # "Unauthenticated connections are closed after 10 seconds"
SILENCE_TIMEOUT = 120.0          # the seed's read timeout on every frame, client and server
STATS_INTERVAL = 60.0            # the seed's stats loop ("Wait 60 seconds for first stats sync")
V1_PRESETS = ("guild_count", "user_count", "shard_count", "latency", "uptime")
ENVELOPE_KEYS = frozenset(("op", "data", "source", "target", "timestamp", "nonce"))

__all__ = ["AuthRefused", "Closed", "ENVELOPE_KEYS", "SILENCE_TIMEOUT", "STATS_INTERVAL", "Timeout",
           "V1_PRESETS", "is_nan", "make_message"]


class AuthRefused(AssertionError):
    """auth_response {success: false}; `response` is its data."""

    def __init__(self, msg, response):
        super().__init__(msg)
        self.response = response


def make_message(op, data, source, target="all"):
    """The seed's envelope: exactly these six keys."""
    return {"op": op, "data": {} if data is None else data, "source": source,
            "target": target, "timestamp": time.time(), "nonce": uuid.uuid4().hex}


def read_message(stream, deadline=None):
    """One message. The seed's reader fails on anything but a JSON object with `op` and
    `data` (its message class indexes both), and such a failure ends the seed's link."""
    msg = stream.read(deadline)
    if not isinstance(msg, dict):
        raise ValueError("message is not a JSON object")
    if "op" not in msg or "data" not in msg:
        raise ValueError(f"message without op or data: {str(msg)[:200]}")
    return msg


def seed_message(msg):
    """A received message as the seed rebuilds it to pass it on: its six keys only, with the
    seed's defaults for a missing source, target, timestamp or nonce."""
    return {"op": msg["op"], "data": msg["data"], "source": msg.get("source", "unknown"),
            "target": msg.get("target", "all"), "timestamp": msg.get("timestamp", time.time()),
            "nonce": msg.get("nonce", "")}


def is_nan(v):
    return isinstance(v, float) and math.isnan(v)


class Link:
    """One connection of an endpoint: the stream, and the bodies it sent (tests look for the
    bare NaN token and the clear-text secret in them)."""

    def __init__(self, sock, owner, name=None):
        self.stream = FrameStream(sock, name or "v1")
        self.owner = owner
        self.name = name

    @property
    def sock(self):
        return self.stream.sock

    def send_message(self, msg):
        frame = self.stream.send(msg, compact=False, limit=MAX_MESSAGE)
        with self.owner.inbox.cv:
            self.owner.sent.append(frame[4:])
        return msg


class LocalCluster:
    """What the seed reports about its own bot. `shard_ids` are this process's shards;
    `shard_count` is the bot's total (`bot.shard_count`), which the seed reports wherever it
    says "shard_count" (auth, stats, guild_count_response, the shard_count preset).
    `latency` is discord.py's bot.latency: float('nan') until the gateway's first heartbeat."""

    def __init__(self, name, shard_ids=(), shard_count=1, guild_count=0, user_count=0,
                 latency=float("nan"), mode="client"):
        self.name = name
        self.shard_ids = list(shard_ids)
        self.shard_count = shard_count
        self.guild_count = guild_count
        self.user_count = user_count
        self.latency = latency
        self.mode = mode
        self.started = time.time()

    def uptime(self):
        return time.time() - self.started

    def stats(self):
        return {"cluster_name": self.name, "guild_count": self.guild_count,
                "user_count": self.user_count, "shard_count": self.shard_count,
                "shard_ids": list(self.shard_ids), "latency": self.latency,
                "uptime": self.uptime(), "mode": self.mode, "timestamp": time.time()}

    def eval(self, query):
        """Preset queries only; never code."""
        presets = {"guild_count": lambda: self.guild_count,
                   "user_count": lambda: self.user_count,
                   "shard_count": lambda: self.shard_count,
                   "latency": lambda: self.latency,
                   "uptime": self.uptime}
        fn = presets.get(query) if isinstance(query, str) else None
        return fn() if fn else "unknown_query"


class Endpoint:
    """Inbox, log and the seed's answers to requests (common to client and server).
    `answers_eval`: the seed registers its eval_request handler on the server only."""

    def __init__(self, cluster, answers_eval=False):
        self.cluster = cluster
        self.name = cluster.name
        self.answers_eval = answers_eval
        self.frozen = False        # a hung process: it answers nothing and sends nothing
        # (from_connection_name, message) received after auth
        self.inbox = Inbox(self.name, view=lambda item: item[1])
        self.arrivals = []         # time.monotonic() of each inbox item, in the same order
        self.log_lines = Inbox(self.name + " log")   # what the seed would log
        self.sent = []             # every message body this endpoint sent, as bytes
        self.remote_stats = {}     # cluster_name -> latest stats_broadcast data

    @property
    def logs(self):
        return list(self.log_lines.items)

    @property
    def closed(self):
        return self.inbox.ended

    def _record(self, conn_name, msg):
        with self.inbox.cv:
            self.arrivals.append(time.monotonic())
            self.inbox.put((conn_name, msg))

    def sent_ops(self):
        """The op of every message this endpoint sent, in order."""
        with self.inbox.cv:
            bodies = list(self.sent)
        return [json.loads(b).get("op") for b in bodies]

    def longest_silence(self, since=None):
        """The longest time without a received frame, from `since` (a time.monotonic(); by
        default the first arrival) to now."""
        with self.inbox.cv:
            times = [t for t in self.arrivals if since is None or t >= since]
        start = since if since is not None else (times[0] if times else time.monotonic())
        points = [start] + times + [time.monotonic()]
        return max(b - a for a, b in zip(points, points[1:]))

    def _log(self, line):
        self.log_lines.put(line)

    def mark(self):
        """Position in the inbox, for waits that must ignore what came before."""
        return self.inbox.mark()

    # ---- the seed's handling of a message addressed to this cluster
    def handle_local(self, msg, reply):
        """`reply(op, data, target)` sends back on the right link. A frozen endpoint (a hung
        process) answers nothing."""
        if self.frozen:
            return
        op = msg.get("op")
        data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
        source = msg.get("source") or "all"
        if op == "stats_request":
            reply("stats_broadcast", self.cluster.stats(), source)
        elif op == "guild_count_request":
            c = self.cluster
            reply("guild_count_response", {"guild_count": c.guild_count,
                                           "user_count": c.user_count,
                                           "shard_count": c.shard_count}, source)
        elif op == "eval_request" and self.answers_eval:
            query = data.get("query")
            reply("eval_response", {"query": query, "result": self.cluster.eval(query)}, source)
        elif op == "stats_broadcast":
            name = data.get("cluster_name") or source
            with self.inbox.cv:
                self.remote_stats[name] = data
        elif op == "broadcast_message":
            text = str(data.get("message", ""))[:500]
            self._log(f"broadcast from {source} by {data.get('author')} "
                      f"({data.get('author_id')}): {text}")
        elif op == "cluster_join":
            self._log(f"cluster joined: {data.get('cluster_name')}")
        elif op == "cluster_leave":
            self._log(f"cluster left: {data.get('cluster_name')}")

    # ---- waiting (bounded; nothing is consumed)
    def wait_for(self, pred, timeout=DEFAULT_TIMEOUT, what="matching message", after=0):
        """First inbox message (from position `after`) with pred(msg) true."""
        return self.inbox.find(pred, timeout, what, after)[1]

    def wait_op(self, op, timeout=DEFAULT_TIMEOUT, after=0, source=None, target=None,
                **data_match):
        """First message with this op (and source / target if given) whose data has the
        given key values."""
        def pred(m):
            d = m.get("data") if isinstance(m.get("data"), dict) else {}
            return (m.get("op") == op and (source is None or m.get("source") == source)
                    and (target is None or m.get("target") == target)
                    and all(d.get(k) == v for k, v in data_match.items()))
        return self.wait_for(pred, timeout, f"{op} from {source or 'anyone'} to "
                             f"{target or 'anyone'} {data_match or ''}", after)

    def wait_count(self, pred, count, timeout=DEFAULT_TIMEOUT, what="messages", after=0):
        """Wait until `count` inbox messages match; return them."""
        return [m for _, m in self.inbox.count(pred, count, timeout, what, after)]

    def none_within(self, pred, seconds, after=0):
        """Matching messages that arrive within `seconds` (a quiet period, used only to prove
        that something does NOT arrive; expected: [])."""
        return [m for _, m in self.inbox.quiet(pred, seconds, after)]

    def wait_log(self, pattern, timeout=DEFAULT_TIMEOUT):
        """The peer's own log is the seed's observable behaviour (it logs broadcasts, joins
        and leaves): the first line matching `pattern`."""
        rx = re.compile(pattern)
        return self.log_lines.find(lambda line: rx.search(line), timeout, f"log /{pattern}/")
