"""Length-prefixed JSON frames: the wire format of both IPC protocol versions
(docs/protocol.md §2). A frame is a uint32 big-endian length N, then N bytes of
UTF-8 JSON; 1,000,000 bytes at most. Version-2 peers send compact JSON; version-1 peers (the
seed) send plain `json.dumps`, whose NaN goes out as the bare token `NaN`.

This module is the only place that reads or writes frames: the v2 client, the v1 client and
server, and the fake hubs of the tests all use FrameStream, and every read has a deadline.
"""
import json
import socket
import struct
import threading

from .wait import Timeout, wait_until

MAX_FRAME = 1_000_000


class Closed(AssertionError):
    """The peer closed the connection (EOF or reset). `frames`: what arrived before, when the
    waiter that saw the close had collected any."""

    def __init__(self, msg, frames=()):
        super().__init__(msg)
        self.frames = list(frames)


def encode_frame(obj, compact=True, limit=None):
    """One frame. A dict or list is JSON-encoded (compact for v2, json.dumps' default
    separators for v1); bytes or str are sent as the body verbatim. With `limit`, a body over
    it raises ValueError (the seed refuses to send what its peers would refuse to read)."""
    if isinstance(obj, (bytes, bytearray)):
        body = bytes(obj)
    elif isinstance(obj, str):
        body = obj.encode()
    elif compact:
        body = json.dumps(obj, separators=(",", ":")).encode()
    else:
        body = json.dumps(obj).encode("utf-8")
    if limit is not None and len(body) > limit:
        raise ValueError(f"message of {len(body)} bytes is over the {limit}-byte limit")
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


def decode_frames(buf, max_frame=MAX_FRAME):
    """Splits the complete frames off `buf` (a bytearray, consumed in place) and returns
    them decoded (json.loads reads NaN and Infinity as floats, as the seed's reader does).
    Raises ValueError on a length of 0 or over `max_frame`."""
    out = []
    while len(buf) >= 4:
        (n,) = struct.unpack(">I", bytes(buf[:4]))
        if n == 0 or n > max_frame:
            raise ValueError(f"peer announced frame length {n}")
        if len(buf) < 4 + n:
            break
        body = bytes(buf[4:4 + n])
        del buf[:4 + n]
        out.append(json.loads(body.decode("utf-8")))
    return out


class FrameStream:
    """A socket that carries frames. Sends whole frames under a lock (a reader thread and the
    test may both send); reads with a deadline (None: block until data or close)."""

    def __init__(self, sock, name="peer"):
        self.sock = sock
        self.name = name
        self.buf = bytearray()        # bytes received and not yet decoded
        self.decoded = []             # frames decoded and not yet returned by read()
        self.received = bytearray()   # every byte received, for tests of what crossed the wire
        self.closed = False
        self._send_lock = threading.Lock()

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def send_raw(self, data):
        with self._send_lock:
            self.sock.sendall(data)

    def send(self, obj, compact=True, limit=None):
        """Sends one frame; returns its bytes."""
        frame = encode_frame(obj, compact, limit)
        self.send_raw(frame)
        return frame

    def read_chunk(self, deadline=None, decode=True):
        """One recv() of at most the time left. Raises Timeout at the deadline and Closed on
        EOF or reset; decodes the frames it completes (ValueError on a bad length)."""
        if deadline is None:
            self.sock.settimeout(None)
        else:
            left = deadline.left()
            if left <= 0:
                raise Timeout(f"{self.name}: deadline passed")
            self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout(f"{self.name}: deadline passed")
        except OSError as e:  # reset, or closed under a reader thread by close()
            self.closed = True
            raise Closed(f"{self.name}: connection error: {e}")
        if not chunk:
            self.closed = True
            raise Closed(f"{self.name}: connection closed by peer (EOF)")
        self.received += chunk
        self.buf += chunk
        if decode:
            self.decoded.extend(decode_frames(self.buf))

    def read(self, deadline=None):
        """The next frame (whatever JSON value it holds)."""
        while not self.decoded:
            self.read_chunk(deadline)
        return self.decoded.pop(0)

    def raw_until_closed(self, timeout):
        """For sockets that must receive nothing: every byte not yet decoded, and all that
        arrives, until the peer closes. Raises Timeout if it is still open at the deadline."""
        def pause(d):
            try:
                self.read_chunk(d, decode=False)
            except (Timeout, Closed):
                pass
        wait_until(lambda: self.closed, timeout, "close", pause=pause,
                   detail=lambda: f"{self.name} still open; received {bytes(self.buf[:200])!r}")
        return bytes(self.buf)

    def shutdown(self):
        """Ends the connection both ways (a blocked reader thread sees the close)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


