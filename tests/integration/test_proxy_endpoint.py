"""The bot endpoint of `shardline run` (issue 14, point 1) against `shardline sim`: a cluster
holding shard 0 of 2 serves, on SHARD_PROXY_PORT, Discord's gateway and REST API from its own
shard, and this test is the bot's library: GET /gateway/bot, IDENTIFY, READY with every guild
of the shard (checked against /_sim/world), an injected message with the client's own
sequence number, zlib-stream, RESUME after a dropped connection, member chunks routed to the
client that asked, REST forwarded, and the bad inputs (4004, 4010).

Synchronised on the endpoint's GET /_shardline/status and the simulator's control API, never
on sleeps or log lines."""
import unittest

from peers import procs
from peers.cases import require_binary
from peers.sim import Closed, Gateway, rest
from peers.wait import Deadline, wait_until

TOKEN = "sim-token"


class ProxyEndpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()
        cls.sim, cls.sim_port = procs.start_sim({"--token": TOKEN, "--guilds": 60, "--identify-window-ms": 200,
                                                 "--max-concurrency": 16, "--outage-ms": 0})
        env = procs.base_env(0, ENABLE_SHARD_MANAGER="false", SHARD_CLUSTER_NAME="proxy-0",
                             DISCORD_TOKEN=TOKEN,
                             DISCORD_API_URL=f"http://127.0.0.1:{cls.sim_port}/api/v10",
                             DISCORD_IDENTIFY_WINDOW_MS=200,
                             SHARD_COUNT=2, SHARD_IDS="0",
                             SHARD_DATA_DIR=procs.scratch_dir("proxy-shards-"),
                             SHARD_PROXY_PORT="auto")
        del env["SHARD_IPC_SECRET"]
        cls.cluster = procs.Proc(["run", "--proxy-port-file", "{port_file}"], env, name="proxy-0")
        try:
            cls.port = cls.cluster.wait_port(20)
            _, world = rest(cls.sim_port, "/_sim/world?shards=2")
            cls.world = world["per_shard"]["0"]

            def ready():
                cls.cluster.alive_or_fail("its shard is READY")
                st = cls.status()
                s = st["shards"][0]
                return st if s["ready"] and s["available_guilds"] == cls.world["guilds"] else None
            wait_until(ready, 30, "shard 0 READY with every guild in the endpoint's cache",
                       detail=cls.cluster.tail)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in (getattr(cls, "cluster", None), getattr(cls, "sim", None)):
            if p:
                p.stop()

    @classmethod
    def status(cls):
        code, body = rest(cls.port, "/_shardline/status")
        assert code == 200, (code, body)
        return body

    def gateway(self, **kw):
        g = Gateway(self.port, **kw)
        self.addCleanup(g.close)
        return g

    def identified(self, **kw):
        """A client of shard [0, 2] past READY and its GUILD_CREATEs: (gateway, READY)."""
        g = self.gateway(**kw)
        g.identify(TOKEN, shard=(0, 2))
        ready = g.wait_dispatch("READY")
        for _ in ready["d"]["guilds"]:
            g.wait_dispatch("GUILD_CREATE")
        return g, ready

    def inject(self, content="hello"):
        guild = self.world["guild_ids"][0]
        code, body = rest(self.sim_port, "/_sim/messages", method="POST", body={"guild_id": guild, "content": content})
        self.assertEqual(code, 200, body)
        return body["id"]

    def test_gateway_bot_is_answered_by_the_endpoint(self):
        code, body = rest(self.port, "/api/v10/gateway/bot", TOKEN)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["url"], f"ws://127.0.0.1:{self.port}")
        self.assertEqual(body["shards"], 2)
        limit = body["session_start_limit"]
        self.assertGreaterEqual(limit["max_concurrency"], 2)  # IDENTIFY here costs nothing: no pacing
        self.assertGreater(limit["total"], 0)
        self.assertEqual(rest(self.port, "/api/v10/gateway/bot")[0], 401)
        self.assertEqual(rest(self.port, "/api/v10/gateway/bot", "wrong-token")[0], 401)
        self.assertEqual(rest(self.port, "/api/v10/gateway")[1], {"url": f"ws://127.0.0.1:{self.port}"})

    def test_ready_lists_every_guild_of_the_shard_then_a_guild_create_for_each(self):
        g = self.gateway()
        g.identify(TOKEN, shard=(0, 2))
        ready = g.wait_dispatch("READY")
        self.assertEqual(ready["s"], 1)
        d = ready["d"]
        self.assertEqual(d["shard"], [0, 2])
        self.assertEqual(d["resume_gateway_url"], f"ws://127.0.0.1:{self.port}")
        self.assertTrue(d["user"]["bot"])
        ids = {x["id"] for x in d["guilds"]}
        self.assertEqual(len(ids), self.world["guilds"])
        self.assertTrue(set(self.world["guild_ids"]) <= ids)
        created = {}
        for i in range(len(ids)):
            m = g.wait_dispatch("GUILD_CREATE")
            self.assertEqual(m["s"], i + 2)
            created[m["d"]["id"]] = m["d"]
        self.assertEqual(set(created), ids)
        some = created[self.world["guild_ids"][0]]
        self.assertTrue(some["channels"] and some["roles"], some)

    def test_live_events_carry_the_clients_own_sequence_and_reach_every_client(self):
        a, _ = self.identified()
        b, _ = self.identified(compress=True)  # zlib-stream: one deflate stream per connection
        before_a, before_b = a.seq, b.seq
        mid = self.inject("to both")
        ma, mb = a.wait_dispatch("MESSAGE_CREATE"), b.wait_dispatch("MESSAGE_CREATE")
        self.assertEqual((ma["d"]["id"], ma["s"]), (mid, before_a + 1))
        self.assertEqual((mb["d"]["id"], mb["s"]), (mid, before_b + 1))
        a.heartbeat()
        self.assertEqual(a.wait_op(11)["op"], 11)

    def test_resume_after_a_dropped_connection_misses_nothing(self):
        g, ready = self.identified()
        sid, seq = ready["d"]["session_id"], g.seq
        g.close()  # no close frame: the session stays resumable
        before = self.status()["shards"][0]["events"]
        sent = [self.inject(f"while away {i}") for i in range(3)]
        # The three are in the shard's feed (and so in its resume buffer) before the RESUME.
        wait_until(lambda: self.status()["shards"][0]["events"] >= before + 3, 10,
                   "the injected messages in the endpoint's feed")
        r = self.gateway()
        r.resume(TOKEN, sid, seq)
        replayed = []
        resumed = r.wait_dispatch("RESUMED", collect=replayed)
        got = [m["d"]["id"] for m in replayed if m.get("t") == "MESSAGE_CREATE"]
        for mid in sent:
            self.assertIn(mid, got)
        seqs = [m["s"] for m in replayed if m["op"] == 0]
        self.assertEqual(seqs, list(range(seq + 1, seq + 1 + len(seqs))), "no gap, no repeat")
        self.assertEqual(resumed["s"], seq + len(seqs) + 1)
        # An unknown session: INVALID_SESSION, then the client may IDENTIFY.
        x = self.gateway()
        x.resume(TOKEN, "0" * 32, 5)
        self.assertIs(x.wait_op(9)["d"], False)

    def test_member_chunks_go_only_to_the_client_that_asked(self):
        a, _ = self.identified()
        b, _ = self.identified()
        guild = self.world["guild_ids"][0]
        a.send_json({"op": 8, "d": {"guild_id": guild, "query": "", "limit": 0, "nonce": "mine-1"}})
        chunk = a.wait_dispatch("GUILD_MEMBERS_CHUNK")
        self.assertEqual((chunk["d"]["guild_id"], chunk["d"]["nonce"]), (guild, "mine-1"))
        self.assertEqual(chunk["s"], a.seq)
        # b sees the next message and no chunk before it.
        mid = self.inject("after the chunk")
        seen = []
        m = b.wait_dispatch("MESSAGE_CREATE", collect=seen)
        self.assertEqual(m["d"]["id"], mid)
        self.assertFalse([x for x in seen if x.get("t") == "GUILD_MEMBERS_CHUNK"], seen)

    def test_rest_is_forwarded_to_discord(self):
        code, me = rest(self.port, "/api/v10/users/@me", TOKEN)
        self.assertEqual(code, 200, me)
        self.assertEqual(me, rest(self.sim_port, "/api/v10/users/@me", TOKEN)[1])
        channel = str(int(self.world["guild_ids"][0]) + 1)  # #general
        code, sent, headers = rest(self.port, f"/api/v10/channels/{channel}/messages", TOKEN, method="POST",
                                   body={"content": "through the endpoint"}, with_headers=True)
        self.assertEqual(code, 200, sent)
        # The bucket is named; its counts are the whole bot's, paced by the hub's coordinator,
        # and are not handed to a library that would pace them again (docs/rest.md).
        self.assertIsNotNone(headers.get("X-RateLimit-Bucket"), dict(headers))
        self.assertIsNone(headers.get("X-RateLimit-Remaining"), dict(headers))
        _, log = rest(self.sim_port, f"/_sim/channels/{channel}/messages")
        self.assertIn("through the endpoint", [m["content"] for m in log["messages"]])
        # Discord's own errors come back as they are.
        self.assertEqual(rest(self.port, f"/api/v10/channels/{channel}/messages", method="POST",
                              body={"content": "x"})[0], 401)

    def test_a_wrong_token_closes_4004(self):
        g = self.gateway()
        g.identify("not-the-token", shard=(0, 2))
        self.assertEqual(g.wait_close(), 4004)

    def test_a_shard_not_held_here_closes_4010_saying_so(self):
        g = self.gateway()
        g.identify(TOKEN, shard=(1, 2))
        self.assertEqual(g.wait_close(), 4010)
        self.assertIn("holds 0", g.inbox.error.reason)
        g2 = self.gateway()
        g2.identify(TOKEN, shard=(0, 3))
        self.assertEqual(g2.wait_close(), 4010)

    def test_bad_payloads_close_as_discord_does(self):
        g = self.gateway()
        g.send_text("{not json")
        self.assertEqual(g.wait_close(), 4002)
        g = self.gateway()
        g.send_json({"op": 3, "d": {"status": "online"}})
        self.assertEqual(g.wait_close(), 4003)
        g = self.gateway()
        g.send_text('{"op":1,"d":null,"pad":"' + "x" * 5000 + '"}')
        self.assertEqual(g.wait_close(), 4002)
        g, _ = self.identified()
        g.identify(TOKEN, shard=(0, 2))
        self.assertEqual(g.wait_close(), 4005)
        # None of it touched the cluster's shard.
        self.assertEqual(self.status()["shards"][0]["status"], "ready")


if __name__ == "__main__":
    unittest.main()
