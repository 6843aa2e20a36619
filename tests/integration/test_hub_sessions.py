"""Integration tests of the hub's shard sessions (docs/protocol.md §12): a real
`shardline hub` on port 0 keeps the Discord sessions clusters report, so a process started
elsewhere can look them up and RESUME. Waits are on frames, each bounded; that something is NOT
delivered is proven with a marker frame sent after it on the same connection (the hub handles a
connection's frames in order, so anything forwarded would arrive before the marker).

    cd tests/integration && SHARDLINE_BIN=../../build/bin/shardline \
        python3 -m unittest -v test_hub_sessions
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import status  # noqa: E402
from peers.cases import HubCase  # noqa: E402
from peers.v2 import new_nonce  # noqa: E402

URL = "wss://gateway-us-east1-b.discord.gg"
SESSION_OPS = {"session_report", "session_lookup", "session_report_ack", "session_lookup_response"}


def entry(shard, session_id, seq, url=URL):
    return {"shard_id": shard, "session_id": session_id, "seq": seq, "resume_url": url}


def report(conn, shard_count, sessions, rid=None, target="hub"):
    return conn.send("session_report", {"shard_count": shard_count, "sessions": sessions},
                     target=target, id=rid)


def report_ack(conn, shard_count, sessions, rid):
    report(conn, shard_count, sessions, rid)
    return conn.wait_op("session_report_ack", reply_to=rid, timeout=5)["data"]


def lookup(conn, shard_count, shard_ids, rid, target="hub"):
    conn.send("session_lookup", {"shard_count": shard_count, "shard_ids": list(shard_ids)},
              target=target, id=rid)
    return conn.wait_op("session_lookup_response", reply_to=rid, timeout=5)["data"]


def by_shard(data):
    return {s["shard_id"]: s for s in data["sessions"]}


def hub_status(conn, rid):
    conn.send("hub_status_request", id=rid)
    return conn.wait_op("hub_status_response", reply_to=rid, timeout=5)["data"]


class HubSessionsTest(HubCase):
    def test_a_fresh_process_gets_the_sessions_another_reported(self):
        hub, port = self.start_hub()
        a = self.client(port, "alpha", shard_ids=[0, 1, 2, 3], shard_count=4)
        ack = report_ack(a, 4, [entry(i, f"sess{i}abc", 100 + i) for i in range(4)], "r1")
        self.assertEqual(ack, {"stored": 4, "deleted": 0, "ignored": 0})
        # The process dies; its replacement (another name, another machine) asks the hub.
        a.close()
        status.wait_gone(port, "alpha", timeout=5)
        b = self.client(port, "alpha-2", shard_ids=[0, 1, 2, 3], shard_count=4)
        got = lookup(b, 4, [0, 1, 2, 3], "l1")
        self.assertNotIn("more", got)
        self.assertEqual(sorted(by_shard(got)), [0, 1, 2, 3])
        for i, s in by_shard(got).items():
            self.assertEqual(s["shard_count"], 4)
            self.assertEqual(s["session_id"], f"sess{i}abc")
            self.assertEqual(s["seq"], 100 + i)
            self.assertEqual(s["resume_url"], URL)
            self.assertEqual(s["reported_by"], "alpha")
            self.assertGreaterEqual(s["age_s"], 0)
            self.assertLess(s["age_s"], 30)
        # Only shards the hub knows are answered; another layout is another shard.
        self.assertEqual(lookup(b, 8, [0, 1, 2, 3], "l2")["sessions"], [])
        self.assertEqual(sorted(by_shard(lookup(b, 4, [3, 3, 1], "l3"))), [1, 3])
        # The hub's record of who looked sessions up, with counts and never an id (ipc-hub.md):
        # no status API counts lookups, so the log line is the behaviour checked.
        hub.assert_log(r"sessions: alpha-2 looked up 4 shard\(s\) of 4: 4 known", timeout=3)
        self.assertNotRegex(hub.log(), r"sess\dabc")

    def test_stale_seq_does_not_overwrite_new_session_replaces_null_deletes(self):
        hub, port = self.start_hub()
        a = self.client(port, "alpha", shard_ids=[0, 1], shard_count=2)
        b = self.client(port, "beta")
        report_ack(a, 2, [entry(0, "s0", 500), entry(1, "s1", 7)], "r1")
        # Sent before a reconnect, delivered after the newer report: ignored, not an error.
        ack = report_ack(a, 2, [entry(0, "s0", 450, "wss://old.example")], "r2")
        self.assertEqual(ack, {"stored": 0, "deleted": 0, "ignored": 1})
        s0 = by_shard(lookup(b, 2, [0], "l1"))[0]
        self.assertEqual((s0["seq"], s0["resume_url"]), (500, URL))
        # Fire and forget (no id): no ack; a later request on the same link orders after it.
        report(a, 2, [entry(0, "s0", 900)])
        lookup(a, 2, [0], "barrier1")
        self.assertEqual(by_shard(lookup(b, 2, [0], "l2"))[0]["seq"], 900)
        # A new IDENTIFY: a new session_id replaces the old whatever its seq.
        report_ack(a, 2, [entry(0, "fresh", 1)], "r3")
        s0 = by_shard(lookup(b, 2, [0], "l3"))[0]
        self.assertEqual((s0["session_id"], s0["seq"]), ("fresh", 1))
        # Discord invalidated shard 1's session: null deletes it.
        ack = report_ack(a, 2, [{"shard_id": 1, "session_id": None}], "r4")
        self.assertEqual(ack, {"stored": 0, "deleted": 1, "ignored": 0})
        self.assertEqual(sorted(by_shard(lookup(b, 2, [0, 1], "l4"))), [0])
        self.assertEqual(hub_status(b, "st")["sessions_known"], 1)
        # Nothing of these frames ever reached the bystander cluster.
        self.assertEqual([f for f in b.seen if f.get("op") in ("session_report",)], [])

    def test_bad_input_is_refused_whole_with_a_clear_error(self):
        hub, port = self.start_hub()
        a = self.client(port, "alpha", shard_ids=[0, 1, 2, 3], shard_count=4)
        report_ack(a, 4, [entry(0, "keep", 1)], "r0")
        for rid, data, words in (
                # The deletion before the bad entry must not happen either.
                ("b1", {"shard_count": 4, "sessions": [{"shard_id": 0, "session_id": None},
                                                       entry(5, "x", 1)]},
                 "sessions[1].shard_id 5 is not below shard_count 4"),
                ("b2", {"shard_count": 4, "sessions": [entry(1, "has space", 1)]},
                 "sessions[0].session_id"),
                ("b3", {"shard_count": 4, "sessions": [entry(1, "x" * 129, 1)]},
                 "sessions[0].session_id"),
                ("b4", {"shard_count": 4, "sessions": [entry(1, "ok", 1, "https://x")]},
                 "sessions[0].resume_url"),
                ("b5", {"shard_count": 4, "sessions": [entry(1, "ok", 1, "wss://" + "h" * 507)]},
                 "resume_url"),
                ("b6", {"shard_count": 4, "sessions": [entry(1, "ok", -1)]}, "sessions[0].seq"),
                ("b7", {"shard_count": 0, "sessions": []}, "shard_count"),
                ("b8", {"shard_count": 4, "sessions": "all"}, "sessions"),
                ("b9", {"shard_count": 4, "sessions": [{"shard_id": 0, "session_id": None}] * 4097},
                 "at most 4096")):
            report(a, data["shard_count"], data["sessions"], rid)
            e = a.wait_error("bad_request", reply_to=rid, timeout=5)
            self.assertIn(words, e["data"]["message"], rid)
        # Without an id the error still comes, without reply_to.
        report(a, 4, [entry(9, "x", 1)])
        self.assertNotIn("reply_to", a.wait_error("bad_request", timeout=5))
        for rid, data, words in (
                ("q1", {"shard_count": 4, "shard_ids": [4]}, "shard_ids[0]"),
                ("q2", {"shard_count": 4, "shard_ids": "0"}, "shard_ids"),
                ("q3", {"shard_count": 4, "shard_ids": [0] * 4097}, "at most 4096")):
            a.send("session_lookup", data, target="hub", id=rid)
            self.assertIn(words, a.wait_error("bad_request", reply_to=rid, timeout=5)["data"]["message"])
        a.send("session_lookup", {"shard_count": 4, "shard_ids": [0]}, target="hub")
        self.assertIn("id", a.wait_error("bad_request", timeout=5)["data"]["message"])
        # Clients may not forge the hub's answers.
        a.send("session_lookup_response", {"sessions": []}, target="alpha", id="forged")
        a.wait_error("forbidden", reply_to="forged", timeout=5)
        # Nothing of the refused reports was stored, and the first report is intact.
        got = by_shard(lookup(a, 4, range(4), "l1"))
        self.assertEqual(list(got), [0])
        self.assertEqual(got[0]["session_id"], "keep")
        self.assert_serving(port)

    def test_admins_cannot_report_or_see_sessions_and_other_clusters_never_get_the_frames(self):
        hub, port = self.start_hub()
        a = self.client(port, "alpha", shard_ids=[0, 1], shard_count=4)
        c = self.client(port, "gamma", shard_ids=[2, 3], shard_count=4)
        adm = self.client(port, "dash", role="admin")
        secret_ids = [f"secret{i}{new_nonce()[:12]}" for i in range(4)]
        # Whatever the target says, the hub keeps these frames to itself.
        report_ack(a, 4, [entry(0, secret_ids[0], 1)], "t-hub")
        report(a, 4, [entry(1, secret_ids[1], 1)], "t-all", target="all")
        a.wait_op("session_report_ack", reply_to="t-all", timeout=5)
        report(a, 4, [entry(2, secret_ids[2], 1)], "t-gamma", target="gamma")
        a.wait_op("session_report_ack", reply_to="t-gamma", timeout=5)
        report(a, 4, [entry(3, secret_ids[3], 1)], None, target="shard:2")
        self.assertEqual(len(lookup(a, 4, range(4), "t-lookup", target="all")["sessions"]), 4)

        adm.send("session_report", {"shard_count": 4, "sessions": [entry(0, "adminforged", 99)]},
                 target="hub", id="adm1")
        self.assertIn("cluster", adm.wait_error("forbidden", reply_to="adm1", timeout=5)["data"]["message"])
        adm.send("session_lookup", {"shard_count": 4, "shard_ids": [0, 1, 2, 3]}, target="hub", id="adm2")
        adm.wait_error("forbidden", reply_to="adm2", timeout=5)
        self.assertEqual(by_shard(lookup(a, 4, [0], "l-after-admin"))[0]["session_id"], secret_ids[0])

        st = hub_status(adm, "st")
        self.assertEqual(st["sessions_known"], 4)
        st_text = json.dumps(st)
        for sid in secret_ids:
            self.assertNotIn(sid, st_text)

        # A marker after everything on alpha's link: gamma gets it only after anything forwarded.
        marker = new_nonce()
        a.send("broadcast_message", {"message": marker, "author": "test", "author_id": 1}, target="all")
        c.wait_for(lambda f: f.get("op") == "broadcast_message"
                   and f.get("data", {}).get("message") == marker, timeout=5, what="marker")
        for conn in (c, adm):
            leaked = [f for f in conn.seen
                      if f.get("op") in SESSION_OPS or any(s in json.dumps(f) for s in secret_ids)]
            self.assertEqual(leaked, [], conn.name)

    def test_an_answer_too_large_for_one_frame_lists_the_rest_in_more(self):
        hub, port = self.start_hub()
        a = self.client(port, "alpha-with-a-rather-long-cluster-name-for-this-test",
                        shard_ids=[], shard_count=4096)
        # 4,096 sessions of maximal size: about 3.5 MB of answer, far over one frame.
        big_url = "wss://" + "g" * 506
        sent = {}
        for start in range(0, 4096, 1024):
            batch = []
            for i in range(start, start + 1024):
                sid = f"{i:06d}" + "s" * 122
                sent[i] = sid
                batch.append(entry(i, sid, 2 ** 53 - i, big_url))
            self.assertEqual(report_ack(a, 4096, batch, f"r{start}")["stored"], 1024)
        got, asked, rounds = {}, list(range(4096)), 0
        while asked:
            rounds += 1
            self.assertLess(rounds, 10, "the answers make no progress")
            d = lookup(a, 4096, asked, f"l{rounds}")
            got.update(by_shard(d))
            asked = d.get("more", [])
            self.assertTrue(d["sessions"], "an answer with nothing in it")
        self.assertGreater(rounds, 1)
        self.assertEqual(sorted(got), list(range(4096)))
        self.assertTrue(all(got[i]["session_id"] == sent[i] and got[i]["seq"] == 2 ** 53 - i
                            for i in range(4096)))

    def test_the_hub_refuses_reports_past_its_cap(self):
        hub, port = self.start_hub()
        a = self.client(port, "alpha")
        # Default cap: 65,536 entries in all (16 layouts of 4,096 shards here).
        for layout in range(16):
            count = 4096 + layout
            ack = report_ack(a, count, [entry(i, "s", 1, "ws://h") for i in range(4096)], f"r{layout}")
            self.assertEqual(ack["stored"], 4096)
        report(a, 1, [entry(0, "one-more", 1)], "over")
        e = a.wait_error("too_many_sessions", reply_to="over", timeout=5)
        self.assertIn("65536", e["data"]["message"])
        # ipc-hub.md: the hub logs the first refusal (the behaviour checked here).
        hub.assert_log(r"sessions: refused a report of alpha", timeout=3)
        # Updates of stored shards still go through, and deleting makes room.
        self.assertEqual(report_ack(a, 4096, [entry(0, "s", 2, "ws://h")], "upd")["stored"], 1)
        ack = report_ack(a, 4096, [{"shard_id": 1, "session_id": None}, entry(0, "n", 1)], "del")
        self.assertEqual(ack["deleted"], 1)
        self.assertEqual(report_ack(a, 1, [entry(0, "one-more", 1)], "fits")["stored"], 1)
        self.assertEqual(hub_status(a, "st")["sessions_known"], 65536)
        self.assert_serving(port)


if __name__ == "__main__":
    unittest.main()
