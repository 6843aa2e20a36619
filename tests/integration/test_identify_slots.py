"""Integration tests of the hub's IDENTIFY slots (docs/protocol.md §11): a real
`shardline hub` on port 0 grants IDENTIFYs for every cluster of the bot together, one per
bucket per window, within the daily budget. Waits are on frames and the hub's status, each
bounded.

    cd tests/integration && SHARDLINE_BIN=../../build/bin/shardline \
        python3 -m unittest -v test_identify_slots
"""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import status as hub_status  # noqa: E402
from peers.cases import HubCase  # noqa: E402

QUIET_S = 0.6  # bounded wait used only to prove that something does NOT arrive


def identify(conn, shard, shard_count, mc, window_ms, rid, budget=None, target="hub"):
    data = {"shard_id": shard, "shard_count": shard_count, "max_concurrency": mc,
            "window_ms": window_ms}
    if budget is not None:
        data["budget"] = budget
    return conn.send("identify_request", data, target=target, id=rid)


def status(conn, rid):
    conn.send("hub_status_request", id=rid)
    return conn.wait_op("hub_status_response", reply_to=rid, timeout=3)["data"]["identify"]


class IdentifySlotsTest(HubCase):
    def test_three_clusters_share_buckets_and_all_are_granted(self):
        hub, port = self.start_hub()
        window_s, mc, shard_count = 0.3, 2, 12
        clients = [self.client(port, f"c{i}", shard_ids=range(i * 4, i * 4 + 4),
                               shard_count=shard_count) for i in range(3)]
        # Each cluster asks for all its shards at once, as `shardline run` does at start.
        for i, c in enumerate(clients):
            for shard in range(i * 4, i * 4 + 4):
                identify(c, shard, shard_count, mc, 300, f"{c.name}-{shard}")

        grants, errors = [], []

        def collect(c, n):
            try:
                for _ in range(n):
                    f = c.wait_op("identify_grant", timeout=10)
                    grants.append((time.monotonic(), c.name, f))
            except AssertionError as e:  # Timeout / Closed: reported by the main thread
                errors.append(e)
        threads = [threading.Thread(target=collect, args=(c, 4)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        self.assertFalse(any(t.is_alive() for t in threads), "a collector is still waiting")
        self.assertEqual(errors, [])
        self.assertEqual(len(grants), 12)

        per_bucket = {}
        for at, name, f in grants:
            d = f["data"]
            self.assertEqual(f["reply_to"], f"{name}-{d['shard_id']}")
            self.assertEqual(f["target"], name)
            self.assertEqual(f["source"], "hub")
            self.assertEqual(d["shard_count"], shard_count)
            self.assertEqual(d["bucket"], d["shard_id"] % mc)
            self.assertIsNone(d["remaining"])  # no cluster reported a budget
            per_bucket.setdefault(d["bucket"], []).append(at)
        self.assertEqual(sorted({f["data"]["shard_id"] for _, _, f in grants}), list(range(12)))
        self.assertEqual(sorted(per_bucket), [0, 1])
        for bucket, times in per_bucket.items():
            times.sort()
            self.assertEqual(len(times), 6)
            gaps = [b - a for a, b in zip(times, times[1:])]
            # The hub spaces grants by window + slack (400 ms); receipt jitter eats some of
            # the slack, never the window.
            self.assertGreaterEqual(min(gaps), window_s, f"bucket {bucket}: gaps {gaps}")
        first = min(at for at, _, _ in grants)
        last = max(at for at, _, _ in grants)
        # ceil(12 / 2) = 6 grants per bucket: 5 spacings of 0.4 s, plus scheduling noise.
        self.assertLess(last - first, 5 * 0.4 + 0.8)

        st = status(clients[0], "st")
        self.assertEqual(st["granted"], 12)
        self.assertEqual(st["queued"], 0)
        self.assertEqual(st["max_concurrency"], 2)
        self.assertEqual(st["window_ms"], 300)
        self.assertIsNone(st["budget_remaining"])
        self.assertEqual(st["refused_budget"], 0)

    def test_budget_reserve_refuses_and_does_not_queue(self):
        hub, port = self.start_hub(SHARD_IDENTIFY_RESERVE=3)
        a = self.client(port, "alpha", shard_ids=[0, 1, 2, 3], shard_count=4)
        budget = {"total": 1000, "remaining": 5, "reset_after_ms": 3_600_000}
        # max_concurrency 4: every shard has its own bucket, so only the budget can refuse.
        # No target: the hub handles identify_request whatever the target says.
        identify(a, 0, 4, 4, 300, "r0", budget=budget, target=None)
        g0 = a.wait_op("identify_grant", reply_to="r0", timeout=3)["data"]
        self.assertEqual(g0["remaining"], 4)
        identify(a, 1, 4, 4, 300, "r1")
        self.assertEqual(a.wait_op("identify_grant", reply_to="r1", timeout=3)["data"]["remaining"], 3)
        identify(a, 2, 4, 4, 300, "r2")
        err = a.wait_error("identify_budget", reply_to="r2", timeout=3)
        self.assertRegex(err["data"]["message"],
                         r"^session_start_limit: 3 IDENTIFYs left, keeping 3 in reserve; "
                         r"resets in (3600|3599) s$")
        # Counted by the hub (on another connection: what reaches `a` is watched below).
        self.assertEqual(hub_status.hub_status(port)["identify"]["refused_budget"], 1)
        # Refused, not queued: nothing for r2 ever comes.
        self.assertEqual(a.none_within(lambda f: f.get("reply_to") == "r2", QUIET_S), [])
        # A higher (older) report does not raise the hub's view.
        identify(a, 3, 4, 4, 300, "r3", budget={"total": 1000, "remaining": 900,
                                                "reset_after_ms": 3_600_000})
        a.wait_error("identify_budget", reply_to="r3", timeout=3)
        st = status(a, "st")
        self.assertEqual((st["granted"], st["queued"], st["budget_remaining"], st["refused_budget"]),
                         (2, 0, 3, 2))

    def test_bad_requests_and_admins_get_errors(self):
        hub, port = self.start_hub()
        a = self.client(port, "alpha", shard_ids=[0], shard_count=1)
        adm = self.client(port, "dash", role="admin")
        identify(adm, 0, 1, 1, 300, "adm1")
        self.assertIn("cluster", adm.wait_error("forbidden", reply_to="adm1", timeout=3)["data"]["message"])
        for rid, data, words in (
                ("b1", {"shard_id": 2, "shard_count": 2, "max_concurrency": 1}, "shard_id"),
                ("b2", {"shard_id": 0, "shard_count": 1, "max_concurrency": 0}, "max_concurrency"),
                ("b3", {"shard_id": "0", "shard_count": 1, "max_concurrency": 1}, "shard_id"),
                ("b4", {"shard_id": 0, "shard_count": 1, "max_concurrency": 1, "window_ms": 10},
                 "window_ms"),
                ("b5", {"shard_id": 0, "shard_count": 1, "max_concurrency": 1,
                        "budget": {"total": 5, "remaining": 6, "reset_after_ms": 1}}, "budget"),
                ("b6", {"shard_count": 1, "max_concurrency": 1}, "shard_id")):
            a.send("identify_request", data, target="hub", id=rid)
            e = a.wait_error("bad_request", reply_to=rid, timeout=3)
            self.assertIn(words, e["data"]["message"], rid)
        a.send("identify_request", {"shard_id": 0, "shard_count": 1, "max_concurrency": 1})
        self.assertIn("id", a.wait_error("bad_request", timeout=3)["data"]["message"])
        # Clusters may not forge grants.
        a.send("identify_grant", {"shard_id": 0}, target="dash", id="forged")
        a.wait_error("forbidden", reply_to="forged", timeout=3)
        self.assertEqual(status(a, "st")["granted"], 0)
        self.assert_serving(port)

    def test_disconnected_client_loses_its_queue_without_blocking_others(self):
        hub, port = self.start_hub()
        window_ms, spacing_s = 1000, 1.1  # window + max(100 ms, window / 20)
        a = self.client(port, "alpha", shard_ids=[0], shard_count=8)
        gone = self.client(port, "gone", shard_ids=[1, 2, 3], shard_count=8)
        b = self.client(port, "beta", shard_ids=[4], shard_count=8)
        # max_concurrency 1: one bucket, so everything queues behind alpha's grant.
        identify(a, 0, 8, 1, window_ms, "a0")
        a.wait_op("identify_grant", reply_to="a0", timeout=3)
        t_a = time.monotonic()
        for s in (1, 2, 3):
            identify(gone, s, 8, 1, window_ms, f"g{s}")
        self.assertEqual(status(gone, "g-st")["queued"], 3)  # the hub has them, in order
        # A retry replaces beta's queued request: only the newest id is answered.
        identify(b, 4, 8, 1, window_ms, "b4-old")
        identify(b, 4, 8, 1, window_ms, "b4-new")
        self.assertEqual(status(b, "b-st")["queued"], 4)
        gone.close()
        # Closing dropped gone's three requests: only beta's is queued.
        hub_status.wait_hub(port, lambda st: st["identify"]["queued"] == 1, "gone's requests dropped", timeout=3)
        # ipc-hub.md documents this line: the operator's record of what was dropped.
        hub.assert_log(r"identify: dropped 3 queued request\(s\) of gone", timeout=3)
        g = b.wait_op("identify_grant", reply_to="b4-new", timeout=5)
        t_b = time.monotonic()
        self.assertEqual(g["data"]["shard_id"], 4)
        self.assertGreaterEqual(t_b - t_a, window_ms / 1000)
        # Had gone's three requests stayed ahead, beta would wait 4 spacings (4.4 s).
        self.assertLess(t_b - t_a, 2 * spacing_s)
        self.assertEqual(b.none_within(lambda f: f.get("reply_to") == "b4-old", QUIET_S), [])
        st = status(b, "st2")
        self.assertEqual((st["granted"], st["queued"]), (2, 0))


if __name__ == "__main__":
    unittest.main()
