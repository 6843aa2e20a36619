"""A clean-room peer for the Shardline IPC protocol, version 1: the protocol of the seed's
Python Shard Manager (`cogs/shard_manager.py`), written from shared/protocol/ipc.md and the
seed document only. Standard library only; it shares no code with ipc_v2.py.

It behaves as the seed's implementation does:
- framing: uint32 big-endian length, then a UTF-8 JSON body; 1 MB cap per message;
- every message is exactly {op, data, source, target, timestamp, nonce}, serialised with
  plain `json.dumps` (so a float('nan') latency goes out as the bare token NaN);
- auth is `auth {secret, cluster_name, shard_ids, shard_count, guild_count}` with the
  secret in clear text, answered by `auth_response {success, server_cluster,
  connected_clients}` or `{success: false, error: "Invalid secret"}` and a close;
- a cluster heartbeats, broadcasts its stats (latency NaN before the bot's first gateway
  heartbeat), answers stats_request / guild_count_request / eval_request (the five
  version-1 presets, never code), logs broadcast_message, cluster_join and cluster_leave.

Two roles:
- LegacyClient: a secondary cluster (SHARD_IPC_MODE=client) that connects to a hub;
- LegacyServer: the primary cluster (SHARD_IPC_MODE=server, "cluster-0") that hosts the
  IPC server: it authenticates clients, relays messages by target, acks heartbeats,
  announces cluster_join / cluster_leave, and answers for its own cluster.

Every wait is bounded: it returns, or raises Timeout / Closed within the time given.

    python3 tests/integration/legacy_peer.py     # self-test: a client joins a server
"""
import hmac
import json
import math
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque

MAX_MESSAGE = 1_000_000          # "Message size limit: 1MB max per message"
AUTH_TIMEOUT = 10.0              # "Unauthenticated connections are closed after 10 seconds"
V1_PRESETS = ("guild_count", "user_count", "shard_count", "latency", "uptime")
ENVELOPE_KEYS = frozenset(("op", "data", "source", "target", "timestamp", "nonce"))
DEFAULT_TIMEOUT = 5.0


class Timeout(AssertionError):
    """Nothing (or nothing matching) arrived before the deadline."""


class Closed(AssertionError):
    """The other side closed the connection."""


class AuthRefused(AssertionError):
    """auth_response {success: false}; `response` is its data."""

    def __init__(self, msg, response):
        super().__init__(msg)
        self.response = response


# --------------------------------------------------------------------------- wire format

def make_message(op, data, source, target="all"):
    """The seed's envelope: exactly these six keys."""
    return {"op": op, "data": {} if data is None else data, "source": source,
            "target": target, "timestamp": time.time(), "nonce": uuid.uuid4().hex}


def encode(message):
    """Plain json.dumps, as the seed uses: NaN/Infinity go out as bare tokens."""
    body = json.dumps(message).encode("utf-8")
    if len(body) > MAX_MESSAGE:
        raise ValueError(f"message of {len(body)} bytes is over the 1 MB limit")
    return struct.pack(">I", len(body)) + body


def _recv_exactly(sock, n, deadline):
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("deadline passed")
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(n - got, 65536))
        except socket.timeout:
            raise Timeout("deadline passed")
        except OSError as e:  # reset, or closed under us by close()
            raise Closed(f"connection error: {e}")
        if not chunk:
            raise Closed("connection closed by peer")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(sock, deadline=None, raw_sink=None):
    """One message (dict), or raises Timeout / Closed / ValueError (bad length or JSON).
    json.loads reads NaN/Infinity as floats, as the seed's reader does."""
    header = _recv_exactly(sock, 4, deadline)
    (n,) = struct.unpack(">I", header)
    if n == 0 or n > MAX_MESSAGE:
        raise ValueError(f"message length {n} refused")
    body = _recv_exactly(sock, n, deadline)
    if raw_sink is not None:
        raw_sink.append(header + body)
    msg = json.loads(body.decode("utf-8"))
    if not isinstance(msg, dict):
        raise ValueError("message is not a JSON object")
    return msg


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# --------------------------------------------------------------------------- the local bot

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


# --------------------------------------------------------------------------- shared behaviour

class _Endpoint:
    """Inbox, log and the seed's answers to requests (common to client and server)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.name = cluster.name
        self._cv = threading.Condition()
        self.inbox = []        # (from_connection_name, message) received after auth
        self.logs = []         # what the seed would log (broadcasts, joins, leaves)
        self.sent = []         # every message body this endpoint sent, as bytes
        self.remote_stats = {}  # cluster_name -> latest stats_broadcast data
        self.closed = False

    # ---- bookkeeping
    def _record(self, conn_name, msg):
        with self._cv:
            self.inbox.append((conn_name, msg))
            self._cv.notify_all()

    def _log(self, line):
        with self._cv:
            self.logs.append(line)
            self._cv.notify_all()

    def mark(self):
        """Position in the inbox, for waits that must ignore what came before."""
        with self._cv:
            return len(self.inbox)

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
            with self._cv:
                self.remote_stats[name] = data
        elif op == "broadcast_message":
            text = str(data.get("message", ""))[:500]
            self._log(f"broadcast from {source} by {data.get('author')} "
                      f"({data.get('author_id')}): {text}")
        elif op == "cluster_join":
            self._log(f"cluster joined: {data.get('cluster_name')}")
        elif op == "cluster_leave":
            self._log(f"cluster left: {data.get('cluster_name')}")

    # ---- waiting (bounded)
    def wait_for(self, pred, timeout=DEFAULT_TIMEOUT, what="matching message", after=0):
        """First inbox message (from position `after`) with pred(msg) true."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for _, msg in self.inbox[after:]:
                    if pred(msg):
                        return msg
                if self._ended():
                    raise Closed(f"{self.name}: closed while waiting for {what}; "
                                 f"got {_short(self.inbox[after:])}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"{self.name}: no {what} within {timeout}s; "
                                  f"got {_short(self.inbox[after:])}")
                self._cv.wait(min(remaining, 0.2))

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
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                got = [m for _, m in self.inbox[after:] if pred(m)]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"{self.name}: {len(got)}/{count} {what} within {timeout}s")
                self._cv.wait(min(remaining, 0.2))

    def none_within(self, pred, seconds, after=0):
        """Matching messages that arrive within `seconds` (a bounded wait used only to
        prove that something does NOT arrive; expected: [])."""
        deadline = time.monotonic() + seconds
        with self._cv:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return [m for _, m in self.inbox[after:] if pred(m)]
                self._cv.wait(remaining)

    def wait_log(self, pattern, timeout=DEFAULT_TIMEOUT):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for line in self.logs:
                    if rx.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"{self.name}: no log /{pattern}/ within {timeout}s; "
                                  f"logs: {self.logs[-10:]}")
                self._cv.wait(min(remaining, 0.2))

    def _ended(self):
        return False


class _Conn:
    """One socket with a send lock; records what it sent."""

    def __init__(self, sock, owner, name=None):
        self.sock = sock
        self.owner = owner
        self.name = name
        self.lock = threading.Lock()
        self.raw = []           # raw frames received (header + body)
        self.alive = True

    def send_message(self, msg):
        frame = encode(msg)
        with self.lock:
            self.sock.sendall(frame)
        with self.owner._cv:
            self.owner.sent.append(frame[4:])
        return msg


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
        return self.conn.sock.getsockname()[1]

    def connect(self, timeout=DEFAULT_TIMEOUT):
        """Connect and authenticate. Returns the auth_response data; raises AuthRefused
        (the socket is left open so the caller can watch the server close it)."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.conn = _Conn(sock, self, name=self.name)
        c = self.cluster
        self.conn.send_message(make_message("auth", {
            "secret": self.secret, "cluster_name": c.name, "shard_ids": list(c.shard_ids),
            "shard_count": c.shard_count, "guild_count": c.guild_count}, c.name))
        msg = read_message(sock, time.monotonic() + timeout, self.conn.raw)
        if msg.get("op") != "auth_response":
            raise AssertionError(f"expected auth_response, got {msg}")
        self.auth_envelope = msg
        self.auth_response = data = msg.get("data") or {}
        if data.get("success") is not True:
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
        sock = self.conn.sock
        try:
            while not self._stop.is_set():
                msg = read_message(sock, None, self.conn.raw)
                self._record(self.server_cluster, msg)
                if self.auto_answer:
                    self.handle_local(msg, self._reply)
        except (Closed, Timeout, ValueError, OSError):
            pass
        finally:
            with self._cv:
                self.closed = True
                self._cv.notify_all()

    def _every(self, interval, fn):
        while not self._stop.wait(interval):
            try:
                fn()
            except OSError:
                return

    def _ended(self):
        return self.closed

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
        """After a refused auth (no reader thread): read until the server closes; return
        what arrived before. With a reader thread: wait for it to see the close."""
        if not self._threads:
            deadline = time.monotonic() + timeout
            got = []
            while True:
                try:
                    got.append(read_message(self.conn.sock, deadline, self.conn.raw))
                except Closed:
                    self.closed = True
                    return got
                except Timeout:
                    raise Timeout(f"{self.name}: still open after {timeout}s; got {_short(got)}")
        deadline = time.monotonic() + timeout
        with self._cv:
            while not self.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"{self.name}: still open after {timeout}s")
                self._cv.wait(remaining)
        return []

    def close(self):
        self._stop.set()
        if self.conn:
            _shutdown(self.conn.sock)
        for t in self._threads:
            t.join(2)


# --------------------------------------------------------------------------- server

class _ServerConn(_Conn):
    def __init__(self, sock, owner, address):
        super().__init__(sock, owner)
        self.address = address
        self.auth = None             # the auth message as received
        self.shard_ids = []
        self.last_heartbeat = None


class LegacyServer(_Endpoint):
    """The seed's primary cluster hosting the IPC server (SHARD_IPC_MODE=server).

    Records, for the tests: `connections` (every accepted connection, with its raw bytes
    and auth message), `events` ("auth_ok"/"auth_failed"/"leave" tuples) and the inbox of
    every message received from authenticated clients."""

    def __init__(self, secret, name="cluster-0", shard_ids=(0,), shard_count=1, guild_count=0,
                 user_count=0, latency=float("nan"), host="127.0.0.1", port=0,
                 auth_timeout=AUTH_TIMEOUT):
        super().__init__(LocalCluster(name, shard_ids, shard_count, guild_count, user_count,
                                      latency, mode="server"))
        self.secret = secret
        self.auth_timeout = auth_timeout
        self.clients = {}            # cluster_name -> _ServerConn (authenticated)
        self.connections = []        # every accepted connection
        self.events = []
        self._nonces = deque(maxlen=10_000)
        self._nonce_set = set()
        self._stop = threading.Event()
        self._threads = []
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((host, port))
        self.srv.listen(16)
        self.srv.settimeout(0.1)     # the accept loop polls the stop flag
        self.host = host
        self.port = self.srv.getsockname()[1]

    def start(self):
        self._spawn(self._accept_loop)
        return self.port

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _event(self, *ev):
        with self._cv:
            self.events.append(ev)
            self._cv.notify_all()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, addr = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn = _ServerConn(sock, self, f"{addr[0]}:{addr[1]}")
            with self._cv:
                self.connections.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn):
        sock = conn.sock
        try:
            try:
                first = read_message(sock, time.monotonic() + self.auth_timeout, conn.raw)
            except Timeout:
                self._event("auth_timeout", conn.address)
                return
            conn.auth = first
            if not self._authenticate(conn, first):
                return
            sock.settimeout(None)
            while not self._stop.is_set():
                msg = read_message(sock, None, conn.raw)
                self._on_message(conn, msg)
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
        with self._cv:
            old = self.clients.get(name)
            self.clients[name] = conn
            names = list(self.clients)
        if old is not None and old is not conn:
            _shutdown(old.sock)
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
        _shutdown(conn.sock)
        conn.alive = False
        with self._cv:
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
        with self._cv:
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
            with self._cv:
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
        with self._cv:
            dests = [c for c in self.clients.values() if c is not except_conn]
        for c in dests:
            self._safe_send(c, msg)

    # ---- the server's own cluster sending
    def send(self, op, data=None, target="all"):
        msg = make_message(op, data, self.name, target)
        if target == "all":
            self._to_clients(msg)
        else:
            with self._cv:
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
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                got = [e for e in self.events if e[0] == kind]
                if len(got) >= count:
                    return got[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"{self.name}: {len(got)}/{count} {kind} events within "
                                  f"{timeout}s; events: {[e[:2] for e in self.events]}")
                self._cv.wait(min(remaining, 0.2))

    def raw_received(self):
        """Every byte received on every connection so far."""
        with self._cv:
            return b"".join(b"".join(c.raw) for c in self.connections)

    def stop(self):
        self._stop.set()
        try:
            self.srv.close()
        except OSError:
            pass
        with self._cv:
            conns = list(self.connections)
        for c in conns:
            _shutdown(c.sock)
        for t in self._threads:
            t.join(2)


def _short(items, limit=6):
    msgs = [m for _, m in items] if items and isinstance(items[0], tuple) else list(items)
    s = [json.dumps(m)[:240] for m in msgs[-limit:]]
    more = f" (+{len(msgs) - limit} earlier)" if len(msgs) > limit else ""
    return "[" + ", ".join(s) + "]" + more


def is_nan(v):
    return isinstance(v, float) and math.isnan(v)


# --------------------------------------------------------------------------- self-test

def _selftest():
    # Envelope and the NaN token on the wire.
    m = make_message("stats_broadcast", {"latency": float("nan")}, "c1")
    assert set(m) == ENVELOPE_KEYS, m
    frame = encode(m)
    assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4
    assert b'"latency": NaN' in frame, frame
    back = json.loads(frame[4:])
    assert is_nan(back["data"]["latency"])

    secret = "self-test-secret-0123456789"
    srv = LegacyServer(secret, "cluster-0", [0], 4)
    srv.start()
    try:
        a = LegacyClient(srv.port, secret, "cluster-1", [1, 2], 4, guild_count=5)
        r = a.connect(3)
        assert r == {"success": True, "server_cluster": "cluster-0",
                     "connected_clients": ["cluster-1"]}, r
        b = LegacyClient(srv.port, secret, "cluster-2", [3], 4)
        assert b.connect(3)["connected_clients"] == ["cluster-1", "cluster-2"]
        assert a.wait_op("cluster_join", 3, cluster_name="cluster-2")["data"]["shard_ids"] == [3]
        a.heartbeat()
        assert a.wait_op("heartbeat_ack", 3)["target"] == "cluster-1"
        # client -> client through the server, and the answer back
        b.send("eval_request", {"query": "guild_count"}, "cluster-1")
        assert b.wait_op("eval_response", 3, source="cluster-1")["data"]["result"] == 5
        b.send("eval_request", {"query": "__import__('os')"}, "cluster-1")
        assert b.wait_op("eval_response", 3, query="__import__('os')")["data"]["result"] == \
            "unknown_query"
        # client -> server's own cluster
        a.send("stats_request", None, "cluster-0")
        st = a.wait_op("stats_broadcast", 3, source="cluster-0")["data"]
        assert st["mode"] == "server" and is_nan(st["latency"])
        a.broadcast("hello")
        srv.wait_log(r"broadcast from cluster-1 by Owner#0001 \(123456789012345678\): hello", 3)
        b.wait_log(r"broadcast from cluster-1 .*: hello", 3)
        b.close()
        a.wait_op("cluster_leave", 3, cluster_name="cluster-2")
        bad = LegacyClient(srv.port, "wrong-secret-0123456789", "cluster-9")
        try:
            bad.connect(3)
            raise AssertionError("wrong secret accepted")
        except AuthRefused as e:
            assert e.response == {"success": False, "error": "Invalid secret"}
        bad.wait_closed(3)
        bad.close()
        a.close()
    finally:
        srv.stop()
    print("legacy_peer self-test ok")


if __name__ == "__main__":
    _selftest()
