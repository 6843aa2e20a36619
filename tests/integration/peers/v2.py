"""A client of the Shardline IPC protocol, version 2, written from docs/protocol.md (not
from the C++): the v2 handshake with HMAC-SHA256 both ways, envelopes, and bounded waits for
frames. The hub's own tests use it as cluster, admin and attacker; status.py uses it for
`hub_status_request`.

A Conn reads its socket only while a test waits on it (no reader thread): a test can make it
a slow consumer by not waiting.
"""
import hashlib
import hmac
import os
import socket
import time
import uuid

from .framing import Closed, FrameStream, pad_to
from .inbox import DEFAULT_TIMEOUT, Inbox
from .wait import Timeout

__all__ = ["AuthError", "Closed", "Conn", "Timeout", "client_mac", "connect", "guild_on_shard",
           "hmac_hex", "new_nonce", "random_hex16", "server_mac"]


class AuthError(AssertionError):
    """Authentication failed: refused by the server, or the server's proof was wrong."""

    def __init__(self, msg, response=None):
        super().__init__(msg)
        self.response = response


def new_nonce():
    """Per-message nonce: uuid4 hex."""
    return uuid.uuid4().hex


def random_hex16():
    """16 random bytes as lowercase hex (client_nonce / instance)."""
    return os.urandom(16).hex()


def hmac_hex(key, msg):
    if isinstance(key, str):
        key = key.encode()
    if isinstance(msg, str):
        msg = msg.encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def client_mac(secret, cluster_name, client_nonce, server_nonce):
    return hmac_hex(secret, f"shardline-v2-client|{cluster_name}|{client_nonce}|{server_nonce}")


def server_mac(secret, cluster_name, client_nonce, server_nonce):
    return hmac_hex(secret, f"shardline-v2-server|{cluster_name}|{client_nonce}|{server_nonce}")


def guild_on_shard(shard, shard_count, high=0, low=0x2A):
    """A guild snowflake whose shard is `shard`: (id >> 22) % shard_count == shard. `high`
    adds multiples of shard_count to the timestamp part (2**41 // shard_count gives ids
    above 2**63)."""
    ts = high * shard_count + shard
    gid = (ts << 22) | (low & ((1 << 22) - 1))
    assert (gid >> 22) % shard_count == shard
    assert gid < 2 ** 64
    return gid


class Conn:
    """One TCP connection to a hub. Not thread-safe; use one per thread."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect((host, port))
        self.stream = FrameStream(sock, "conn")
        self.inbox = Inbox("conn", pull=lambda d: self.inbox.put(self.stream.read(d)))
        self.name = None
        self.role = None
        self.auth_response = None
        self.instance = None
        self.generation = None

    def _named(self, name):
        self.name = self.stream.name = self.inbox.name = name

    @property
    def sock(self):
        return self.stream.sock

    @property
    def local_port(self):
        return self.stream.local_port

    @property
    def closed(self):
        return self.stream.closed

    @property
    def seen(self):
        """Every frame consumed so far: returned by a wait, or skipped by one."""
        return self.inbox.seen

    def close(self):
        self.stream.close()

    # ---- sending
    def send_raw(self, data):
        self.stream.send_raw(data)

    def send_frame(self, obj):
        self.stream.send(obj)

    def envelope(self, op, data=None, target=None, id=None, reply_to=None, nonce=True,
                 timestamp=True, source=None, **extra):
        """Build an envelope. nonce/timestamp: True = fresh value, None/False = omit,
        anything else = that value."""
        f = {"op": op, "data": {} if data is None else data}
        if target is not None:
            f["target"] = target
        if source is not None:
            f["source"] = source
        if id is not None:
            f["id"] = id
        if reply_to is not None:
            f["reply_to"] = reply_to
        if nonce is True:
            f["nonce"] = new_nonce()
        elif nonce not in (None, False):
            f["nonce"] = nonce
        if timestamp is True:
            f["timestamp"] = time.time()
        elif timestamp not in (None, False):
            f["timestamp"] = timestamp
        f.update(extra)
        return f

    def send(self, op, data=None, **kw):
        """Send one envelope; returns the dict sent."""
        f = self.envelope(op, data, **kw)
        self.send_frame(f)
        return f

    # ---- receiving (consuming: a frame a wait skipped is gone, and kept in `seen`)
    def recv(self, timeout=DEFAULT_TIMEOUT):
        """Next frame (dict). Raises Timeout or Closed."""
        return self.inbox.take(timeout=timeout, what="frame")

    def wait_for(self, pred, timeout=DEFAULT_TIMEOUT, what="matching frame"):
        """First frame for which pred(frame) is true; other frames are skipped."""
        return self.inbox.take(pred, timeout, what)

    def wait_op(self, op, timeout=DEFAULT_TIMEOUT, **match):
        """First frame with this op whose top-level keys equal `match` (e.g. reply_to=)."""
        def pred(f):
            return f.get("op") == op and all(f.get(k) == v for k, v in match.items())
        return self.wait_for(pred, timeout, what=f"{op} {match or ''}".strip())

    def wait_error(self, code, timeout=DEFAULT_TIMEOUT, **match):
        def pred(f):
            return (f.get("op") == "error" and isinstance(f.get("data"), dict)
                    and f["data"].get("code") == code
                    and all(f.get(k) == v for k, v in match.items()))
        return self.wait_for(pred, timeout, what=f"error {code} {match or ''}".strip())

    def frames_within(self, seconds):
        """Every frame that arrives within `seconds` (a quiet period, used only to prove that
        something does NOT arrive). Stops early on close."""
        return self.inbox.take_within(seconds)

    def none_within(self, pred, seconds):
        """Frames matching pred that arrived within `seconds` (expected: empty list)."""
        return [f for f in self.frames_within(seconds) if pred(f)]

    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """Wait until the peer closes; return the frames received before the close.
        Raises Timeout if the connection is still open at the deadline."""
        return self.inbox.drain_until_closed(timeout)

    def raw_bytes_until_closed(self, timeout=DEFAULT_TIMEOUT):
        """For sockets that must receive nothing: every raw byte until EOF/reset.
        Raises Timeout if still open at the deadline."""
        return self.stream.raw_until_closed(timeout)

    # ---- auth
    def auth(self, secret, cluster_name, role="cluster", shard_ids=(), shard_count=1,
             guild_count=0, instance=None, generation=0, timeout=DEFAULT_TIMEOUT,
             extra=None, verify_server=True, auth_size=None):
        """Run the v2 handshake. Returns the auth_response data on success; raises
        AuthError on refusal (response attached) or a wrong server_mac."""
        self._named(cluster_name)
        self.role = role
        self.instance = instance or random_hex16()
        self.generation = generation
        cn = random_hex16()
        data = {"proto": 2, "cluster_name": cluster_name, "role": role,
                "shard_ids": list(shard_ids), "shard_count": shard_count,
                "guild_count": guild_count, "instance": self.instance,
                "generation": generation, "client_nonce": cn}
        if extra:
            data.update(extra)
        first = {"op": "auth", "data": data, "timestamp": time.time(), "nonce": new_nonce()}
        if auth_size is not None:
            first = pad_to(first, auth_size)
        self.send_frame(first)
        f = self.recv(timeout)
        if f.get("op") == "auth_response":
            self.auth_response = f.get("data")
            raise AuthError(f"refused before challenge: {f}", f.get("data"))
        if f.get("op") != "auth_challenge":
            raise AuthError(f"expected auth_challenge, got {f}")
        ch = f.get("data") or {}
        sn = ch.get("server_nonce")
        if ch.get("proto") != 2 or not isinstance(sn, str):
            raise AuthError(f"bad auth_challenge {f}")
        self.send_frame({"op": "auth_proof",
                         "data": {"mac": client_mac(secret, cluster_name, cn, sn)},
                         "timestamp": time.time(), "nonce": new_nonce()})
        f = self.recv(timeout)
        if f.get("op") != "auth_response":
            raise AuthError(f"expected auth_response, got {f}")
        resp = f.get("data") or {}
        self.auth_response = resp
        if resp.get("success") is not True:
            raise AuthError(f"auth refused: {resp}", resp)
        if verify_server:
            want = server_mac(secret, cluster_name, cn, sn)
            got = resp.get("server_mac")
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), want.encode()):
                self.close()
                raise AuthError(f"server_mac wrong: got {got!r}, want {want!r}", resp)
        self.client_nonce, self.server_nonce = cn, sn
        return resp


def connect(port, secret, name, role="cluster", timeout=DEFAULT_TIMEOUT, **kw):
    """Connect and authenticate (v2). Returns an authenticated Conn."""
    c = Conn(port, timeout=timeout)
    try:
        c.auth(secret, name, role=role, timeout=timeout, **kw)
    except BaseException:
        c.close()
        raise
    return c
