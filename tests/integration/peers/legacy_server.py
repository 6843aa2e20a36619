"""The seed's primary cluster (SHARD_IPC_MODE=server, "cluster-0") as a version-1 peer: it
hosts the IPC server, authenticates clients by the secret they send, relays messages by
target, acks heartbeats, announces cluster_join / cluster_leave, and answers and logs for its
own cluster as every v1 cluster does (legacy.py). What happened to its connections (`events`)
is its status, next to what it received and logged.

As the seed's server really runs:
- every message from a client reaches the server's own handlers, whatever its target (after
  being relayed to "all" or to the named client): a stats_request, guild_count_request or
  eval_request addressed to another client is answered by the server too, with its own
  values. The relayed frame carries the authenticated name as its `source`;
- it answers eval_request (its own cluster's v1 presets), as only the server does;
- it broadcasts its own stats to every client every STATS_INTERVAL (60 s);
- it drops a client on which nothing arrived for `silence_timeout` (120 s);
- a newcomer with a connected name is let in, never refused: it takes the name over. The old
  link stays open (unregistered: no longer a destination, though what it sends is still
  handled) and, when it ends, the name is dropped with it and cluster_leave announced, even
  though the newcomer still holds it. `close_replaced=True` closes the old link at once
  instead (not the seed).
- its auth_response goes to "all", as every message it builds without a target."""
import hmac
import socket
import threading
import time
from collections import deque

from .framing import Closed
from .inbox import DEFAULT_TIMEOUT, Inbox
from .legacy import (AUTH_TIMEOUT, SILENCE_TIMEOUT, STATS_INTERVAL, Endpoint, Link, LocalCluster,
                     make_message, read_message, seed_message)
from .wait import Deadline, Timeout


class ServerLink(Link):
    def __init__(self, sock, owner, address):
        super().__init__(sock, owner)
        self.address = address
        self.auth = None             # the auth message as received
        self.shard_ids = []
        self.last_heartbeat = None
        self.auth_ok = False
        self.replaced = False


class LegacyServer(Endpoint):
    """The seed's primary cluster hosting the IPC server (SHARD_IPC_MODE=server).

    Records, for the tests: `connections` (every accepted connection, with its raw bytes
    and auth message), `events` ("auth_ok"/"auth_failed"/"auth_timeout"/"silent"/"leave"
    tuples) and the inbox of every message received from authenticated clients.

    `shard_count` is the bot's total, as the seed reports it; `shard_ids` this cluster's."""

    def __init__(self, secret, name="cluster-0", shard_ids=(0,), shard_count=1, guild_count=0,
                 user_count=0, latency=float("nan"), host="127.0.0.1", port=0,
                 auth_timeout=AUTH_TIMEOUT, silence_timeout=SILENCE_TIMEOUT,
                 stats_interval=STATS_INTERVAL, close_replaced=False):
        super().__init__(LocalCluster(name, shard_ids, shard_count, guild_count, user_count,
                                      latency, mode="server"), answers_eval=True)
        self.secret = secret
        self.auth_timeout = auth_timeout
        self.silence_timeout = silence_timeout
        self.stats_interval = stats_interval
        self.close_replaced = close_replaced
        self.clients = {}            # cluster_name -> ServerLink (authenticated)
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
        if self.stats_interval:
            self._spawn(self._stats_loop)
        return self.port

    def _stats_loop(self):
        """The seed's sync_stats: its own stats to every client, every interval."""
        while not self._stop.wait(self.stats_interval):
            if not self.frozen:
                self._to_clients(make_message("stats_broadcast", self.cluster.stats(),
                                              self.name, "all"))

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
            conn = ServerLink(sock, self, f"{addr[0]}:{addr[1]}")
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
                try:
                    msg = read_message(conn.stream, Deadline(self.silence_timeout, "a frame"))
                except Timeout:
                    self._event("silent", conn.name)     # the seed's read timeout
                    return
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
                                           self.name, "all"))
            self._event("auth_failed", conn.address, msg)
            return False
        name = str(data.get("cluster_name") or conn.address)
        conn.name = name
        conn.auth_ok = True
        conn.shard_ids = list(data.get("shard_ids") or [])
        conn.last_heartbeat = time.time()
        with self.inbox.cv:
            old = self.clients.get(name)
            self.clients[name] = conn
            names = list(self.clients)
        if old is not None and old is not conn:
            self._event("replaced", name, old.address)
            if self.close_replaced:
                old.replaced = True
                old.stream.shutdown()
        conn.send_message(make_message("auth_response", {
            "success": True, "server_cluster": self.name, "connected_clients": names},
            self.name, "all"))
        self._event("auth_ok", name, msg)
        self._log(f"cluster joined: {name}")
        self._to_clients(make_message("cluster_join", {"cluster_name": name,
                                                       "shard_ids": conn.shard_ids},
                                      self.name, "all"), except_name=name)
        return True

    def _drop(self, conn):
        conn.stream.shutdown()
        with self.inbox.cv:
            if self.close_replaced:
                registered = conn.name is not None and self.clients.get(conn.name) is conn
            else:
                # The seed forgets the name when any link that authenticated with it ends.
                registered = conn.auth_ok and conn.name in self.clients
            if registered:
                del self.clients[conn.name]
        if registered:
            self._event("leave", conn.name)
            self._log(f"cluster left: {conn.name}")
            self._to_clients(make_message("cluster_leave", {"cluster_name": conn.name},
                                          self.name, "all"))

    def _seen(self, nonce):
        """The seed's replay check: one window of 10,000 nonces over all its clients (a
        missing nonce counts as "", so only the first message without one gets through)."""
        try:
            hash(nonce)
        except TypeError:
            return False
        with self.inbox.cv:
            if nonce in self._nonce_set:
                return True
            if len(self._nonces) == self._nonces.maxlen:
                self._nonce_set.discard(self._nonces[0])
            self._nonces.append(nonce)
            self._nonce_set.add(nonce)
        return False

    def _on_message(self, conn, received):
        if self.frozen:
            return
        # The seed rebuilds the message from its six keys and overwrites its source with
        # the authenticated name; that is what it relays and handles.
        msg = dict(seed_message(received), source=conn.name)
        if self._seen(msg["nonce"]):
            return                                   # replay: dropped
        self._record(conn.name, received)            # as it was received
        op = msg["op"]
        if op == "heartbeat":
            conn.last_heartbeat = time.time()
            self._safe_send(conn, make_message("heartbeat_ack", {"timestamp": time.time()},
                                               self.name, conn.name))
            return
        target = msg["target"]
        if target == "all":
            self._to_clients(msg, except_name=conn.name)
        elif target != self.name:
            with self.inbox.cv:
                dest = self.clients.get(target) if isinstance(target, str) else None
            if dest is not None:
                self._safe_send(dest, msg)
            # else: the seed has no error frame; unknown targets are dropped.
        # Whatever the target, the server's own handlers run too (the seed's quirk).
        self.handle_local(msg, self._answer)

    def _answer(self, op, data, target):
        try:
            self.send(op, data, target)
        except (AssertionError, OSError):
            pass                                     # the requester is gone: the seed drops it

    def _safe_send(self, conn, msg):
        try:
            conn.send_message(msg)
        except OSError:
            pass

    def _to_clients(self, msg, except_name=None):
        """To every registered client but the one of this name (the seed excludes by name)."""
        with self.inbox.cv:
            dests = [c for n, c in self.clients.items() if n != except_name]
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
