"""Integration tests of the hub's REST coordinator ops (docs/protocol.md §13.3) on the wire: a
real `shardline hub` on port 0 grants REST calls for every cluster of the bot from one state,
learns buckets from the reports, refuses what would wait too long or what the invalid-request
guard blocks, and answers malformed frames with a clear error. The multi-process acceptance of
issue 15 (bots through endpoints against the simulator) is test_rest_coordination.

    cd tests/integration && SHARDLINE_BIN=../../build/bin/shardline \\
        python3 -m unittest -v test_rest_coordinator_ops
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import status as hub_status  # noqa: E402
from peers.cases import HubCase  # noqa: E402

QUIET_S = 0.5  # bounded wait used only to prove that something does NOT arrive
MESSAGES = {"route": "POST /channels/{channel}/messages", "major": "channel:1", "exempt": False}
BANS = {"route": "PUT /guilds/{guild}/bans/{id}", "major": "guild:5", "exempt": False}


def acquire(conn, rid, what=MESSAGES, **extra):
    conn.send("rest_acquire", dict(what, **extra), target="hub", id=rid)


def grant_of(conn, rid, timeout=5):
    return conn.wait_op("rest_grant", reply_to=rid, timeout=timeout)["data"]


def report(conn, grant, what=MESSAGES, status=200, **fields):
    conn.send("rest_report", dict(what, grant=grant, status=status, **fields), target="hub")


class RestCoordinatorOpsTest(HubCase):
    def test_two_clusters_share_one_bucket_learned_from_reports(self):
        hub, port = self.start_hub()
        c1, c2 = self.client(port, "c1"), self.client(port, "c2")
        acquire(c1, "a1")
        g1 = grant_of(c1, "a1")
        self.assertTrue(g1["granted"], g1)
        # The bucket is unknown until its first answer: one request at a time, bot-wide.
        acquire(c2, "b1")
        self.assertEqual([], c2.none_within(lambda f: f.get("op") == "rest_grant", QUIET_S),
                         "a second request went before the bucket's first answer")
        report(c1, g1["grant"], bucket="abc", limit=2, remaining=1, reset_after=1.5)
        g2 = grant_of(c2, "b1")
        self.assertTrue(g2["granted"], g2)
        # Two in the window (the probe and c2's): c1's next waits for the window's end.
        acquire(c1, "a2")
        self.assertEqual([], c1.none_within(lambda f: f.get("op") == "rest_grant", QUIET_S),
                         "granted past the bucket's limit")
        report(c2, g2["grant"], bucket="abc", limit=2, remaining=0, reset_after=1.4)
        g3 = grant_of(c1, "a2", timeout=4)
        self.assertTrue(g3["granted"], g3)
        rest = hub_status.hub_status(port)["rest"]
        self.assertEqual(rest["granted"], 3, rest)
        self.assertGreaterEqual(rest["waited"], 2, rest)
        self.assertEqual(rest["rate_limited"]["user"], 0, rest)

    def test_a_wait_past_the_maximum_is_refused_at_once_with_the_wait(self):
        # Above the hub's one second of grace after its start (docs/rest.md).
        hub, port = self.start_hub(SHARD_REST_MAX_WAIT_MS=2000)
        c = self.client(port, "c1")
        acquire(c, "a1")
        g = grant_of(c, "a1")
        report(c, g["grant"], bucket="abc", limit=1, remaining=0, reset_after=5.0)
        acquire(c, "a2")
        r = grant_of(c, "a2", timeout=2)
        self.assertFalse(r["granted"], r)
        self.assertEqual(r["reason"], "max_wait", r)
        self.assertGreater(r["retry_after"], 4.0, r)

    def test_the_guard_blocks_a_route_of_403s_and_names_it_while_others_go_on(self):
        hub, port = self.start_hub(SHARD_REST_ROUTE_INVALID_LIMIT=3)
        c = self.client(port, "c1")
        for i in range(3):
            acquire(c, f"ban{i}", BANS)
            g = grant_of(c, f"ban{i}")
            self.assertTrue(g["granted"], g)
            report(c, g["grant"], BANS, status=403, bucket="bans", limit=50, remaining=49 - i, reset_after=5)
        acquire(c, "ban3", BANS)
        r = grant_of(c, "ban3")
        self.assertFalse(r["granted"], r)
        self.assertEqual(r["reason"], "invalid_guard", r)
        self.assertIn("PUT /guilds/{guild}/bans/{id}", r["message"])
        acquire(c, "msg", MESSAGES)
        self.assertTrue(grant_of(c, "msg")["granted"], "another route must keep working")
        rest = hub_status.hub_status(port)["rest"]
        self.assertEqual(rest["invalid_window"], 3, rest)
        self.assertEqual(rest["blocked_routes"], ["PUT /guilds/{guild}/bans/{id}"], rest)
        # The log line for the operator is itself the behaviour under test here.
        hub.assert_log(r"REST guard: blocked PUT /guilds/\{guild\}/bans/\{id\}")

    def test_malformed_frames_get_a_clear_error_and_the_hub_serves_on(self):
        hub, port = self.start_hub()
        c = self.client(port, "c1")
        c.send("rest_acquire", MESSAGES, target="hub")  # no id: the grant could not answer it
        self.assertIn("needs an id", c.wait_error("bad_request")["data"]["message"])
        c.send("rest_acquire", {"major": "channel:1"}, target="hub", id="x1")
        self.assertIn("route", c.wait_error("bad_request", reply_to="x1")["data"]["message"])
        c.send("rest_acquire", dict(MESSAGES, route="GET /" + "a" * 300), target="hub", id="x2")
        self.assertIn("256", c.wait_error("bad_request", reply_to="x2")["data"]["message"])
        c.send("rest_report", dict(MESSAGES, grant=1, status=429, scope="nonsense"), target="hub", id="x3")
        self.assertIn("scope", c.wait_error("bad_request", reply_to="x3")["data"]["message"])
        c.send("rest_sync", {"buckets": [{"route": "GET /x"}]}, target="hub", id="x4")
        self.assertIn("limit", c.wait_error("bad_request", reply_to="x4")["data"]["message"])
        admin = self.client(port, "tool", role="admin")
        admin.send("rest_acquire", MESSAGES, target="hub", id="y1")
        admin.wait_error("forbidden", reply_to="y1")
        self.assert_serving(port, hub)
        self.assertEqual(hub_status.hub_status(port)["rest"]["requests"], 0)


if __name__ == "__main__":
    unittest.main()
