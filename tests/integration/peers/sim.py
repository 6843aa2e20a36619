"""A client of `shardline sim`, the simulated Discord: a minimal RFC 6455 websocket (the opening
handshake, masked client frames, text/binary/close/ping frames, fragmented messages
reassembled, close codes, `compress=zlib-stream` inflated with one zlib context per
connection, as Discord's clients do), Discord's gateway handshake as helpers, and `rest()` for
the REST API and the `/_sim/` control API (docs/simulator.md). Standard library only.

Payloads go into an Inbox read only while a test waits (inbox.py), so every read has a
deadline and a wait that skips payloads says which it skipped.
"""
import base64
import hashlib
import json
import os
import socket
import struct
import urllib.error
import urllib.request
import zlib

from .inbox import Inbox
from .wait import Deadline, Timeout

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ZLIB_SUFFIX = b"\x00\x00\xff\xff"
DEFAULT_TIMEOUT = 10.0

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

__all__ = ["Closed", "Gateway", "OP_BINARY", "OP_TEXT", "Timeout", "WebSocket", "rest"]


class Closed(Exception):
    """The server closed the websocket; `code` is its close code (None if it sent none,
    or the TCP connection just ended)."""

    def __init__(self, code, reason=""):
        super().__init__(f"closed with {code} {reason!r}")
        self.code = code
        self.reason = reason


class WebSocket:
    close_answer = None  # a close code to answer the server's close with, instead of echoing it

    def __init__(self, port, path="/?v=10&encoding=json", host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.zlib = zlib.decompressobj() if "compress=zlib-stream" in path else None
        self.zbuf = b""
        self.close_code = None
        # The server's close ends the inbox with a Closed carrying its code: re-raised as is.
        self.inbox = Inbox(f"ws:{port}", pull=self._pull, closed_error=lambda what, skipped: self.inbox.error)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        head = self._read_until(b"\r\n\r\n", Deadline(timeout, "websocket handshake"))
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise AssertionError(f"websocket handshake refused: {status!r}")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if f"sec-websocket-accept: {accept}".lower().encode() not in head.lower():
            raise AssertionError("bad Sec-WebSocket-Accept")

    # ---- bytes ----------------------------------------------------------------------------

    def _fill(self, deadline):
        left = deadline.left()
        if left <= 0:
            raise Timeout("websocket read deadline passed")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout("websocket read deadline passed")
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed(self.close_code)
        self.buf += chunk

    def _read_until(self, marker, deadline):
        while marker not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(marker, 1)
        return head

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    # ---- frames ---------------------------------------------------------------------------

    def send_frame(self, opcode, payload, fin=True):
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj, separators=(",", ":")))

    def send_close(self, code=1000, reason=b""):
        self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason)

    def _read_frame(self, deadline):
        b0, b1 = self._read_exact(2, deadline)
        fin, opcode, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
        if b1 & 0x80:
            raise AssertionError("server frames must not be masked")
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8, deadline))[0]
        return bool(fin), opcode, self._read_exact(n, deadline)

    def _read_message(self, deadline):
        """One whole message: (opcode, bytes). Answers pings; raises Closed on a close frame."""
        parts, first_op = [], None
        while True:
            fin, opcode, payload = self._read_frame(deadline)
            if opcode == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.close_code = code
                answer = payload[:2] if self.close_answer is None else struct.pack("!H", self.close_answer)
                try:  # echo the close, as RFC 6455 asks (or answer with close_answer)
                    self.send_frame(OP_CLOSE, answer)
                except OSError:
                    pass
                raise Closed(code, payload[2:].decode(errors="replace"))
            if opcode != OP_CONT:
                first_op = opcode
            parts.append(payload)
            if fin:
                return first_op, b"".join(parts)

    def _read_payload(self, deadline):
        """The next gateway payload, inflated if the connection uses zlib-stream."""
        while True:
            opcode, data = self._read_message(deadline)
            if self.zlib is None:
                if opcode != OP_TEXT:
                    raise AssertionError(f"expected a text frame, got opcode {opcode}")
                return json.loads(data)
            if opcode != OP_BINARY:
                raise AssertionError(f"zlib-stream: expected a binary frame, got opcode {opcode}")
            self.zbuf += data
            if not self.zbuf.endswith(ZLIB_SUFFIX):
                continue
            text = self.zlib.decompress(self.zbuf)
            self.zbuf = b""
            return json.loads(text)

    def _pull(self, deadline):
        try:
            msg = self._read_payload(deadline)
        except Closed as c:
            self.inbox.end(c)
            return
        self._on_payload(msg)
        self.inbox.put(msg)

    def _on_payload(self, msg):
        pass

    @property
    def closed(self):
        """True once the connection ended (close frame, reset or EOF); `close_code` is the
        server's close code, None if it sent none."""
        return self.inbox.ended

    def recv_json(self, timeout=DEFAULT_TIMEOUT):
        """The next gateway payload. Raises Timeout, or Closed with the server's code."""
        return self.inbox.take(timeout=timeout, what="payload")

    def wait_close(self, timeout=DEFAULT_TIMEOUT):
        """Reads (and discards) payloads until the server closes; returns its close code."""
        self.inbox.drain_until_closed(timeout)
        return self.inbox.error.code

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Gateway(WebSocket):
    """A gateway connection with Discord's handshake steps as helpers."""

    def __init__(self, port, compress=False, query=None, timeout=DEFAULT_TIMEOUT):
        path = query or ("/?v=10&encoding=json" + ("&compress=zlib-stream" if compress else ""))
        super().__init__(port, path, timeout=timeout)
        self.seq = None
        self.hello = self.recv_json(timeout)
        assert self.hello["op"] == 10, self.hello

    def _on_payload(self, msg):
        if msg.get("s") is not None:
            self.seq = msg["s"]

    def recv(self, timeout=DEFAULT_TIMEOUT):
        return self.recv_json(timeout)

    def heartbeat(self):
        self.send_json({"op": 1, "d": self.seq})

    def identify(self, token, shard=(0, 1), intents=513):
        self.send_json({"op": 2, "d": {"token": token, "intents": intents, "shard": list(shard),
                                       "properties": {"os": "linux", "browser": "sim-test",
                                                      "device": "sim-test"}}})

    def resume(self, token, session_id, seq):
        self.send_json({"op": 6, "d": {"token": token, "session_id": session_id, "seq": seq}})

    def wait_dispatch(self, event, timeout=DEFAULT_TIMEOUT, collect=None):
        """Reads until a dispatch of type `event`; earlier payloads go to `collect` (a list)."""
        start = self.inbox.cursor
        msg = self.inbox.take(lambda m: m["op"] == 0 and m["t"] == event, timeout, f"{event} dispatch")
        if collect is not None:
            collect.extend(self.inbox.items[start:self.inbox.cursor - 1])
        return msg

    def wait_op(self, op, timeout=DEFAULT_TIMEOUT):
        return self.inbox.take(lambda m: m["op"] == op, timeout, f"op {op}")


def rest(port, path, token=None, method="GET", body=None, timeout=10.0, with_headers=False):
    """(status, parsed JSON body) of a REST or /_sim/ request; `body` is sent as JSON.
    With `with_headers`: (status, body, headers)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bot {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            out = res.status, json.loads(res.read() or b"null"), res.headers
    except urllib.error.HTTPError as e:
        out = e.code, json.loads(e.read() or b"null"), e.headers
    return out if with_headers else out[:2]
