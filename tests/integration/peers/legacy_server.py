"""The seed's primary cluster (SHARD_IPC_MODE=server, "cluster-0") as a version-1 peer: it
hosts the IPC server, authenticates clients by the secret they send, relays messages by
target, acks heartbeats, announces cluster_join / cluster_leave, and answers and logs for its
own cluster as every v1 cluster does (legacy.py). What happened to its connections (`events`)
is its status, next to what it received and logged."""
import hmac
import socket
import threading
import time
from collections import deque

from .framing import Closed
from .inbox import DEFAULT_TIMEOUT, Inbox
from .legacy import AUTH_TIMEOUT, Endpoint, Link, LocalCluster, make_message, read_message
from .wait import Deadline, Timeout


class ServerLink(Link):
    def __init__(self, sock, owner, address):
        super().__init__(sock, owner)
        self.address = address
        self.auth = None             # the auth message as received
        self.shard_ids = []
        self.last_heartbeat = None


class LegacyServer(Endpoint):
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
