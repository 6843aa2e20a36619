"""Self-tests of the peers, with no shardline process: the wait, frames and HMACs against
known answers, the v2 handshake against a tiny fake server, the v1 client against the v1
server, and the websocket client against a one-shot fake gateway. A peer that is wrong would
make the integration tests prove nothing, so these run under ctest too (test_peers.py).

    cd tests/integration && python3 -m peers
"""
import base64
import hashlib
import hmac
import json
import socket
import struct
import threading
import time
import unittest

from .framing import MAX_FRAME, Closed, FrameStream, decode_frames, encode_frame, pad_to
from .legacy import ENVELOPE_KEYS, AuthRefused, is_nan, make_message
from .legacy_client import LegacyClient
from .legacy_server import LegacyServer
from .sim import GUID, Gateway
from .sim import Closed as WsClosed
from .v2 import AuthError, client_mac, connect, guild_on_shard, hmac_hex, random_hex16, server_mac
from .wait import Timeout, hold, wait_until


def _listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(5)
    return srv, srv.getsockname()[1]


class WaitTest(unittest.TestCase):
    def test_returns_the_value_and_fails_with_what_it_waited_for(self):
        calls = []
        self.assertEqual(wait_until(lambda: calls.append(1) or (len(calls) >= 3 and "ok"), 1), "ok")
        t0 = time.monotonic()
        with self.assertRaises(Timeout) as cm:
            wait_until(lambda: None, 0.1, "the moon", detail=lambda: "saw clouds")
        self.assertGreaterEqual(time.monotonic() - t0, 0.1)
        self.assertEqual(str(cm.exception), "no the moon within 0.1s; saw clouds")
        self.assertIsInstance(cm.exception, AssertionError)
        self.assertIsInstance(cm.exception, TimeoutError)

    def test_hold_lasts_its_time_or_stops_early(self):
        t0 = time.monotonic()
        hold(0.1)
        self.assertGreaterEqual(time.monotonic() - t0, 0.1)
        t0 = time.monotonic()
        hold(5, stop=lambda: True)
        self.assertLess(time.monotonic() - t0, 1)


class FramingTest(unittest.TestCase):
    def test_hmac_and_v2_macs(self):
        # HMAC-SHA256 against RFC 4231 test case 2.
        self.assertEqual(hmac_hex("Jefe", "what do ya want for nothing?"),
                         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        # The v2 MACs are HMAC over the exact strings of docs/protocol.md §3.
        k, n, cn, sn = "s3cret", "cluster-0", "00" * 16, "ff" * 16
        self.assertEqual(client_mac(k, n, cn, sn), hmac.new(
            b"s3cret", b"shardline-v2-client|cluster-0|" + cn.encode() + b"|" + sn.encode(),
            hashlib.sha256).hexdigest())
        self.assertNotEqual(client_mac(k, n, cn, sn), server_mac(k, n, cn, sn))
        self.assertEqual(len(client_mac(k, n, cn, sn)), 64)
        self.assertTrue(client_mac(k, n, cn, sn).islower())

    def test_frames(self):
        # Framing: 4-byte big-endian length then the UTF-8 body.
        fr = encode_frame({"op": "heartbeat"})
        self.assertEqual(fr, b"\x00\x00\x00\x12" + b'{"op":"heartbeat"}')
        fr2 = encode_frame({"op": "x", "data": {"m": "\u00e9"}})
        self.assertEqual(struct.unpack(">I", fr2[:4])[0], len(fr2) - 4)
        self.assertEqual(len(fr2) - 4, len('{"op":"x","data":{"m":"\\u00e9"}}'))
        buf = bytearray(fr + fr2[:7])
        self.assertEqual(decode_frames(buf), [{"op": "heartbeat"}])
        self.assertEqual(len(buf), 7)
        buf += fr2[7:]
        self.assertEqual(decode_frames(buf), [{"op": "x", "data": {"m": "\u00e9"}}])
        self.assertFalse(buf)
        for bad in (b"\x00\x00\x00\x00", struct.pack(">I", MAX_FRAME + 1)):
            with self.assertRaises(ValueError):
                decode_frames(bytearray(bad))
        self.assertEqual(decode_frames(bytearray(struct.pack(">I", MAX_FRAME))), [])  # waits for the body
        self.assertEqual(len(encode_frame(pad_to({"op": "heartbeat", "timestamp": time.time()}, 1000))), 1004)
        with self.assertRaises(ValueError):
            encode_frame({"x": "y" * MAX_FRAME}, compact=False, limit=MAX_FRAME)

    def test_v1_envelope_and_the_nan_token(self):
        m = make_message("stats_broadcast", {"latency": float("nan")}, "c1")
        self.assertEqual(set(m), ENVELOPE_KEYS)
        frame = encode_frame(m, compact=False)
        self.assertEqual(struct.unpack(">I", frame[:4])[0], len(frame) - 4)
        self.assertIn(b'"latency": NaN', frame)
        self.assertTrue(is_nan(json.loads(frame[4:])["data"]["latency"]))

    def test_stream_reads_with_a_deadline_and_sees_the_close(self):
        a, b = socket.socketpair()
        sa, sb = FrameStream(a, "a"), FrameStream(b, "b")
        sa.send({"op": "one"})
        sa.send_raw(encode_frame({"op": "two"})[:5])
        from .wait import Deadline
        self.assertEqual(sb.read(Deadline(1)), {"op": "one"})
        with self.assertRaises(Timeout):
            sb.read(Deadline(0.1))
        sa.send_raw(encode_frame({"op": "two"})[5:])
        self.assertEqual(sb.read(Deadline(1)), {"op": "two"})
        sa.shutdown()
        with self.assertRaises(Closed):
            sb.read(Deadline(1))
        sb.close()

    def test_guild_mapping(self):
        g = guild_on_shard(3, 4, high=2 ** 41 // 4)
        self.assertGreater(g, 2 ** 63)
        self.assertEqual((g >> 22) % 4, 3)


class V2HandshakeTest(unittest.TestCase):
    def serve_once(self, good):
        """A tiny fake server: one handshake, a good or a forged server_mac."""
        srv, port = _listener()

        def serve():
            s, _ = srv.accept()
            st = FrameStream(s, "fake")
            a = st.read()["data"]
            sn = random_hex16()
            st.send({"op": "auth_challenge", "data": {"proto": 2, "server_nonce": sn}})
            p = st.read()["data"]
            ok = hmac.compare_digest(p["mac"], client_mac("k" * 20, a["cluster_name"], a["client_nonce"], sn))
            smac = server_mac("k" * 20 if good else "x" * 20, a["cluster_name"], a["client_nonce"], sn)
            st.send({"op": "auth_response", "data": {
                "success": ok, "server_cluster": "hub", "connected_clients": [a["cluster_name"]],
                "proto": 2, "server_mac": smac}})
            st.close()
            srv.close()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(t.join, 3)
        return port

    def test_good_server_mac_accepted(self):
        c = connect(self.serve_once(True), "k" * 20, "c1", timeout=3)
        self.assertEqual(c.auth_response["connected_clients"], ["c1"])
        self.assertEqual(c.wait_closed(3), [])
        c.close()

    def test_forged_server_mac_refused(self):
        with self.assertRaises(AuthError):
            connect(self.serve_once(False), "k" * 20, "c1", timeout=3)


class LegacyPeersTest(unittest.TestCase):
    def test_a_client_joins_the_server(self):
        secret = "self-test-secret-0123456789"
        srv = LegacyServer(secret, "cluster-0", [0], 4)
        srv.start()
        self.addCleanup(srv.stop)
        # answers_eval: a client that answers eval_request (the seed's client does not).
        a = LegacyClient(srv.port, secret, "cluster-1", [1, 2], 4, guild_count=5,
                         answers_eval=True)
        self.addCleanup(a.close)
        self.assertEqual(a.connect(3), {"success": True, "server_cluster": "cluster-0",
                                        "connected_clients": ["cluster-1"]})
        b = LegacyClient(srv.port, secret, "cluster-2", [3], 4)
        self.addCleanup(b.close)
        self.assertEqual(b.connect(3)["connected_clients"], ["cluster-1", "cluster-2"])
        self.assertEqual(a.wait_op("cluster_join", 3, cluster_name="cluster-2")["data"]["shard_ids"], [3])
        a.heartbeat()
        self.assertEqual(a.wait_op("heartbeat_ack", 3)["target"], "cluster-1")
        # client -> client through the server, and the answer back
        b.send("eval_request", {"query": "guild_count"}, "cluster-1")
        self.assertEqual(b.wait_op("eval_response", 3, source="cluster-1")["data"]["result"], 5)
        b.send("eval_request", {"query": "__import__('os')"}, "cluster-1")
        self.assertEqual(b.wait_op("eval_response", 3, query="__import__('os')")["data"]["result"],
                         "unknown_query")
        # client -> the server's own cluster
        a.send("stats_request", None, "cluster-0")
        st = a.wait_op("stats_broadcast", 3, source="cluster-0")["data"]
        self.assertEqual(st["mode"], "server")
        self.assertTrue(is_nan(st["latency"]))
        a.broadcast("hello")
        srv.wait_log(r"broadcast from cluster-1 by Owner#0001 \(123456789012345678\): hello", 3)
        b.wait_log(r"broadcast from cluster-1 .*: hello", 3)
        b.close()
        a.wait_op("cluster_leave", 3, cluster_name="cluster-2")
        srv.wait_event("leave", 3)
        bad = LegacyClient(srv.port, "wrong-secret-0123456789", "cluster-9")
        self.addCleanup(bad.close)
        with self.assertRaises(AuthRefused) as cm:
            bad.connect(3)
        self.assertEqual(cm.exception.response, {"success": False, "error": "Invalid secret"})
        self.assertEqual(bad.wait_closed(3), [])
        self.assertEqual(srv.wait_event("auth_failed", 3)[2]["data"]["cluster_name"], "cluster-9")

    def test_an_idle_client_keeps_reading(self):
        # The reader blocks without a deadline: a quiet link is not a closed one.
        secret = "self-test-secret-0123456789"
        srv = LegacyServer(secret)
        srv.start()
        self.addCleanup(srv.stop)
        a = LegacyClient(srv.port, secret, "idle")
        self.addCleanup(a.close)
        a.connect(0.3)
        hold(0.6)
        self.assertFalse(a.closed)
        a.heartbeat()
        a.wait_op("heartbeat_ack", 3)


class WebSocketTest(unittest.TestCase):
    def test_hello_then_close_code(self):
        srv, port = _listener()

        def serve():
            s, _ = srv.accept()
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            key = [ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")
                   if ln.lower().startswith(b"sec-websocket-key")][0]
            accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            hello = json.dumps({"op": 10, "d": {"heartbeat_interval": 1000}}).encode()
            s.sendall(bytes([0x81, len(hello)]) + hello)
            s.sendall(bytes([0x88, 2]) + struct.pack("!H", 4004))
            s.settimeout(3)
            s.recv(16)  # the client's answer to the close, then the end
            s.close()
            srv.close()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(t.join, 3)
        g = Gateway(port, timeout=3)
        self.addCleanup(g.close)
        self.assertEqual(g.hello["d"]["heartbeat_interval"], 1000)
        with self.assertRaises(WsClosed) as cm:
            g.recv(3)
        self.assertEqual(cm.exception.code, 4004)
        self.assertEqual(g.wait_close(1), 4004)


if __name__ == "__main__":
    unittest.main()
