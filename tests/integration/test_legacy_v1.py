"""Integration tests of protocol version 1 (legacy auth): a clean-room Python peer written
from docs/protocol.md and the seed document (peers/legacy.py) against real shardline
processes, both ways round. Real processes on loopback, port 0.

    cd tests/integration && SHARDLINE_BIN=../../build/bin/shardline \
        python3 -m unittest -v test_legacy_v1
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import procs  # noqa: E402
from peers.cases import HubCase  # noqa: E402
from peers.legacy import ENVELOPE_KEYS, V1_PRESETS, AuthRefused, is_nan  # noqa: E402
from peers.legacy_client import LegacyClient  # noqa: E402
from peers.legacy_server import LegacyServer  # noqa: E402
from peers.v2 import guild_on_shard  # noqa: E402  (v2 side of mixed networks only)
from peers.wait import hold  # noqa: E402

QUIET_S = 0.5          # bounded wait used only to prove that something does NOT arrive
OWNER_ID = 987654321098765432


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class LegacyCase(HubCase):
    def start_legacy_hub(self, **env):
        return self.start_hub(SHARD_IPC_LEGACY_AUTH="true", **env)

    def v1(self, port, name, shard_ids=(), shard_count=1, connect=True, secret=None, **kw):
        c = LegacyClient(port, secret or self.secret, name, shard_ids, shard_count, **kw)
        self.addCleanup(c.close)
        if connect:
            c.connect(timeout=3)
        return c

    def legacy_server(self, **kw):
        srv = LegacyServer(self.secret, **kw)
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def assert_v1_envelope(self, msg, label=""):
        """Exactly the seed's six keys: no v2 id / reply_to / anything else."""
        self.assertEqual(set(msg), ENVELOPE_KEYS, f"{label}: {msg}")
        self.assertIsInstance(msg["data"], dict, label)
        self.assertIsInstance(msg["nonce"], str, label)
        self.assertTrue(is_number(msg["timestamp"]), label)
        self.assertLess(abs(msg["timestamp"] - time.time()), 60, label)


# --------------------------------------------------------------------------- hub auth

class HubLegacyAuthTest(LegacyCase):
    def test_v1_peer_joins_hub_in_legacy_mode(self):
        hub, port = self.start_legacy_hub()
        beta = self.client(port, "beta", shard_ids=[2, 3], shard_count=4)   # a v2 cluster
        p = self.v1(port, "py-v1", [0, 1], 4, guild_count=12)
        r = p.auth_response
        self.assertIs(r["success"], True)
        self.assertEqual(r["server_cluster"], "hub")
        self.assertEqual(sorted(r["connected_clients"]), ["beta", "py-v1"])
        # A v1 peer gets the seed's answer: no v2 fields.
        self.assertNotIn("proto", r)
        self.assertNotIn("server_mac", r)
        self.assert_v1_envelope(p.auth_envelope, "auth_response")
        j = beta.wait_op("cluster_join", timeout=3)
        self.assertEqual(j["data"], {"cluster_name": "py-v1", "shard_ids": [0, 1]})
        # The hub sees it as a version-1 cluster with what it announced.
        adm = self.client(port, "dash", role="admin")
        adm.send("hub_status_request", id="hs")
        d = adm.wait_op("hub_status_response", reply_to="hs", timeout=3)["data"]
        self.assertIs(d["legacy_auth"], True)
        me = {c["name"]: c for c in d["clients"]}["py-v1"]
        self.assertEqual((me["proto"], me["role"], me["shard_ids"], me["shard_count"],
                          me["guild_count"]), (1, "cluster", [0, 1], 4, 12))
        self.assertEqual(me["address"], "127.0.0.1:%d" % p.local_port)
        # The plaintext secret was on the wire (that is what v1 is), and nothing v2 came back.
        self.assertIn(('"secret": "%s"' % self.secret).encode(), p.sent[0])
        p.heartbeat()
        ack = p.wait_op("heartbeat_ack", timeout=3)
        self.assert_v1_envelope(ack, "heartbeat_ack")
        self.assertEqual(p.none_within(lambda m: m.get("op") in ("error", "auth_challenge",
                                                                 "fanout"), 0.1), [])
        # The peer's heartbeat (target "all", as send_message defaults) is the hub's alone.
        self.assertEqual(beta.none_within(lambda f: f.get("op") == "heartbeat", QUIET_S), [])

    def test_refused_when_legacy_auth_is_off(self):
        hub, port = self.start_hub()                       # SHARD_IPC_LEGACY_AUTH unset
        p = self.v1(port, "py-v1", [0], 1, connect=False)
        with self.assertRaises(AuthRefused) as cm:
            p.connect(timeout=3)
        self.assertEqual(cm.exception.response, {"success": False,
                                                 "error": "Legacy auth disabled"})
        self.assertEqual(p.wait_closed(timeout=3), [])
        # The audit line is the behaviour: a refused peer leaves no state but this record.
        hub.assert_log(r"auth failed from 127\.0\.0\.1:%d: Legacy auth disabled"
                       % p.local_port, timeout=3)
        ok = self.client(port, "alpha")
        self.assertEqual(ok.auth_response["connected_clients"], ["alpha"])
        # Explicitly off is the same.
        hub2, port2 = self.start_hub(name="hub2", SHARD_IPC_LEGACY_AUTH="false")
        p2 = self.v1(port2, "py-v1", [0], 1, connect=False)
        with self.assertRaises(AuthRefused) as cm:
            p2.connect(timeout=3)
        self.assertEqual(cm.exception.response.get("error"), "Legacy auth disabled")
        p2.wait_closed(timeout=3)

    def test_wrong_secret_refused_and_closed(self):
        hub, port = self.start_legacy_hub()
        p = self.v1(port, "intruder", [0], 1, connect=False,
                    secret="not-the-secret-but-long-enough")
        with self.assertRaises(AuthRefused) as cm:
            p.connect(timeout=3)
        self.assertEqual(cm.exception.response, {"success": False, "error": "Invalid secret"})
        self.assertEqual(p.wait_closed(timeout=3), [])
        # The audit line is the behaviour: a refused peer leaves no state but this record.
        hub.assert_log(r"auth failed from 127\.0\.0\.1:%d: Invalid secret" % p.local_port,
                       timeout=3)
        ok = self.v1(port, "py-ok", [0], 1)
        self.assertEqual(ok.auth_response["connected_clients"], ["py-ok"])

    def test_nan_latency_stats_accepted(self):
        hub, port = self.start_legacy_hub()
        watcher = self.client(port, "watcher", shard_ids=[1], shard_count=2)   # v2 cluster
        # A `shardline run` cluster (v2, legacy off) also receives the relayed stats; at
        # debug level it logs each one it could read.
        run = self.start_cluster("runner", port, [], 2, SHARDLINE_LOG="debug")
        # answers_eval: the query below is answered by the peer itself (the seed's client does
        # not answer eval_request: test_seed_peers covers that one).
        p = self.v1(port, "py-v1", [0], 2, guild_count=42, user_count=4200, answers_eval=True)
        sent = p.broadcast_stats()
        self.assertTrue(is_nan(sent["data"]["latency"]))
        self.assertIn(b'"latency": NaN', p.sent[-1], "the peer must emit the bare NaN token")
        got = watcher.wait_op("stats_broadcast", timeout=3, nonce=sent["nonce"])
        self.assertEqual(got["source"], "py-v1")
        self.assertEqual(got["data"]["guild_count"], 42)
        # Contract section 2: Shardline never emits NaN; relayed, it is null.
        self.assertIsNone(got["data"]["latency"], "the hub relayed a bare NaN to a v2 peer")
        # Infinity and -Infinity likewise.
        for v in (float("inf"), float("-inf")):
            p.cluster.latency = v
            s = p.broadcast_stats()
            g = watcher.wait_op("stats_broadcast", timeout=3, nonce=s["nonce"])
            self.assertIsNone(g["data"]["latency"], v)
        p.cluster.latency = float("nan")
        last = p.broadcast_stats()
        watcher.wait_op("stats_broadcast", timeout=3, nonce=last["nonce"])
        # What a cluster makes of its peers' stats has no status API: its debug line for each
        # one it could read is the behaviour checked (and no line for one it dropped).
        run.assert_log(r"stats from py-v1\b", timeout=3, count=4)
        self.assertNotIn("not a JSON object", run.log(), "a v2 cluster dropped relayed stats")
        # The connection stays open.
        p.heartbeat()
        p.wait_op("heartbeat_ack", timeout=3)
        self.assertFalse(p.closed)
        # The hub kept the stats, NaN read as null.
        adm = self.client(port, "dash", role="admin")
        adm.send("hub_status_request", id="hs")
        d = adm.wait_op("hub_status_response", reply_to="hs", timeout=3)["data"]
        me = {c["name"]: c for c in d["clients"]}["py-v1"]
        self.assertEqual(me["address"], "127.0.0.1:%d" % p.local_port, "the hub closed the v1 link")
        st = me["stats"]
        self.assertEqual((st["cluster_name"], st["guild_count"], st["user_count"]),
                         ("py-v1", 42, 4200))
        self.assertIsNone(st["latency"])
        # `shardline clusters --json` still works and shows the cluster.
        res = procs.run_cli(["clusters", "--json", "--timeout-ms", "1500"], self.env(port),
                              timeout=15)
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        out = json.loads(res.stdout)
        by = {c["name"]: c for c in out["clusters"]}
        self.assertIn("py-v1", by, out)
        self.assertEqual(by["py-v1"]["health"], "green")
        # A v1 peer answers without reply_to; the hub ties the answer to the CLI's request,
        # so the v1 cluster is counted like any other, not reported as silent.
        self.assertTrue(by["py-v1"]["answered"], out)
        self.assertNotIn("py-v1", out["missing"])
        self.assertEqual(by["py-v1"]["guild_count"], 42, by["py-v1"])
        # A preset query addressed to the v1 cluster gets its answer too.
        res = procs.run_cli(["query", "guild_count", "--target", "py-v1", "--json",
                               "--timeout-ms", "3000"], self.env(port), timeout=15)
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self.assertEqual(json.loads(res.stdout)["results"], {"py-v1": 42})
        self.assertFalse(p.closed, "clusters --json broke the v1 link")


# --------------------------------------------------------------------------- section 4 through the hub

class HubRoundTripTest(LegacyCase):
    """A v1 Python peer and a `shardline run` cluster (v2) through a legacy-enabled hub."""

    def setUp(self):
        self.hub, self.port = self.start_legacy_hub()
        self.alpha = self.start_cluster("alpha", self.port, [0, 1], 4)
        # answers_eval: the eval tests ask the v1 peer itself (the seed's client does not
        # answer eval_request; test_seed_peers covers that one).
        self.p = self.v1(self.port, "py-v1", [2, 3], 4, guild_count=7, user_count=70,
                         answers_eval=True)

    def test_heartbeat_ack(self):
        self.p.heartbeat()
        ack = self.p.wait_op("heartbeat_ack", timeout=3)
        self.assert_v1_envelope(ack, "heartbeat_ack")
        self.assertEqual(ack["target"], "py-v1")
        self.assertTrue(is_number(ack["data"]["timestamp"]))
        self.assertLess(abs(ack["data"]["timestamp"] - time.time()), 60)

    def test_stats_request_both_ways(self):
        mark = self.p.mark()
        self.p.send("stats_request", {}, "alpha")
        r = self.p.wait_op("stats_broadcast", timeout=5, after=mark, source="alpha",
                           target="py-v1", cluster_name="alpha")
        self.assert_v1_envelope(r, "stats_broadcast from shardline")
        self.assertEqual(r["target"], "py-v1")
        d = r["data"]
        self.assertEqual(d["shard_ids"], [0, 1])
        self.assertEqual((d["guild_count"], d["user_count"]), (0, 0))
        for k in ("shard_count", "latency", "uptime", "mode", "timestamp"):
            self.assertIn(k, d)
        self.assertTrue(d["latency"] is None or is_number(d["latency"]))
        # The other way: a v2 cluster asks the v1 peer, which answers by op and source.
        asker = self.client(self.port, "asker", shard_ids=[], shard_count=4)
        asker.send("stats_request", target="py-v1", id="s1")
        got = asker.wait_op("stats_broadcast", timeout=5, source="py-v1")
        self.assertEqual(got["target"], "asker")
        self.assertEqual(got["data"]["shard_ids"], [2, 3])
        self.assertEqual((got["data"]["guild_count"], got["data"]["user_count"]), (7, 70))
        self.assertIsNone(got["data"]["latency"])              # NaN, relayed as null

    def test_guild_count_request_both_ways(self):
        mark = self.p.mark()
        self.p.send("guild_count_request", {}, "alpha")
        r = self.p.wait_op("guild_count_response", timeout=5, after=mark, source="alpha")
        self.assert_v1_envelope(r, "guild_count_response")
        self.assertEqual(r["target"], "py-v1")
        self.assertEqual((r["data"]["guild_count"], r["data"]["user_count"]), (0, 0))
        self.assertIn(r["data"]["shard_count"], (2, 4))
        asker = self.client(self.port, "asker", shard_ids=[], shard_count=4)
        asker.send("guild_count_request", target="py-v1", id="g1")
        got = asker.wait_op("guild_count_response", timeout=5, source="py-v1")
        self.assertEqual(got["data"], {"guild_count": 7, "user_count": 70, "shard_count": 4})

    def test_eval_every_v1_preset_both_ways(self):
        mark = self.p.mark()
        queries = list(V1_PRESETS) + ["__import__('os').system('id')"]
        for q in queries:
            self.p.send("eval_request", {"query": q}, "alpha")
        for q in queries:
            with self.subTest(query=q, direction="v1 -> shardline"):
                r = self.p.wait_op("eval_response", timeout=5, after=mark, source="alpha",
                                   query=q)
                self.assert_v1_envelope(r, "eval_response")
                self.assertEqual(r["target"], "py-v1")
                res = r["data"]["result"]
                if q in ("guild_count", "user_count"):
                    self.assertEqual(res, 0)
                elif q == "shard_count":
                    self.assertIn(res, (2, 4))
                elif q == "latency":
                    self.assertTrue(res is None or is_number(res), res)
                elif q == "uptime":
                    self.assertTrue(is_number(res) and 0 <= res < 60, res)
                else:
                    self.assertEqual(res, "unknown_query")
        asker = self.client(self.port, "asker", shard_ids=[], shard_count=4)
        for q in V1_PRESETS:
            asker.send("eval_request", {"query": q}, target="py-v1", id=f"e-{q}")
        # The hub answers a v1 peer's presets from its stats (issue 19): shard_count is the shards
        # it runs (len(shard_ids) == 2), not the bot's total that the seed reports (4).
        want = {"guild_count": 7, "user_count": 70, "shard_count": 2}
        for q in V1_PRESETS:
            with self.subTest(query=q, direction="v2 -> v1"):
                got = asker.wait_for(lambda f: f.get("op") == "eval_response"
                                     and f["data"].get("query") == q, timeout=5,
                                     what=f"eval_response {q}")
                self.assertEqual(got["source"], "py-v1")
                res = got["data"]["result"]
                if q in want:
                    self.assertEqual(res, want[q])
                elif q == "latency":
                    self.assertIsNone(res)                    # NaN, relayed as null
                else:
                    self.assertTrue(is_number(res) and res >= 0)

    def test_broadcast_message_both_ways(self):
        # docs/protocol.md: every receiving cluster logs a broadcast: the log lines are the behaviour.
        self.p.broadcast("hello from the v1 peer", author="Owner#0001", author_id=OWNER_ID)
        self.alpha.assert_log(
            r"(?m)broadcast from py-v1 by Owner#0001: hello from the v1 peer$", timeout=5)
        res = procs.run_cli(["broadcast", "hello from the cli"],
                              self.env(self.port, BOT_OWNER_ID=OWNER_ID))
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        m = self.p.wait_op("broadcast_message", timeout=5, message="hello from the cli")
        self.assertEqual(m["target"], "all")
        self.assertIs(type(m["data"]["author_id"]), int, "author_id must be a JSON number")
        self.assertEqual(m["data"]["author_id"], OWNER_ID)
        self.p.wait_log(r"broadcast from \S+ by .+ \(%d\): hello from the cli$" % OWNER_ID,
                        timeout=3)
        self.alpha.assert_log(r"broadcast from \S+ by .+: hello from the cli$", timeout=5)

    def test_cluster_join_and_leave(self):
        # A cluster logs cluster_join and cluster_leave, as the seed does: the behaviour here.
        self.alpha.assert_log(r"cluster joined: py-v1\b", timeout=3)
        beta = self.start_cluster("beta", self.port, [3], 4)
        j = self.p.wait_op("cluster_join", timeout=5, cluster_name="beta")
        self.assert_v1_envelope(j, "cluster_join")
        self.assertEqual(j["data"]["shard_ids"], [3])
        self.assertEqual(j["source"], "hub")
        beta.stop()
        lv = self.p.wait_op("cluster_leave", timeout=5, cluster_name="beta")
        self.assert_v1_envelope(lv, "cluster_leave")
        self.p.close()
        self.alpha.assert_log(r"cluster left: py-v1\b", timeout=5)


# --------------------------------------------------------------------------- guild: routing

class GuildRoutingToV1Test(LegacyCase):
    def test_guild_target_reaches_the_owning_v1_cluster(self):
        hub, port = self.start_legacy_hub()
        a = self.v1(port, "py-a", [0, 1], 4)
        b = self.v1(port, "py-b", [2, 3], 4)
        s = self.client(port, "sender", shard_ids=[], shard_count=4)
        cases = [(guild_on_shard(3, 4, high=1000), b, "g-small"),
                 (guild_on_shard(2, 4, high=2 ** 41 // 4), b, "g-huge-b"),
                 (guild_on_shard(0, 4, high=2 ** 41 // 4 + 5), a, "g-huge-a"),
                 (guild_on_shard(1, 4, high=123456), a, "g-a1")]
        for gid, owner, rid in cases:
            self.assertIn((gid >> 22) % 4, owner.cluster.shard_ids)
            s.send("guild_count_request", target=f"guild:{gid}", id=rid)
        for gid, owner, rid in cases:
            with self.subTest(guild=gid):
                got = owner.wait_for(lambda m: m.get("op") == "guild_count_request"
                                     and m.get("target") == f"guild:{gid}", timeout=3,
                                     what=f"request for guild {gid}")
                self.assertEqual(got["source"], "sender")
        for gid, owner, rid in cases:
            other = a if owner is b else b
            self.assertEqual(other.none_within(lambda m: m.get("target") == f"guild:{gid}",
                                               0.1 if rid != "g-a1" else QUIET_S), [],
                             f"guild {gid} reached the wrong cluster")
        # Each owner answered the requester (by source, as v1 does).
        answers = [s.wait_op("guild_count_response", timeout=3) for _ in cases]
        self.assertEqual(sorted(f["source"] for f in answers),
                         sorted(o.name for _, o, _ in cases))
        self.assertEqual(s.none_within(lambda f: f.get("op") == "error", 0.1), [])


# --------------------------------------------------------------------------- shardline as a v1 client

class RunAgainstLegacyServerTest(LegacyCase):
    def test_run_client_joins_python_legacy_server(self):
        srv = self.legacy_server(name="cluster-0", shard_ids=[0], shard_count=4)
        proc = self.start_cluster("alpha", srv.port, [1, 2], 4, wait=False,
                                  SHARD_IPC_LEGACY_AUTH="true", SHARD_IPC_HEARTBEAT_S=0.2,
                                  SHARD_IPC_RECONNECT_MIN_S=5)
        # Linked: the server accepted it, and it uses the link (its stats, right after linking).
        ev = srv.wait_event("auth_ok", timeout=5)
        srv.wait_op("stats_broadcast", timeout=5, source="alpha")
        auth = ev[2]
        self.assert_v1_envelope(auth, "auth from shardline")
        self.assertEqual(auth["op"], "auth")
        self.assertEqual(auth["source"], "alpha")
        # shard_count is the cluster's own count: the seed's /clusters shows it beside the ids,
        # and sums the stats' shard_count for its total (issue 19, point 5).
        self.assertEqual(auth["data"], {"secret": self.secret, "cluster_name": "alpha",
                                        "shard_ids": [1, 2], "shard_count": 2,
                                        "guild_count": 0})
        # Heartbeats arrive, acked by the server.
        hbs = srv.wait_count(lambda m: m.get("op") == "heartbeat", 2, timeout=5,
                             what="heartbeats")
        for hb in hbs:
            self.assert_v1_envelope(hb, "heartbeat")
            self.assertEqual(hb["source"], "alpha")
            self.assertTrue(is_number(hb["data"]["timestamp"]))
            self.assertEqual(hb["data"]["guild_count"], 0)
        # Its own stats broadcast, right after linking.
        st = srv.wait_op("stats_broadcast", timeout=5, source="alpha")
        self.assert_v1_envelope(st, "stats_broadcast")
        self.assertEqual(srv.remote_stats["alpha"]["shard_ids"], [1, 2])
        # Requests from the server's own cluster get v1-compatible answers.
        mark = srv.mark()
        srv.send("stats_request", {}, "alpha")
        srv.send("guild_count_request", {}, "alpha")
        for q in V1_PRESETS:
            srv.send("eval_request", {"query": q}, "alpha")
        r = srv.wait_op("stats_broadcast", timeout=5, after=mark, source="alpha",
                        target="cluster-0")
        self.assertEqual((r["data"]["cluster_name"], r["data"]["shard_ids"]), ("alpha", [1, 2]))
        g = srv.wait_op("guild_count_response", timeout=5, after=mark, source="alpha")
        self.assertEqual((g["data"]["guild_count"], g["data"]["user_count"]), (0, 0))
        for q in V1_PRESETS:
            with self.subTest(query=q):
                e = srv.wait_op("eval_response", timeout=5, after=mark, source="alpha", query=q)
                self.assertEqual(e["target"], "cluster-0")
                self.assertNotEqual(e["data"]["result"], "unknown_query")
        # Every frame the cluster sent is a v1 envelope: no request ids, no bare NaN.
        for _, m in srv.inbox.items:
            self.assert_v1_envelope(m, f"frame from shardline ({m.get('op')})")
        raw = srv.raw_received()
        for tok in (b"NaN", b"Infinity"):
            self.assertNotIn(tok, raw)
        # A broadcast from the server's cluster is logged with its author.
        srv.broadcast("hello from the seed", author="Owner#0001", author_id=OWNER_ID)
        proc.assert_log(r"(?m)broadcast from cluster-0 by Owner#0001: hello from the seed$",
                          timeout=5)
        # A NaN-latency stats broadcast from the seed does not break the link.
        srv.send("stats_broadcast", srv.cluster.stats(), "all")
        mark = srv.mark()
        srv.send("eval_request", {"query": "guild_count"}, "alpha")
        srv.wait_op("eval_response", timeout=5, after=mark, source="alpha", query="guild_count")
        self.assertNotIn("not a JSON object", proc.log())
        # Joins and leaves of other v1 clusters are logged.
        other = self.v1(srv.port, "py-2", [3], 4)
        proc.assert_log(r"cluster joined: py-2\b", timeout=5)
        other.close()
        proc.assert_log(r"cluster left: py-2\b", timeout=5)
        # The link held throughout: alpha authenticated once and never left.
        self.assertEqual([e[:2] for e in srv.events if e[1] == "alpha"], [("auth_ok", "alpha")])

    def test_run_without_legacy_never_sends_the_secret(self):
        srv = self.legacy_server(name="cluster-0", shard_ids=[0], shard_count=2)
        proc = self.start_cluster("alpha", srv.port, [1], 2, wait=False,
                                  SHARD_IPC_RECONNECT_MIN_S=0.1, SHARD_IPC_RECONNECT_MAX_S=0.2)
        # Several attempts: refused each time, and it never falls back to version 1.
        srv.wait_event("auth_failed", timeout=5, count=3)
        # What the operator reads is the behaviour here: it names the setting to check.
        proc.assert_log(r"link lost: Auth failed: check SHARD_IPC_SECRET", timeout=5)
        raw = srv.raw_received()
        self.assertTrue(raw, "nothing received")
        self.assertNotIn(self.secret.encode(), raw, "the secret crossed the wire in clear")
        for ev in [e for e in srv.events if e[0] == "auth_failed"]:
            d = ev[2]["data"]
            self.assertNotIn("secret", d)
            self.assertEqual(d.get("proto"), 2)
        self.assertEqual([e for e in srv.events if e[0] == "auth_ok"], [])

    def test_python_peers_against_each_other(self):
        # The peer itself: a v1 client joins the v1 server (guards the fixture).
        srv = self.legacy_server(name="cluster-0", shard_ids=[0], shard_count=2)
        c = self.v1(srv.port, "cluster-1", [1], 2, guild_count=3)
        self.assertEqual(c.auth_response, {"success": True, "server_cluster": "cluster-0",
                                           "connected_clients": ["cluster-1"]})
        c.send("eval_request", {"query": "guild_count"}, "cluster-0")
        self.assertEqual(c.wait_op("eval_response", timeout=3, source="cluster-0")["data"],
                         {"query": "guild_count", "result": 0})
        bad = self.v1(srv.port, "cluster-9", [], 2, connect=False, secret="wrong-secret-xyz-123")
        with self.assertRaises(AuthRefused) as cm:
            bad.connect(timeout=3)
        self.assertEqual(cm.exception.response, {"success": False, "error": "Invalid secret"})
        bad.wait_closed(timeout=3)


# --------------------------------------------------------------------------- the peers are the seed

class SeedLikePeersTest(unittest.TestCase):
    """The clean-room peers against each other, no shardline process: they do what the seed's
    real code does where Shardline has to cope with it (guards the fixture of every v1 test).
    Short silence timeouts and intervals stand in for the seed's 120 s and 60 s."""

    secret = procs.SECRET

    def server(self, **kw):
        srv = LegacyServer(self.secret, **kw)
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def client(self, srv, name, shard_ids=(), shard_count=1, **kw):
        c = LegacyClient(srv.port, self.secret, name, shard_ids, shard_count, **kw)
        self.addCleanup(c.close)
        c.connect(timeout=3)
        return c

    def test_client_sends_stats_never_heartbeats_and_reports_the_bots_total(self):
        srv = self.server(name="cluster-0", shard_ids=[0, 1, 2], shard_count=6)
        c = self.client(srv, "cluster-1", [3, 4, 5], 6, guild_count=9, stats_interval=0.2)
        auth = srv.wait_event("auth_ok", timeout=3)[2]["data"]
        self.assertEqual((auth["shard_ids"], auth["shard_count"]), ([3, 4, 5], 6))
        stats = srv.wait_count(lambda m: m.get("op") == "stats_broadcast", 2, timeout=3,
                               what="stats broadcasts")
        self.assertEqual([(m["target"], m["data"]["shard_count"], m["data"]["shard_ids"])
                          for m in stats[:2]], [("all", 6, [3, 4, 5])] * 2)
        self.assertEqual([m for _, m in srv.inbox.items if m.get("op") == "heartbeat"], [])
        srv.send("guild_count_request", {}, "cluster-1")
        g = srv.wait_op("guild_count_response", timeout=3, source="cluster-1")
        self.assertEqual(g["data"], {"guild_count": 9, "user_count": 0, "shard_count": 6})
        # The seed's real timing: it authenticates before its shards exist.
        early = self.client(srv, "cluster-2", [6, 7], 8, guild_count=4, auth_before_ready=True)
        auth = srv.wait_event("auth_ok", timeout=3, count=2)[2]["data"]
        self.assertEqual((auth["shard_ids"], auth["shard_count"], auth["guild_count"]),
                         ([0], 8, 0))
        self.assertEqual(early.broadcast_stats()["data"]["shard_ids"], [6, 7])

    def test_only_the_server_answers_eval_and_it_answers_whatever_the_target(self):
        srv = self.server(name="cluster-0", shard_ids=[0], shard_count=2, guild_count=3)
        a = self.client(srv, "cluster-1", [1], 2, guild_count=5)
        b = self.client(srv, "cluster-2", [], 2)
        b.send("eval_request", {"query": "guild_count"}, "cluster-1")
        # cluster-1 got it and kept quiet; the server answered with its own count.
        a.wait_op("eval_request", timeout=3, source="cluster-2")
        got = b.wait_op("eval_response", timeout=3)
        self.assertEqual((got["source"], got["data"]["result"]), ("cluster-0", 3))
        self.assertEqual(b.none_within(lambda m: m.get("op") == "eval_response"
                                       and m.get("source") == "cluster-1", 0.3), [])
        # A stats_request for cluster-1 is answered by cluster-1 and by the server.
        mark = b.mark()
        b.send("stats_request", {}, "cluster-1")
        answers = b.wait_count(lambda m: m.get("op") == "stats_broadcast", 2, timeout=3,
                               after=mark, what="stats answers")
        self.assertEqual(sorted(m["data"]["cluster_name"] for m in answers),
                         ["cluster-0", "cluster-1"])
        # The relayed frame is rebuilt from the seed's six keys, with the sender's name.
        mark = a.mark()
        b.send_message({"op": "guild_count_request", "data": {}, "source": "someone",
                        "target": "cluster-1", "nonce": "n-1", "timestamp": time.time(),
                        "id": "v2-id"})
        r = a.wait_op("guild_count_request", timeout=3, after=mark)
        self.assertEqual((set(r), r["source"]), (ENVELOPE_KEYS, "cluster-2"))

    def test_both_ends_drop_a_silent_link(self):
        srv = self.server(stats_interval=None, silence_timeout=0.5)
        quiet = self.client(srv, "quiet", stats_interval=None, silence_timeout=60)
        srv.wait_event("silent", timeout=3)
        srv.wait_event("leave", timeout=3)
        quiet.wait_closed(timeout=3)
        srv2 = self.server(stats_interval=None)
        c = self.client(srv2, "waiting", stats_interval=None, silence_timeout=0.5)
        c.wait_closed(timeout=3)
        self.assertEqual(c.silence_drops, 1)
        # The server's own stats keep a client's link alive (the seed's 60 s against 120 s).
        srv3 = self.server(stats_interval=0.2)
        kept = self.client(srv3, "kept", stats_interval=None, silence_timeout=0.6)
        hold(1.5, stop=lambda: kept.closed)
        self.assertFalse(kept.closed)
        self.assertLess(kept.longest_silence(), 0.6)

    def test_a_newcomer_takes_a_connected_name(self):
        srv = self.server()
        old = self.client(srv, "twin", stats_interval=None)
        watcher = self.client(srv, "watcher", stats_interval=None)
        new = self.client(srv, "twin", stats_interval=None)
        self.assertIs(new.auth_response["success"], True)
        srv.wait_event("replaced", timeout=3)
        # The old link stays open, and the name now leads to the newcomer.
        watcher.send("guild_count_request", {}, "twin")
        new.wait_op("guild_count_request", timeout=3, source="watcher")
        self.assertFalse(old.closed)
        # When the old link ends, the seed forgets the name although the newcomer holds it.
        old.close()
        watcher.wait_op("cluster_leave", timeout=3, cluster_name="twin")
        self.assertNotIn("twin", srv.clients)
        self.assertFalse(new.closed)
        # close_replaced: the old peer's way (not the seed's).
        srv2 = self.server(close_replaced=True)
        first = self.client(srv2, "twin", stats_interval=None)
        self.client(srv2, "twin", stats_interval=None)
        first.wait_closed(timeout=3)
        self.assertIn("twin", srv2.clients)


if __name__ == "__main__":
    unittest.main()
