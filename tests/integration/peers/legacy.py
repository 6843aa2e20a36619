"""A clean-room peer for the Shardline IPC protocol, version 1: the protocol of the seed's
Python Shard Manager (`cogs/shard_manager.py`), written from shared/protocol/ipc.md and the
seed document only. It shares the frame layer (framing.py) and the waits (inbox.py) with the
v2 client, and nothing of the v2 protocol.

It behaves as the seed's implementation does, because the tests prove Shardline interoperates
with exactly that:
- frames of at most 1 MB; every message is exactly {op, data, source, target, timestamp,
  nonce}, serialised with plain `json.dumps` (so a float('nan') latency goes out as NaN);
- auth is `auth {secret, cluster_name, shard_ids, shard_count, guild_count}` with the secret
  in clear text, answered by `auth_response {success, server_cluster, connected_clients}` or
  `{success: false, error: "Invalid secret"}` and a close;
- a cluster heartbeats, broadcasts its stats (latency NaN before the bot's first gateway
  heartbeat), answers stats_request / guild_count_request / eval_request (the five
  version-1 presets, never code), logs broadcast_message, cluster_join and cluster_leave.

Two roles:
- LegacyClient: a secondary cluster (SHARD_IPC_MODE=client) that connects to a hub;
- LegacyServer: the primary cluster (SHARD_IPC_MODE=server, "cluster-0") that hosts the
  IPC server: it authenticates clients, relays messages by target, acks heartbeats,
  announces cluster_join / cluster_leave, and answers for its own cluster.

What an endpoint received (`inbox`), logged (`logs`) and, for the server, what happened to
its connections (`events`) are its status: tests wait on those, never on time.
"""
import hmac
import math
import re
import socket
import threading
import time
import uuid
from collections import deque

from .framing import MAX_FRAME, Closed, FrameStream
from .inbox import DEFAULT_TIMEOUT, Inbox
from .wait import Deadline, Timeout

MAX_MESSAGE = MAX_FRAME          # "Message size limit: 1MB max per message"
AUTH_TIMEOUT = 10.0              # "Unauthenticated connections are closed after 10 seconds"
V1_PRESETS = ("guild_count", "user_count", "shard_count", "latency", "uptime")
ENVELOPE_KEYS = frozenset(("op", "data", "source", "target", "timestamp", "nonce"))

__all__ = ["AuthRefused", "Closed", "ENVELOPE_KEYS", "LegacyClient", "LegacyServer", "Timeout",
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
    """One message; the seed's reader refuses anything but a JSON object."""
    msg = stream.read(deadline)
    if not isinstance(msg, dict):
        raise ValueError("message is not a JSON object")
    return msg


def is_nan(v):
    return isinstance(v, float) and math.isnan(v)


class _Link:
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
    """What the seed reports about its own bot. `latency` is discord.py's bot.latency:
    float('nan') until the gateway's first heartbeat."""

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


class _Endpoint:
    """Inbox, log and the seed's answers to requests (common to client and server)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.name = cluster.name
        # (from_connection_name, message) received after auth
        self.inbox = Inbox(self.name, view=lambda item: item[1])
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
        self.inbox.put((conn_name, msg))

    def _log(self, line):
        self.log_lines.put(line)

    def mark(self):
        """Position in the inbox, for waits that must ignore what came before."""
        return self.inbox.mark()

    # ---- the seed's handling of a message addressed to this cluster
    def handle_local(self, msg, reply):
        """`reply(op, data, target)` sends back on the right link."""
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
        elif op == "eval_request":
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


# --------------------------------------------------------------------------- client

class LegacyClient(_Endpoint):
    """A version-1 client cluster. connect() authenticates; then a reader thread answers
    requests as the seed does, and (if the intervals are set) heartbeat and stats threads
    run. Tests may also drive heartbeat() / broadcast_stats() / send() by hand."""

    def __init__(self, port, secret, name, shard_ids=(), shard_count=1, guild_count=0,
                 user_count=0, latency=float("nan"), host="127.0.0.1",
                 heartbeat_interval=None, stats_interval=None, auto_answer=True):
        super().__init__(LocalCluster(name, shard_ids, shard_count, guild_count, user_count,
                                      latency, mode="client"))
        self.host, self.port, self.secret = host, port, secret
        self.heartbeat_interval = heartbeat_interval   # the seed: 30 s
        self.stats_interval = stats_interval           # the seed: 60 s
        self.auto_answer = auto_answer
        self.conn = None
        self.auth_response = None
        self.auth_envelope = None
        self.server_cluster = None
        self._stop = threading.Event()
        self._threads = []

    @property
    def local_port(self):
        return self.conn.stream.local_port

    def connect(self, timeout=DEFAULT_TIMEOUT):
        """Connect and authenticate. Returns the auth_response data; raises AuthRefused
        (the socket is left open so the caller can watch the server close it)."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.conn = _Link(sock, self, name=self.name)
        c = self.cluster
        self.conn.send_message(make_message("auth", {
            "secret": self.secret, "cluster_name": c.name, "shard_ids": list(c.shard_ids),
            "shard_count": c.shard_count, "guild_count": c.guild_count}, c.name))
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
                msg = read_message(self.conn.stream)      # blocks until a message or the close
                self._record(self.server_cluster, msg)
                if self.auto_answer:
                    self.handle_local(msg, self._reply)
            self.inbox.end(Closed(f"{self.name}: closed by the test"))
        except (Closed, ValueError, OSError) as e:
            self.inbox.end(e if isinstance(e, Closed) else Closed(f"{self.name}: {e}"))

    def _every(self, interval, fn):
        while not self._stop.wait(interval):
            try:
                fn()
            except OSError:
                return

    def _reply(self, op, data, target):
        try:
            self.send(op, data, target)
        except OSError:
            pass

    # ---- sending
    def send(self, op, data=None, target="all"):
        return self.conn.send_message(make_message(op, data, self.name, target))

    def send_message(self, msg):
        """A hand-built message (tests of the hub's tolerance)."""
        return self.conn.send_message(msg)

    def heartbeat(self):
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


# --------------------------------------------------------------------------- server

class _ServerLink(_Link):
    def __init__(self, sock, owner, address):
        super().__init__(sock, owner)
        self.address = address
        self.auth = None             # the auth message as received
        self.shard_ids = []
        self.last_heartbeat = None


class LegacyServer(_Endpoint):
    """The seed's primary cluster hosting the IPC server (SHARD_IPC_MODE=server).

    Records, for the tests: `connections` (every accepted connection, with its raw bytes
    and auth message), `events` ("auth_ok"/"auth_failed"/"auth_timeout"/"leave" tuples) and
    the inbox of every message received from authenticated clients."""

    def __init__(self, secret, name="cluster-0", shard_ids=(0,), shard_count=1, guild_count=0,
                 user_count=0, latency=float("nan"), host="127.0.0.1", port=0,
                 auth_timeout=AUTH_TIMEOUT):
        super().__init__(LocalCluster(name, shard_ids, shard_count, guild_count, user_count,
                                      latency, mode="server"))
        self.secret = secret
        self.auth_timeout = auth_timeout
        self.clients = {}            # cluster_name -> _ServerLink (authenticated)
        self.connections = []        # every accepted connection
        self.event_log = Inbox(name + " events")
        self._nonces = deque(maxlen=10_000)
        self._nonce_set = set()
        self._stop = threading.Event()
        self._threads = []
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((host, port))
        self.srv.listen(16)
        self.srv.settimeout(0.1)     # the accept loop looks at the stop flag this often
        self.host = host
        self.port = self.srv.getsockname()[1]

    @property
    def events(self):
        return list(self.event_log.items)

    def start(self):
        self._spawn(self._accept_loop)
        return self.port

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _event(self, *ev):
        self.event_log.put(ev)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, addr = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn = _ServerLink(sock, self, f"{addr[0]}:{addr[1]}")
            with self.inbox.cv:
                self.connections.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn):
        try:
            try:
                first = read_message(conn.stream, Deadline(self.auth_timeout, "auth"))
            except Timeout:
                self._event("auth_timeout", conn.address)
                return
            conn.auth = first
            if not self._authenticate(conn, first):
                return
            while not self._stop.is_set():
                self._on_message(conn, read_message(conn.stream))
        except (Closed, ValueError, OSError):
            pass
        finally:
            self._drop(conn)

    def _authenticate(self, conn, msg):
        data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
        secret = data.get("secret")
        ok = (msg.get("op") == "auth" and isinstance(secret, str)
              and hmac.compare_digest(secret.encode(), self.secret.encode()))
        if not ok:
            conn.send_message(make_message("auth_response",
                                           {"success": False, "error": "Invalid secret"},
                                           self.name, data.get("cluster_name") or "all"))
            self._event("auth_failed", conn.address, msg)
            return False
        name = str(data.get("cluster_name") or conn.address)
        conn.name = name
        conn.shard_ids = list(data.get("shard_ids") or [])
        conn.last_heartbeat = time.time()
        with self.inbox.cv:
            old = self.clients.get(name)
            self.clients[name] = conn
            names = list(self.clients)
        if old is not None and old is not conn:
            old.stream.shutdown()
        conn.send_message(make_message("auth_response", {
            "success": True, "server_cluster": self.name, "connected_clients": names},
            self.name, name))
        self._event("auth_ok", name, msg)
        self._log(f"cluster joined: {name}")
        self._to_clients(make_message("cluster_join", {"cluster_name": name,
                                                       "shard_ids": conn.shard_ids},
                                      self.name, "all"), except_conn=conn)
        return True

    def _drop(self, conn):
        conn.stream.shutdown()
        with self.inbox.cv:
            registered = conn.name is not None and self.clients.get(conn.name) is conn
            if registered:
                del self.clients[conn.name]
        if registered:
            self._event("leave", conn.name)
            self._log(f"cluster left: {conn.name}")
            self._to_clients(make_message("cluster_leave", {"cluster_name": conn.name},
                                          self.name, "all"))

    def _seen(self, nonce):
        if not isinstance(nonce, str):
            return False
        with self.inbox.cv:
            if nonce in self._nonce_set:
                return True
            if len(self._nonces) == self._nonces.maxlen:
                self._nonce_set.discard(self._nonces[0])
            self._nonces.append(nonce)
            self._nonce_set.add(nonce)
        return False

    def _on_message(self, conn, msg):
        if self._seen(msg.get("nonce")):
            return                                   # replay: dropped
        self._record(conn.name, msg)
        op = msg.get("op")
        if op == "heartbeat":
            conn.last_heartbeat = time.time()
            self._safe_send(conn, make_message("heartbeat_ack", {"timestamp": time.time()},
                                               self.name, conn.name))
            return
        target = msg.get("target") or "all"
        if target == "all":
            self._to_clients(msg, except_conn=conn)
            self.handle_local(msg, lambda o, d, t: self.send(o, d, t))
        elif target == self.name:
            self.handle_local(msg, lambda o, d, t: self.send(o, d, t))
        else:
            with self.inbox.cv:
                dest = self.clients.get(target)
            if dest is not None:
                self._safe_send(dest, msg)
            # else: the seed has no error frame; unknown targets are dropped.

    def _safe_send(self, conn, msg):
        try:
            conn.send_message(msg)
        except OSError:
            pass

    def _to_clients(self, msg, except_conn=None):
        with self.inbox.cv:
            dests = [c for c in self.clients.values() if c is not except_conn]
        for c in dests:
            self._safe_send(c, msg)

    # ---- the server's own cluster sending
    def send(self, op, data=None, target="all"):
        msg = make_message(op, data, self.name, target)
        if target == "all":
            self._to_clients(msg)
        else:
            with self.inbox.cv:
                dest = self.clients.get(target)
            if dest is None:
                raise AssertionError(f"{target} is not connected to {self.name}")
            dest.send_message(msg)
        return msg

    def broadcast(self, message, author="Owner#0001", author_id=123456789012345678):
        return self.send("broadcast_message", {"message": message[:500], "author": author,
                                               "author_id": author_id})

    # ---- waiting
    def wait_event(self, kind, timeout=DEFAULT_TIMEOUT, count=1):
        """The `count`-th event of this kind."""
        return self.event_log.count(lambda e: e[0] == kind, count, timeout,
                                    f"{kind} events")[count - 1]

    def raw_received(self):
        """Every byte received on every connection so far."""
        with self.inbox.cv:
            return b"".join(bytes(c.stream.received) for c in self.connections)

    def stop(self):
        self._stop.set()
        try:
            self.srv.close()
        except OSError:
            pass
        with self.inbox.cv:
            conns = list(self.connections)
        for c in conns:
            c.stream.shutdown()
        for t in self._threads:
            t.join(2)
