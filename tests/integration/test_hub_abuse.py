"""Bad input and hostile peers against `shardline hub`: each case asserts the answer
documented in docs/ipc-hub.md AND that the hub keeps serving honest clients afterwards.

    cd tests/integration && SHARDLINE_BIN=../../build/bin/shardline \
        python3 -m unittest -v test_hub_abuse
"""
import os
import resource
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import status  # noqa: E402
from peers.cases import HubCase  # noqa: E402
from peers.framing import encode_frame, pad_to  # noqa: E402
from peers.v2 import AuthError, Closed, Conn, new_nonce, random_hex16  # noqa: E402
from peers.wait import Deadline, Timeout, every, pace, wait_until  # noqa: E402

QUIET_S = 0.6          # bounded wait used only to prove that something does NOT arrive
AT_ONCE_S = 1.0        # "closed at once"
RSS_TOLERANCE_KB = 4 * 1024   # idle-flood memory must come back to baseline + 4 MiB
MAX_FLOOD_FRAMES = 4096       # 64 MB at the slow reader: far past its 64 KiB cap and any socket buffer


def v1_auth(secret, name):
    return {"op": "auth", "data": {"secret": secret, "cluster_name": name,
                                   "shard_ids": [0], "shard_count": 1, "guild_count": 0}}


def v2_auth_data(name="x", **over):
    d = {"proto": 2, "cluster_name": name, "role": "cluster", "shard_ids": [0],
         "shard_count": 1, "guild_count": 0, "instance": random_hex16(), "generation": 0,
         "client_nonce": random_hex16()}
    d.update(over)
    return d


class AbuseCase(HubCase):
    def hub(self, **env):
        self.hubp, self.port = self.start_hub(**env)
        # An honest cluster linked before the abuse; it must still be served after it.
        self.bystander = self.client(self.port, "bystander")
        return self.hubp, self.port

    def assert_still_serving(self):
        b = self.bystander
        b.send("heartbeat", {"timestamp": time.time(), "guild_count": 0})
        self.assertEqual(b.wait_op("heartbeat_ack", timeout=3)["target"], "bystander")
        self.assert_serving(self.port)

    def assert_closed_silently(self, c, within, label=""):
        t0 = time.monotonic()
        data = c.raw_bytes_until_closed(timeout=within)
        self.assertEqual(data, b"", f"{label}: the hub sent bytes before closing")
        return time.monotonic() - t0

    def authed(self, name, **kw):
        return self.client(self.port, name, **kw)


class AuthAbuseTest(AbuseCase):
    def test_wrong_secret(self):
        self.hub()
        c = self.raw(self.port)
        with self.assertRaises(AuthError) as cm:
            c.auth("wrong-secret-wrong-secret-wrong", "intruder")
        self.assertEqual(cm.exception.response, {"success": False, "error": "Invalid secret"})
        self.assertEqual(c.wait_closed(timeout=3), [])
        self.assert_still_serving()

    def test_wrong_secret_for_a_connected_name_does_not_evict_it(self):
        self.hub()
        c = self.raw(self.port)
        with self.assertRaises(AuthError):
            c.auth("wrong-secret-wrong-secret-wrong", "bystander", generation=99)
        c.wait_closed(timeout=3)
        self.assert_still_serving()

    def test_no_auth_within_deadline(self):
        self.hub(SHARD_IPC_AUTH_TIMEOUT_S=1)
        c = self.raw(self.port)
        took = self.assert_closed_silently(c, 4, "idle before auth")
        self.assertGreater(took, 0.7, "closed long before SHARD_IPC_AUTH_TIMEOUT_S=1")
        self.assertLess(took, 3.0)
        self.assert_still_serving()

    def test_handshake_not_finished_within_deadline(self):
        self.hub(SHARD_IPC_AUTH_TIMEOUT_S=1)
        c = self.raw(self.port)
        c.send_frame({"op": "auth", "data": v2_auth_data("slowpoke"), "nonce": new_nonce(),
                      "timestamp": time.time()})
        self.assertEqual(c.recv(3)["op"], "auth_challenge")
        t0 = time.monotonic()
        self.assertEqual(c.wait_closed(timeout=4), [], "expected a silent close")
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assert_still_serving()

    def test_first_frame_not_auth(self):
        self.hub()
        c = self.raw(self.port)
        c.send("heartbeat", {"timestamp": time.time(), "guild_count": 0})
        frames = c.wait_closed(timeout=3)
        self.assertTrue(all(f.get("op") == "auth_response" and f["data"]["success"] is False
                            for f in frames), frames)
        self.assert_still_serving()

    def test_legacy_auth_disabled(self):
        self.hub()
        c = self.raw(self.port)
        c.send_frame(v1_auth(self.secret, "oldtimer"))   # right secret, but v1 is off
        r = c.recv(3)
        self.assertEqual(r["op"], "auth_response")
        self.assertEqual(r["data"], {"success": False, "error": "Legacy auth disabled"})
        c.wait_closed(timeout=3)
        self.assert_still_serving()

    def test_invalid_auth_fields(self):
        self.hub()
        cases = {
            "no cluster_name": {k: v for k, v in v2_auth_data().items() if k != "cluster_name"},
            "no client_nonce": {k: v for k, v in v2_auth_data().items() if k != "client_nonce"},
            "shard_ids not a list": v2_auth_data(shard_ids="0,1"),
            "generation not a number": v2_auth_data(generation="one"),
            "role unknown": v2_auth_data(role="root"),
            "cluster_name a number": v2_auth_data(cluster_name=12),
        }
        for label, data in cases.items():
            with self.subTest(label):
                c = self.raw(self.port)
                c.send_frame({"op": "auth", "data": data, "nonce": new_nonce(),
                              "timestamp": time.time()})
                first = c.recv(3)
                self.assertEqual(first["op"], "auth_response", f"accepted: {first}")
                self.assertEqual(first["data"], {"success": False, "error": "Invalid auth"})
                self.assertEqual(c.wait_closed(timeout=3), [])
        self.assert_still_serving()

    def test_bad_proof_format(self):
        self.hub()
        c = self.raw(self.port)
        c.send_frame({"op": "auth", "data": v2_auth_data("prover"), "nonce": new_nonce(),
                      "timestamp": time.time()})
        self.assertEqual(c.recv(3)["op"], "auth_challenge")
        c.send_frame({"op": "auth_proof", "data": {"mac": 12345}})
        frames = c.wait_closed(timeout=3)
        self.assertEqual(len(frames), 1, frames)
        self.assertIs(frames[0]["data"]["success"], False)
        self.assertIn(frames[0]["data"]["error"], ("Invalid secret", "Invalid auth"))
        self.assert_still_serving()


class FramingAbuseTest(AbuseCase):
    def test_length_1000001_after_auth_closed_at_once(self):
        self.hub()
        c = self.authed("big")
        c.send_raw(struct.pack(">I", 1_000_001))   # the prefix only: no body follows
        self.assert_closed_silently(c, AT_ONCE_S, "oversized length")
        # Why the hub closed it is only in its log (no status keeps closed connections).
        self.hubp.assert_log(r"closed \S*:%d: frame too large" % c.local_port, timeout=3)
        self.assert_still_serving()

    def test_length_1000001_before_auth_closed_at_once(self):
        self.hub()
        c = self.raw(self.port)
        c.send_raw(struct.pack(">I", 1_000_001))
        self.assert_closed_silently(c, AT_ONCE_S, "oversized length before auth")
        self.assert_still_serving()

    def test_length_65537_before_auth_closed_at_once(self):
        self.hub()
        c = self.raw(self.port)
        c.send_raw(struct.pack(">I", 65_537))
        self.assert_closed_silently(c, AT_ONCE_S, "65,537 bytes before auth")
        self.assert_still_serving()

    def test_auth_frame_of_exactly_65536_bytes_accepted(self):
        self.hub()
        c = self.raw(self.port)
        c.auth(self.secret, "padded", auth_size=65_536)
        self.assertIs(c.auth_response["success"], True)

    def test_frame_of_exactly_1000000_bytes_accepted_after_auth(self):
        self.hub()
        c = self.authed("maxframe")
        f = c.envelope("heartbeat", {"timestamp": time.time(), "guild_count": 0})
        c.send_frame(pad_to(f, 1_000_000))
        self.assertEqual(c.wait_op("heartbeat_ack", timeout=5)["target"], "maxframe")

    def test_zero_length_before_auth(self):
        self.hub()
        c = self.raw(self.port)
        c.send_raw(b"\x00\x00\x00\x00")
        self.assert_closed_silently(c, AT_ONCE_S, "zero length before auth")
        self.assert_still_serving()

    def test_zero_length_after_auth(self):
        self.hub()
        c = self.authed("zero")
        c.send_raw(b"\x00\x00\x00\x00")
        self.assert_closed_silently(c, AT_ONCE_S, "zero length after auth")
        self.assert_still_serving()

    def test_body_timeout(self):
        self.hub(SHARD_IPC_BODY_TIMEOUT_S=1)
        c = self.authed("dribble")
        c.send_raw(struct.pack(">I", 100) + b'{"op":"hea')
        t0 = time.monotonic()
        c.wait_closed(timeout=4)
        took = time.monotonic() - t0
        self.assertGreater(took, 0.7)
        self.assertLess(took, 3.0)
        self.assert_still_serving()

    def test_body_timeout_is_per_frame_not_per_stream(self):
        # A busy peer whose writes never end on a frame boundary: each write completes the
        # previous frame and starts the next. Every single frame arrives well within the body
        # timeout, so the connection must stay open for longer than that timeout.
        self.hub(SHARD_IPC_BODY_TIMEOUT_S=0.5)
        c = self.authed("streamer")
        frames = [encode_frame(c.envelope("heartbeat", {"timestamp": time.time()})) for _ in range(40)]
        half = len(frames[0]) // 2
        c.send_raw(frames[0][:half])
        scenario = Deadline(2.0, "two seconds of streaming")
        i = 0
        while not scenario.passed() and i + 1 < len(frames):
            c.send_raw(frames[i][half:] + frames[i + 1][:half])  # the pacing is the scenario
            i += 1
            pace(0.05)
        self.assertGreaterEqual(i, 20, "the stream did not last past the body timeout")
        c.send_raw(frames[i][half:])
        c.wait_op("heartbeat_ack", timeout=2)  # still linked, and answering
        self.assertFalse(c.closed)

    def test_idle_timeout_and_heartbeats_keep_alive(self):
        self.hub(SHARD_IPC_IDLE_TIMEOUT_S=1)
        busy = self.authed("busy")
        idle = self.authed("idle")
        t0 = time.monotonic()
        closed_at = None
        scenario = Deadline(2.6, "the end of the scenario")
        while not scenario.passed():
            # busy heartbeats every 0.25 s (the pacing is the scenario), idle never does.
            busy.send("heartbeat", {"timestamp": time.time(), "guild_count": 0})
            busy.wait_op("heartbeat_ack", timeout=2)
            if closed_at is None:
                try:
                    idle.wait_for(lambda f: False, timeout=0.25)
                except Closed:
                    closed_at = time.monotonic() - t0
                except Timeout:
                    pass
            else:
                pace(0.25)
        self.assertIsNotNone(closed_at, "idle link not closed after SHARD_IPC_IDLE_TIMEOUT_S=1")
        self.assertGreater(closed_at, 0.7)
        self.assertFalse(busy.closed)


class EnvelopeAbuseTest(AbuseCase):
    def test_malformed_json_before_auth(self):
        self.hub()
        c = self.raw(self.port)
        c.send_raw(encode_frame(b'{"op": "auth", "data": {"proto": 2,'))
        frames = c.wait_closed(timeout=3)
        self.assertTrue(all(f.get("op") == "auth_response" and f["data"]["success"] is False
                            for f in frames), frames)
        self.assert_still_serving()

    def test_malformed_json_after_auth(self):
        self.hub()
        c = self.authed("sloppy")
        peer = self.authed("peer")
        for body in (b'{"op": "heartbeat", "data": {', b"\xff\xfe{}", b"not json",
                     b'{"op":"stats_request","data":{},"x":NaN,"target":"peer"}'):
            with self.subTest(body=body):
                c.send_raw(encode_frame(body))
                err = c.wait_error("bad_json", timeout=3)
                self.assertNotIn("reply_to", err)
        c.send("heartbeat", {"timestamp": time.time(), "guild_count": 0})
        self.assertEqual(c.wait_op("heartbeat_ack", timeout=3)["target"], "sloppy")
        self.assertEqual(peer.none_within(lambda f: f.get("op") == "stats_request", 0.2), [])
        self.assert_still_serving()

    def test_not_an_object_before_auth(self):
        self.hub()
        c = self.raw(self.port)
        c.send_raw(encode_frame(b"[1, 2, 3]"))
        frames = c.wait_closed(timeout=3)
        self.assertTrue(all(f.get("op") == "auth_response" for f in frames), frames)
        self.assert_still_serving()

    def test_bad_envelope(self):
        self.hub()
        c = self.authed("shaky")
        peer = self.authed("peer")
        cases = {
            "data is a list": (c.envelope("stats_request", target="peer", id="e1"), "e1"),
            "data is a string": (c.envelope("stats_request", target="peer", id="e2"), "e2"),
            "no op": (c.envelope("stats_request", target="peer", id="e3"), "e3"),
            "op not a string": (c.envelope("stats_request", target="peer", id="e4"), "e4"),
        }
        cases["data is a list"][0]["data"] = [1]
        cases["data is a string"][0]["data"] = "x"
        del cases["no op"][0]["op"]
        cases["op not a string"][0]["op"] = 7
        for label, (frame, rid) in cases.items():
            with self.subTest(label):
                c.send_frame(frame)
                err = c.wait_error("bad_envelope", timeout=3)
                self.assertEqual(err.get("reply_to"), rid)
        for body in (b"[1, 2]", b'"just a string"', b"42"):
            with self.subTest(body=body):
                c.send_raw(encode_frame(body))
                c.wait_error("bad_envelope", timeout=3)
        self.assertEqual(peer.frames_within(QUIET_S), [], "a bad envelope was delivered")
        self.assert_still_serving()

    def test_unknown_op(self):
        self.hub()
        c = self.authed("weird")
        peer = self.authed("peer")
        c.send("frobnicate", {"x": 1}, target="peer", id="u1")
        err = c.wait_error("unknown_op", timeout=3)
        self.assertEqual(err.get("reply_to"), "u1")
        self.assertEqual(peer.frames_within(QUIET_S), [])
        self.assert_still_serving()

    def test_forbidden_for_admin(self):
        self.hub()
        adm = self.client(self.port, "dash", role="admin")
        peer = self.authed("peer")
        adm.send("stats_broadcast", {"cluster_name": "peer", "guild_count": 1}, target="peer",
                 id="x1")
        self.assertEqual(adm.wait_error("forbidden", timeout=3).get("reply_to"), "x1")
        adm.send("cluster_leave", {"cluster_name": "peer"}, target="all", id="x2")
        self.assertEqual(adm.wait_error("forbidden", timeout=3).get("reply_to"), "x2")
        self.assertEqual(peer.none_within(lambda f: f.get("op") in
                                          ("stats_broadcast", "cluster_leave"), QUIET_S), [])
        adm.send("stats_request", target="peer", id="ok1")   # a request is allowed
        self.assertEqual(peer.wait_op("stats_request", timeout=3)["id"], "ok1")
        self.assert_still_serving()


class HubOnlyOpsTest(AbuseCase):
    def test_cluster_cannot_forge_hub_frames(self):
        # cluster_join/cluster_leave/fanout/heartbeat_ack are hub -> client only (docs/protocol.md §4):
        # a cluster that sends one must not make others believe a peer left or joined.
        self.hub()
        a = self.authed("alpha")
        b = self.authed("beta")
        for i, op in enumerate(("cluster_leave", "cluster_join", "heartbeat_ack", "fanout")):
            with self.subTest(op=op):
                a.send(op, {"cluster_name": "beta", "targets": ["beta"]}, target="all",
                       id=f"forge{i}")
                err = a.wait_op("error", reply_to=f"forge{i}", timeout=3)
                self.assertEqual(err["data"]["code"], "forbidden")
        self.assertEqual(b.none_within(lambda f: f.get("source") == "alpha", QUIET_S), [])
        self.assert_still_serving()


class ReplayAbuseTest(AbuseCase):
    def test_replayed_nonce(self):
        self.hub()
        a = self.authed("alpha")
        b = self.authed("beta")
        first = a.send("stats_request", target="beta", id="r1")
        self.assertEqual(b.wait_op("stats_request", timeout=3)["id"], "r1")
        a.send("stats_request", target="beta", id="r2", nonce=first["nonce"])
        err = a.wait_error("replayed_nonce", timeout=3)
        self.assertEqual(err.get("reply_to"), "r2")
        self.assertEqual(b.none_within(lambda f: f.get("id") == "r2", QUIET_S), [])
        self.assert_still_serving()

    def test_replayed_raw_bytes(self):
        # A captured frame replayed byte for byte on the same connection.
        self.hub()
        a = self.authed("alpha")
        b = self.authed("beta")
        raw = encode_frame(a.envelope("guild_count_request", target="beta", id="rr"))
        a.send_raw(raw)
        b.wait_op("guild_count_request", timeout=3)
        a.send_raw(raw)
        a.wait_error("replayed_nonce", timeout=3)
        self.assertEqual(b.none_within(lambda f: f.get("id") == "rr", QUIET_S), [])

    def test_nonce_window_holds_10000(self):
        self.hub()
        a = self.authed("alpha")
        old = a.send("heartbeat", {"timestamp": time.time(), "guild_count": 0})
        a.wait_op("heartbeat_ack", timeout=3)
        # 9,999 more frames, all to a sink that never answers (and is not read).
        self.authed("sink")
        frames = [encode_frame(a.envelope("stats_broadcast", {"cluster_name": "alpha",
                                                              "guild_count": 0},
                                          target="sink"))
                  for _ in range(9_999)]
        a.send_raw(b"".join(frames))
        a.send("heartbeat", {"timestamp": time.time(), "guild_count": 0}, nonce=old["nonce"],
               id="replay-old")
        err = a.wait_error("replayed_nonce", timeout=10)
        self.assertEqual(err.get("reply_to"), "replay-old")
        skipped_errors = [f for f in a.seen if f.get("op") == "error"
                          and f["data"]["code"] != "replayed_nonce"]
        self.assertEqual(skipped_errors, [], "the 9,999 fillers were refused")
        self.assert_still_serving()

    def test_missing_nonce(self):
        self.hub()
        a = self.authed("alpha")
        b = self.authed("beta")
        a.send("stats_request", target="beta", id="m1", nonce=None)
        self.assertEqual(a.wait_error("missing_nonce", timeout=3).get("reply_to"), "m1")
        self.assertEqual(b.none_within(lambda f: f.get("id") == "m1", QUIET_S), [])
        self.assert_still_serving()

    def test_stale_timestamp(self):
        self.hub()
        a = self.authed("alpha")
        b = self.authed("beta")
        now = time.time()
        bad = {"old": now - 1000, "future": now + 1000, "missing": None, "string": "now",
               "just over": now - 330}
        for label, ts in bad.items():
            with self.subTest(label):
                a.send("stats_request", target="beta", id=f"t-{label}", timestamp=ts)
                err = a.wait_error("stale_timestamp", timeout=3)
                self.assertEqual(err.get("reply_to"), f"t-{label}")
        self.assertEqual(b.none_within(lambda f: f.get("id", "").startswith("t-"), QUIET_S), [])
        # Within the 300 s window is fine.
        a.send("stats_request", target="beta", id="fresh-ish", timestamp=time.time() - 250)
        b.wait_op("stats_request", id="fresh-ish", timeout=3)
        self.assert_still_serving()

    def test_spoofed_source(self):
        self.hub()
        a = self.authed("alpha")
        b = self.authed("beta")
        c = self.authed("gamma")
        a.send("stats_request", target="gamma", id="sp1", source="beta")
        self.assertEqual(a.wait_error("bad_source", timeout=3).get("reply_to"), "sp1")
        self.assertEqual(c.none_within(lambda f: f.get("id") == "sp1", QUIET_S), [])
        a.send("stats_request", target="gamma", id="sp2", source="alpha")  # honest source
        self.assertEqual(c.wait_op("stats_request", timeout=3)["id"], "sp2")
        self.assertEqual(b.none_within(lambda f: f.get("id") in ("sp1", "sp2"), 0.1), [])
        self.assert_still_serving()


class OversizeRewriteTest(AbuseCase):
    def test_max_size_frame_without_source_never_exceeds_the_cap_downstream(self):
        # A legal 1,000,000-byte frame with no `source`: the hub inserts `source`, which must
        # not turn it into a frame over the 1,000,000-byte cap, since every compliant
        # receiver (shardline run included) closes its link on such a frame.
        self.hub()
        alpha = self.start_cluster("alpha", self.port, [0], 1)
        linked_from = status.clients(status.hub_status(self.port))["alpha"]["address"]
        raw_peer = self.authed("beta")
        a = self.authed("sender")
        for target in ("beta", "alpha"):
            f = a.envelope("stats_request", target=target, id=f"big-{target}")
            a.send_frame(pad_to(f, 1_000_000))
        # beta reads every frame: its reader refuses a length prefix over the cap.
        try:
            raw_peer.wait_for(lambda f: f.get("id") == "big-beta", timeout=2, what="the 1,000,000-byte frame")
        except ValueError as e:
            self.fail(f"the hub sent beta a frame over the 1,000,000-byte cap: {e}")
        except Timeout:
            pass   # not forwarded at all: allowed (bounded wait)
        # alpha (shardline run) must stay linked and keep answering.
        a.send("guild_count_request", target="alpha", id="after-big")
        a.wait_op("guild_count_response", reply_to="after-big", timeout=5)
        self.assertEqual(status.clients(status.hub_status(self.port))["alpha"]["address"], linked_from,
                         "alpha's link was dropped and made again")
        self.assert_still_serving()


class HubNameTest(AbuseCase):
    def test_peer_cannot_take_down_a_server_mode_hub_by_its_name(self):
        # A server-mode cluster hosts the hub and links its own cluster under its name. A
        # peer authenticating with that name and a higher generation must not stop the hub:
        # every other cluster depends on it.
        main, self.port = self.start_server_cluster("main", [0], 2)
        self.hubp = main
        self.bystander = self.client(self.port, "bystander", shard_ids=[1], shard_count=2)
        c = self.raw(self.port)
        try:
            c.auth(self.secret, "main", generation=1)
        except AuthError:
            pass   # refusing the name is fine
        except Closed:
            pass
        self.assertTrue(main.stays_up(1.0), f"the hub process exited ({main.p.returncode}); "
                                            f"{main.tail(1500)}")
        self.assert_still_serving()


class DuplicateNameTest(AbuseCase):
    def status_names(self):
        adm = self.client(self.port, f"st-{new_nonce()[:6]}", role="admin")
        adm.send("hub_status_request", id="st")
        d = adm.wait_op("hub_status_response", reply_to="st", timeout=3)["data"]
        return [c["name"] for c in d["clients"] if c["role"] == "cluster"]

    def test_same_instance_replaces(self):
        self.hub()
        inst = random_hex16()
        old = self.authed("dup", instance=inst, generation=1)
        new = self.authed("dup", instance=inst, generation=1)
        self.assertIs(new.auth_response["success"], True)
        self.assertEqual(new.auth_response["connected_clients"].count("dup"), 1)
        old.wait_closed(timeout=3)
        self.bystander.send("stats_request", target="dup", id="d1")
        new.wait_op("stats_request", id="d1", timeout=3)
        self.assertEqual(self.status_names().count("dup"), 1)
        self.assert_still_serving()

    def test_higher_generation_supersedes(self):
        self.hub()
        old = self.authed("dup", generation=1)
        new = self.authed("dup", generation=2)
        self.assertIs(new.auth_response["success"], True)
        frames = old.wait_closed(timeout=3)
        codes = [f["data"].get("code") for f in frames if f.get("op") == "error"]
        self.assertEqual(codes, ["superseded"], frames)
        self.bystander.send("stats_request", target="dup", id="d2")
        new.wait_op("stats_request", id="d2", timeout=3)
        self.assertEqual(self.status_names().count("dup"), 1)
        self.assert_still_serving()

    def test_same_or_lower_generation_refused(self):
        self.hub()
        old = self.authed("dup", generation=5)
        for gen in (5, 4, 0):
            with self.subTest(generation=gen):
                c = self.raw(self.port)
                with self.assertRaises(AuthError) as cm:
                    c.auth(self.secret, "dup", generation=gen)
                self.assertEqual(cm.exception.response,
                                 {"success": False, "error": "Cluster name already connected"})
                c.wait_closed(timeout=3)
        self.bystander.send("stats_request", target="dup", id="d3")
        old.wait_op("stats_request", id="d3", timeout=3)
        self.assertFalse(old.closed)
        self.assert_still_serving()

    def test_run_cluster_superseded_exits_3(self):
        self.hub()
        zeta = self.start_cluster("zeta", self.port, [0], 1)
        newer = self.authed("zeta", generation=1)
        self.assertIs(newer.auth_response["success"], True)
        self.assertEqual(zeta.wait_exit(5), 3)
        # Exit code 3 is the state; the process's last word says why: both are the behaviour.
        zeta.assert_log(r"superseded by a newer generation", timeout=1)
        self.bystander.send("stats_request", target="zeta", id="z1")
        newer.wait_op("stats_request", id="z1", timeout=3)
        self.assert_still_serving()


def _closed_nonblocking(s):
    """True if the peer closed this socket, False if still open. Fails on data."""
    try:
        data = s.recv(1, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except (ConnectionResetError, ConnectionAbortedError):
        return True
    if data:
        raise AssertionError(f"hub sent {data!r} to an unauthenticated idle socket")
    return True


class FloodTest(AbuseCase):
    N_IDLE = 1000

    def open_idle(self, n, deadline_s=10.0):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 512), hard))
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        deadline = Deadline(deadline_s)
        for _ in range(n):
            if deadline.passed():
                self.fail(f"opening {n} idle sockets took over {deadline_s}s")
            s = socket.socket()
            s.settimeout(3)
            s.connect(("127.0.0.1", self.port))
            s.setblocking(False)   # probed later with non-blocking reads
            socks.append(s)
        return socks

    def settle_rss(self, timeout=5.0):
        """The hub's RSS once it stops moving: two looks 0.2 s apart within 64 KiB (or the
        last look at the deadline: a baseline, not a check)."""
        last = [self.hubp.rss_kb()]

        def settled():
            cur, prev = self.hubp.rss_kb(), last[0]
            last[0] = cur
            return cur if abs(cur - prev) < 64 else None
        try:
            return wait_until(settled, timeout, "hub RSS settling", pause=every(0.2))
        except Timeout:
            return last[0]

    def wait_rss_back(self, baseline, peak):
        """Until the hub's RSS is back to the baseline (with RSS_TOLERANCE_KB)."""
        return wait_until(lambda: (lambda r: r if r <= baseline + RSS_TOLERANCE_KB else None)(self.hubp.rss_kb()),
                          5, "hub RSS back to its baseline",
                          detail=lambda: f"hub RSS {self.hubp.rss_kb()} KiB vs baseline {baseline} KiB (peak {peak})")

    def test_1000_idle_unauthenticated_connections(self):
        self.hub()
        # Warm-up: one full flood cycle and an honest client, so allocator pools exist.
        warm = self.open_idle(self.N_IDLE)
        self.assert_serving(self.port, label="warm-up")
        for s in warm:
            s.close()
        baseline = self.settle_rss()

        socks = self.open_idle(self.N_IDLE)
        t0 = time.monotonic()
        c = self.client(self.port, "honest", timeout=2)
        self.assertLess(time.monotonic() - t0, 2.0, "honest auth too slow under a flood")
        c.send("heartbeat", {"timestamp": time.time(), "guild_count": 0})
        c.wait_op("heartbeat_ack", timeout=2)
        # SHARD_IPC_MAX_PENDING=256: the oldest idle sockets were closed by the hub.
        closed = wait_until(lambda: (lambda c: c if sum(c) >= self.N_IDLE - 256 else None)(
            [_closed_nonblocking(s) for s in socks]), 3, f"{self.N_IDLE - 256} idle sockets closed by the hub",
            detail=lambda: f"{sum(_closed_nonblocking(s) for s in socks)} closed")
        self.assertTrue(closed[0], "the oldest idle connection was not the one closed")
        self.assertFalse(closed[-1], "the newest idle connection was closed")
        peak = self.hubp.rss_kb()
        for s in socks:
            s.close()
        self.assert_still_serving()
        self.wait_rss_back(baseline, peak)

    def test_1000_half_sent_frames_cost_bounded_memory(self):
        # docs/protocol.md §6: unauthenticated connections cost bounded memory. Each of these announces
        # a 65,536-byte first frame (the pre-auth cap) and sends half of it, then stalls.
        self.hub()
        half = struct.pack(">I", 65_536) + b"{" + b" " * 32_767

        def flood():
            socks = self.open_idle(self.N_IDLE)
            for s in socks:
                try:
                    s.send(half)
                except (BlockingIOError, ConnectionError):
                    pass   # evicted already, or its buffer is full: both are fine
            return socks

        warm = flood()
        self.assert_serving(self.port, label="warm-up")
        for s in warm:
            s.close()
        baseline = self.settle_rss()
        socks = flood()
        c = self.client(self.port, "honest", timeout=2)
        self.assertIs(c.auth_response["success"], True)
        peak = self.hubp.rss_kb()
        # At most SHARD_IPC_MAX_PENDING=256 buffers of 64 KiB can be held at once.
        self.assertLess(peak - baseline, 256 * 64 + 8 * 1024,
                        f"peak {peak} KiB vs baseline {baseline} KiB")
        for s in socks:
            s.close()
        self.assert_still_serving()
        self.wait_rss_back(baseline, peak)

    def test_max_pending_evicts_oldest(self):
        self.hub(SHARD_IPC_MAX_PENDING=4)
        socks = self.open_idle(4)
        self.assertEqual([_closed_nonblocking(s) for s in socks], [False] * 4)
        fifth = self.open_idle(1)[0]
        wait_until(lambda: _closed_nonblocking(socks[0]), 3, "the oldest idle connection closed")
        self.assertEqual([_closed_nonblocking(s) for s in socks + [fifth]],
                         [True, False, False, False, False])
        c = self.client(self.port, "honest", timeout=2)   # evicts the next oldest
        self.assertIs(c.auth_response["success"], True)
        wait_until(lambda: _closed_nonblocking(socks[1]), 3, "the next oldest idle connection closed")
        self.assertEqual([_closed_nonblocking(s) for s in socks[1:] + [fifth]],
                         [True, False, False, False])
        self.assert_still_serving()

    def test_slow_consumer_closed_others_served(self):
        self.hub(SHARD_IPC_MAX_OUTBUF_KB=64)
        slow = Conn(self.port, rcvbuf=4096)
        self.addCleanup(slow.close)
        slow.auth(self.secret, "slow")
        flooder = self.authed("flooder")
        other = self.authed("other")
        base_rss = self.hubp.rss_kb()
        pad = "f" * 16_000
        flooder.sock.settimeout(5)
        sent = [0]

        def flood(deadline):   # one batch of 16 frames of 16 KB to the reader that reads nothing
            if sent[0] >= MAX_FLOOD_FRAMES:
                self.fail(f"no slow_consumer close after {sent[0]} frames ({sent[0] * 16} KB)")
            batch = b"".join(encode_frame(flooder.envelope(
                "broadcast_message", {"message": "flood", "author": "t", "author_id": 1},
                target="slow", x_pad=pad)) for _ in range(16))
            try:
                flooder.send_raw(batch)
            except socket.timeout:
                self.fail(f"the hub stopped reading the flooder after {sent[0]} frames "
                          "(stalled by the slow reader)")
            sent[0] += 16
        # Flood until the hub drops the slow reader (it leaves the hub's list of clients).
        with status.HubAdmin(self.port) as adm:
            wait_until(lambda: "slow" not in status.clients(adm.status()), 12, "slow reader dropped",
                       pause=flood, detail=lambda: f"{sent[0]} frames sent; {self.hubp.tail(2000)}")
        peak_rss = self.hubp.rss_kb()
        # The slow reader now drains: it must see error slow_consumer, then EOF.
        frames = slow.wait_closed(timeout=5)
        codes = [f["data"].get("code") for f in frames if f.get("op") == "error"]
        self.assertEqual(codes, ["slow_consumer"], f"{len(frames)} frames, errors {codes}")
        self.assertEqual(frames[-1]["op"], "error")
        self.assertLess(peak_rss - base_rss, 32 * 1024,
                        f"hub RSS grew {peak_rss - base_rss} KiB under a 64 KiB outbuf cap")
        # Others are still served, including the flooder.
        flooder.send("heartbeat", {"timestamp": time.time(), "guild_count": 0})
        flooder.wait_op("heartbeat_ack", timeout=5)
        msg = flooder.send("stats_request", target="other", id="after-flood")
        self.assertEqual(other.wait_op("stats_request", timeout=3)["nonce"], msg["nonce"])
        self.assert_still_serving()


if __name__ == "__main__":
    unittest.main()
