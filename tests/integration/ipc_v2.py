"""A small client for the Shardline IPC protocol, version 2, written from
shared/protocol/ipc.md (not from the C++). Standard library only.

Framing: uint32 big-endian length N, then N bytes of UTF-8 JSON holding one object.
Auth (v2): auth -> auth_challenge -> auth_proof -> auth_response, HMAC-SHA256 both ways.

Every wait in here is bounded: a call either returns, or raises Timeout / Closed /
AuthError within the time it was given.

    python3 tests/integration/ipc_v2.py     # self-test of framing and HMAC, no hub needed
"""
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import struct
import threading
import time
import unittest
import uuid

MAX_FRAME = 1_000_000
DEFAULT_TIMEOUT = 5.0


class Timeout(AssertionError):
    """Nothing (or nothing matching) arrived before the deadline."""


class Closed(AssertionError):
    """The peer closed the connection (EOF or reset)."""

    def __init__(self, msg, frames=()):
        super().__init__(msg)
        self.frames = list(frames)


class AuthError(AssertionError):
    """Authentication failed: refused by the server, or the server's proof was wrong."""

    def __init__(self, msg, response=None):
        super().__init__(msg)
        self.response = response


# --------------------------------------------------------------------------- primitives

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


def encode_frame(obj):
    """One frame: a dict is JSON-encoded; bytes/str are sent as the body verbatim."""
    if isinstance(obj, (bytes, bytearray)):
        body = bytes(obj)
    elif isinstance(obj, str):
        body = obj.encode()
    else:
        body = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(body)) + body


def pad_to(obj, size, key="x_pad"):
    """Copy of `obj` with a padding key added so that its compact JSON body is exactly
    `size` bytes (for boundary tests of the frame caps)."""
    out = dict(obj)
    out[key] = ""
    base = len(json.dumps(out, separators=(",", ":")).encode())
    if base > size:
        raise ValueError(f"frame is already {base} bytes > {size}")
    out[key] = "p" * (size - base)
    assert len(json.dumps(out, separators=(",", ":")).encode()) == size
    return out


def decode_frames(buf):
    """Split complete frames off `buf` (bytearray, consumed in place). Returns a list of
    decoded objects (json.loads of each body). Raises ValueError on a bad length."""
    out = []
    while len(buf) >= 4:
        (n,) = struct.unpack(">I", bytes(buf[:4]))
        if n == 0 or n > MAX_FRAME:
            raise ValueError(f"peer announced frame length {n}")
        if len(buf) < 4 + n:
            break
        body = bytes(buf[4:4 + n])
        del buf[:4 + n]
        out.append(json.loads(body.decode("utf-8")))
    return out


def guild_on_shard(shard, shard_count, high=0, low=0x2A):
    """A guild snowflake whose shard is `shard`: (id >> 22) % shard_count == shard.
    `high` adds multiples of shard_count to the timestamp part (use 2**41 // shard_count
    * shard_count ... to get ids above 2**63)."""
    ts = high * shard_count + shard
    gid = (ts << 22) | (low & ((1 << 22) - 1))
    assert (gid >> 22) % shard_count == shard
    assert gid < 2 ** 64
    return gid


# --------------------------------------------------------------------------- connection

class Conn:
    """One TCP connection to a hub. Not thread-safe; use one per thread."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.pending = []          # frames decoded but not yet returned
        self.seen = []             # every frame returned by recv(), in order
        self.closed = False
        self.name = None
        self.role = None
        self.auth_response = None
        self.instance = None
        self.generation = None

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- sending
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, obj):
        self.sock.sendall(encode_frame(obj))

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

    # ---- receiving
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout("deadline passed")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout("deadline passed")
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as e:
            self.closed = True
            raise Closed(f"connection reset: {e}")
        if not chunk:
            self.closed = True
            raise Closed("connection closed by peer (EOF)")
        self.buf += chunk
        self.pending.extend(decode_frames(self.buf))

    def recv(self, timeout=DEFAULT_TIMEOUT):
        """Next frame (dict). Raises Timeout or Closed."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            if self.closed:
                raise Closed("connection already closed")
            self._fill(deadline)
        f = self.pending.pop(0)
        self.seen.append(f)
        return f

    def wait_for(self, pred, timeout=DEFAULT_TIMEOUT, what="matching frame"):
        """First frame for which pred(frame) is true; other frames are skipped (kept in
        self.seen). Raises Timeout (listing what was skipped) or Closed."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                f = self.recv(max(remaining, 0.0) if self.pending else remaining)
            except Timeout:
                raise Timeout(f"{self.name or 'conn'}: no {what} within {timeout}s; "
                              f"skipped: {_short(skipped)}")
            except Closed as e:
                raise Closed(f"{self.name or 'conn'}: closed while waiting for {what} "
                             f"({e}); skipped: {_short(skipped)}", skipped)
            if pred(f):
                return f
            skipped.append(f)

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
        """Every frame that arrives within `seconds` (a bounded wait used only to prove
        that something does NOT arrive). Stops early on close."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not self.pending:
                return got
            try:
                got.append(self.recv(max(remaining, 0.001)))
            except Timeout:
                return got
            except Closed:
                return got

    def none_within(self, pred, seconds):
        """Frames matching pred that arrived within `seconds` (expected: empty list)."""
        return [f for f in self.frames_within(seconds) if pred(f)]

    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """Wait until the peer closes; return the frames received before the close.
        Raises Timeout if the connection is still open at the deadline."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            try:
                got.append(self.recv(max(deadline - time.monotonic(), 0.0)))
            except Closed:
                return got
            except Timeout:
                raise Timeout(f"{self.name or 'conn'}: still open after {timeout}s; "
                              f"received {_short(got)}")

    def raw_bytes_until_closed(self, timeout=DEFAULT_TIMEOUT):
        """For sockets that must receive nothing: every raw byte until EOF/reset.
        Raises Timeout if still open at the deadline."""
        deadline = time.monotonic() + timeout
        data = bytes(self.buf)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(f"still open after {timeout}s; received {data[:200]!r}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ConnectionAbortedError):
                self.closed = True
                return data
            if not chunk:
                self.closed = True
                return data
            data += chunk

    # ---- auth
    def auth(self, secret, cluster_name, role="cluster", shard_ids=(), shard_count=1,
             guild_count=0, instance=None, generation=0, timeout=DEFAULT_TIMEOUT,
             extra=None, verify_server=True, auth_size=None):
        """Run the v2 handshake. Returns the auth_response data on success; raises
        AuthError on refusal (response attached) or a wrong server_mac."""
        self.name = cluster_name
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


def _short(frames, limit=6):
    s = [json.dumps(f)[:300] for f in frames[-limit:]]
    more = f" (+{len(frames) - limit} earlier)" if len(frames) > limit else ""
    return "[" + ", ".join(s) + "]" + more


# --------------------------------------------------------------------------- test fixtures

def free_port():
    """A loopback port with nothing listening on it (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _harness():
    import harness  # tests/integration is on sys.path when the tests import this module
    return harness


class HubCase(unittest.TestCase):
    """Starts real shardline processes (own ports, cleaned up with addCleanup)."""

    secret = None  # set from harness.SECRET in setUpClass

    @classmethod
    def setUpClass(cls):
        h = _harness()
        cls.H = h
        cls.secret = h.SECRET
        if not os.access(h.BIN, os.X_OK):
            # A missing binary is a failure, never a silent pass.
            raise AssertionError(f"{h.BIN} is not built (set SHARDLINE_BIN to override)")

    def env(self, port=0, **extra):
        return self.H.base_env(port, **extra)

    def _cleanup_proc(self, proc):
        try:
            proc.signal(signal.SIGCONT)
            proc.stop(timeout=3)
        except Exception:
            proc.kill()

    def start_hub(self, name="hub", extra_args=(), **env):
        hub = self.H.Proc(["hub", "--port-file", "{port_file}", *extra_args],
                          self.env(0, **env), name)
        self.addCleanup(self._cleanup_proc, hub)
        port = hub.wait_port()
        hub.wait_for_log(r"hub listening on 127\.0\.0\.1:%d\b" % port, timeout=5)
        return hub, port

    def start_cluster(self, name, port, shard_ids=(0,), shard_count=1, wait=True,
                      mode="client", **env):
        """`shardline run` as a client cluster of the hub on `port`."""
        e = dict(SHARD_IPC_MODE=mode, SHARD_CLUSTER_NAME=name, SHARD_COUNT=shard_count,
                 SHARD_IDS=",".join(str(i) for i in shard_ids))
        e.update(env)
        args = ["run"] + (["--port-file", "{port_file}"] if mode == "server" else [])
        proc = self.H.Proc(args, self.env(port, **e), name)
        self.addCleanup(self._cleanup_proc, proc)
        if wait and mode == "client":
            proc.wait_for_log(r"linked to hub \S+ as %s\b" % re.escape(name), timeout=10)
        return proc

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


# --------------------------------------------------------------------------- self-test

def _selftest():
    # HMAC-SHA256 against RFC 4231 test case 2.
    assert hmac_hex("Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    # The v2 MACs are HMAC over the exact strings of ipc.md section 3.
    k, n, cn, sn = "s3cret", "cluster-0", "00" * 16, "ff" * 16
    assert client_mac(k, n, cn, sn) == hmac.new(
        b"s3cret", b"shardline-v2-client|cluster-0|" + cn.encode() + b"|" + sn.encode(),
        hashlib.sha256).hexdigest()
    assert client_mac(k, n, cn, sn) != server_mac(k, n, cn, sn)
    assert len(client_mac(k, n, cn, sn)) == 64 and client_mac(k, n, cn, sn).islower()
    # Framing: 4-byte big-endian length then the UTF-8 body.
    fr = encode_frame({"op": "heartbeat"})
    assert fr == b"\x00\x00\x00\x12" + b'{"op":"heartbeat"}', fr
    fr2 = encode_frame({"op": "x", "data": {"m": "\u00e9"}})
    assert struct.unpack(">I", fr2[:4])[0] == len(fr2) - 4 == len('{"op":"x","data":{"m":"\\u00e9"}}')
    buf = bytearray(fr + fr2[:7])
    assert decode_frames(buf) == [{"op": "heartbeat"}] and len(buf) == 7
    buf += fr2[7:]
    assert decode_frames(buf) == [{"op": "x", "data": {"m": "\u00e9"}}] and not buf
    for bad in (b"\x00\x00\x00\x00", struct.pack(">I", MAX_FRAME + 1)):
        try:
            decode_frames(bytearray(bad))
        except ValueError:
            pass
        else:
            raise AssertionError("bad length accepted")
    assert decode_frames(bytearray(struct.pack(">I", MAX_FRAME))) == []  # waits for body
    assert len(encode_frame(pad_to({"op": "heartbeat", "timestamp": time.time()}, 1000))) == 1004
    # Guild mapping; a snowflake above 2**63.
    g = guild_on_shard(3, 4, high=2 ** 41 // 4)
    assert g > 2 ** 63 and (g >> 22) % 4 == 3
    assert int(str(g)) == g

    # The handshake against a tiny in-process fake server (good and bad server_mac).
    for good in (True, False):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]

        def serve():
            s, _ = srv.accept()
            b = bytearray()
            frames = []

            def rd():
                while not frames:
                    b.extend(s.recv(4096))
                    frames.extend(decode_frames(b))
                return frames.pop(0)
            a = rd()["data"]
            sn = random_hex16()
            s.sendall(encode_frame({"op": "auth_challenge", "data": {"proto": 2, "server_nonce": sn}}))
            p = rd()["data"]
            ok = hmac.compare_digest(p["mac"], client_mac("k" * 20, a["cluster_name"], a["client_nonce"], sn))
            smac = server_mac("k" * 20 if good else "x" * 20, a["cluster_name"], a["client_nonce"], sn)
            s.sendall(encode_frame({"op": "auth_response", "data": {
                "success": ok, "server_cluster": "hub", "connected_clients": [a["cluster_name"]],
                "proto": 2, "server_mac": smac}}))
            s.close()
            srv.close()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            c = connect(port, "k" * 20, "c1", timeout=3)
            assert good, "wrong server_mac accepted"
            assert c.auth_response["connected_clients"] == ["c1"]
            c.close()
        except AuthError as e:
            assert not good, f"good handshake refused: {e}"
        t.join(3)
    print("ipc_v2 self-test ok")


if __name__ == "__main__":
    _selftest()
