"""`shardline sim`: the simulated Discord's REST API and gateway, driven by a raw websocket
client (peers/sim.py). Each rule has a client that breaks it (caught, closed with the right
code, counted in /_sim/stats) and, where it matters, one that follows it (never flagged).
Every wait has a deadline and is on a payload or the simulator's control API; time passes on
its own (`pace`) only where a rule itself is about time, for the client that follows it."""
import os
import re
import time
import unittest

from peers import procs
from peers.cases import require_binary
from peers.sim import OP_BINARY, Closed, Gateway, WebSocket, rest
from peers.wait import Deadline, pace, wait_until

TOKEN = "sim-test-token"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


class SimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()

    def start_sim(self, *args, guilds=100):
        """Starts a simulator; `args` are flag/value pairs overriding the defaults below
        (short identify windows and 16 buckets, so tests that are not about them run fast)."""
        flags = {"--token": TOKEN, "--guilds": guilds, "--identify-window-ms": 200, "--max-concurrency": 16}
        flags.update(zip(args[::2], args[1::2]))
        self.proc, self.port = procs.start_sim(flags)
        self.addCleanup(self.proc.stop)
        return self.port

    def gateway(self, **kw):
        g = Gateway(self.port, **kw)
        self.addCleanup(g.close)
        return g

    def pass_identify_window(self):
        """Two sessions of one shard IDENTIFY in one bucket: a client that follows the rule
        lets a window pass between them, as Discord asks (the tests that do this run the
        simulator with 1 ms windows, so READY and a new connection may come sooner). The
        pacing is the rule being followed, not a wait for a state."""
        pace(0.002)

    def stats(self):
        status, body = rest(self.port, "/_sim/stats")
        self.assertEqual(status, 200)
        return body

    def violations(self):
        return self.stats()["violations"]

    def read_guilds(self, g, ready, timeout=15.0):
        """Reads dispatches until every guild READY listed has had its GUILD_CREATE; returns
        (creates by id, ids that were announced unavailable first, sequences seen)."""
        expected = {x["id"] for x in ready["d"]["guilds"]}
        created, deleted, seqs = {}, set(), [ready["s"]]
        deadline = Deadline(timeout, "a GUILD_CREATE for every guild READY listed")
        while set(created) != expected:
            msg = g.recv(deadline.left())
            if msg["op"] != 0:
                continue
            seqs.append(msg["s"])
            if msg["t"] == "GUILD_CREATE":
                self.assertFalse(msg["d"]["unavailable"])
                created[msg["d"]["id"]] = msg["d"]
            elif msg["t"] == "GUILD_DELETE":
                self.assertTrue(msg["d"]["unavailable"])
                self.assertNotIn(msg["d"]["id"], created)
                deleted.add(msg["d"]["id"])
        return created, deleted, seqs


class TestSimRest(SimTest):
    def test_gateway_bot_users_me_and_application(self):
        port = self.start_sim("--max-concurrency", "4", "--session-budget", "50", guilds=2500)
        status, body = rest(port, "/api/v10/gateway/bot", TOKEN)
        self.assertEqual(status, 200)
        self.assertEqual(body["url"], f"ws://127.0.0.1:{port}")
        self.assertEqual(body["shards"], 3)  # about one per 1,000 guilds
        ssl = body["session_start_limit"]
        self.assertEqual((ssl["total"], ssl["remaining"], ssl["max_concurrency"]), (50, 50, 4))
        self.assertTrue(0 < ssl["reset_after"] <= 86_400_000)

        status, me = rest(port, "/api/v10/users/@me", TOKEN)
        self.assertEqual(status, 200)
        self.assertTrue(me["bot"])
        status, app = rest(port, "/api/v10/oauth2/applications/@me", TOKEN)
        self.assertEqual(status, 200)
        self.assertEqual(app["id"], me["id"])
        self.assertTrue(int(app["owner"]["id"]) > 1 << 22)  # a real snowflake
        self.assertEqual(app["owner"]["username"], "sim-owner")
        self.assertIsNone(app["team"])  # one user owns it unless --team-members says otherwise

        status, _ = rest(port, "/api/v10/gateway/bot", TOKEN, method="POST")
        self.assertEqual(status, 405)
        status, _ = rest(port, "/api/v10/nope", TOKEN)
        self.assertEqual(status, 404)

    def test_team_owned_application(self):
        members = ["175928847299117063", "81384788765712384", "222078108977594368"]
        port = self.start_sim("--team-members", ",".join(members))
        for path in ("/api/v10/oauth2/applications/@me", "/api/v10/applications/@me"):
            status, app = rest(port, path, TOKEN)
            self.assertEqual(status, 200, path)
            team = app["team"]
            tid = team["id"]
            self.assertTrue(int(tid) > 1 << 22)
            self.assertTrue(team["name"])
            self.assertEqual(team["owner_user_id"], members[0])
            self.assertEqual([m["user"]["id"] for m in team["members"]], members)
            for m in team["members"]:
                self.assertEqual((m["membership_state"], m["team_id"], m["role"]), (2, tid, "admin"))
                self.assertEqual((m["user"]["discriminator"], m["user"]["avatar"]), ("0", None))
                self.assertTrue(m["user"]["username"])
            # The owner is the team's pseudo-user, not a person, as on Discord.
            owner = app["owner"]
            self.assertEqual((owner["id"], owner["username"]), (tid, f"team{tid}"))
            self.assertEqual(owner["flags"] & (1 << 10), 1 << 10)  # TEAM_PSEUDO_USER
        self.proc.stop()

        # Empty is the default (one owner); ids that are not snowflakes are refused at start.
        self.start_sim("--team-members", "")
        app = rest(self.port, "/api/v10/applications/@me", TOKEN)[1]
        self.assertIsNone(app["team"])
        self.assertEqual(app["owner"]["username"], "sim-owner")
        for bad in ("abc", "175928847299117063,", "12", "175928847299117063,175928847299117063"):
            done = procs.run_cli(["sim", "--port", "0", "--team-members", bad], dict(os.environ), timeout=10)
            self.assertNotEqual(done.returncode, 0, bad)
            self.assertIn("--team-members", done.stdout + done.stderr, bad)

    def test_world_per_shard(self):
        # A 3 s outage: the world is asked for while one guild is still unavailable; it counts.
        port = self.start_sim("--outage-ms", 3000, guilds=200)
        status, world = rest(port, "/_sim/world?shards=2")
        self.assertEqual(status, 200, world)
        self.assertEqual(world["guilds"], 200)
        self.assertEqual(sorted(world["per_shard"]), ["0", "1"])
        # What two shards actually receive: every GUILD_CREATE, the late one included.
        got = {}
        for shard in (0, 1):
            g = self.gateway()
            g.identify(TOKEN, shard=(shard, 2))
            created, deleted, _ = self.read_guilds(g, g.wait_dispatch("READY"))
            got[str(shard)] = {"guilds": len(created), "members": sum(x["member_count"] for x in created.values())}
            # guild_ids: the first few guilds of the shard, each one the shard really holds.
            ids = world["per_shard"][str(shard)]["guild_ids"]
            self.assertEqual(len(ids), 5)
            self.assertTrue(set(ids) <= set(created), (ids, shard))
        self.assertEqual({k: {"guilds": v["guilds"], "members": v["members"]} for k, v in world["per_shard"].items()}, got)
        self.assertEqual(world["members"], sum(x["members"] for x in got.values()))
        self.assertEqual(rest(port, "/_sim/world?shards=2")[1], world)  # the outage's end changes nothing

        # Another layout of the same world: same totals, every shard listed.
        three = rest(port, "/_sim/world?shards=3")[1]
        self.assertEqual((three["guilds"], three["members"]), (world["guilds"], world["members"]))
        self.assertEqual(sum(x["guilds"] for x in three["per_shard"].values()), 200)
        many = rest(port, "/_sim/world?shards=4096")[1]
        self.assertEqual(len(many["per_shard"]), 4096)
        self.assertEqual(sum(x["members"] for x in many["per_shard"].values()), world["members"])
        # A join shows at once.
        rest(port, "/_sim/guilds", method="POST", body={"action": "join"})
        self.assertEqual(rest(port, "/_sim/world?shards=1")[1]["guilds"], 201)

        for query in ("", "?shards=0", "?shards=4097", "?shards=abc", "?shards=2x", "?shards=-1", "?shard=2",
                      "?shards=2&shards=x"):
            status, body = rest(port, "/_sim/world" + query)
            self.assertEqual(status, 400, query)
            self.assertIn("shards=N", body["message"])
        self.assertEqual(rest(port, "/_sim/world?shards=1", method="POST", body={})[0], 405)

    def test_authorization_required(self):
        port = self.start_sim()
        for token in (None, "wrong-token"):
            for path in ("/api/v10/gateway/bot", "/api/v10/users/@me", "/api/v10/oauth2/applications/@me"):
                status, body = rest(port, path, token)
                self.assertEqual(status, 401, (path, token))
                self.assertIn("Unauthorized", body["message"])
        self.assertEqual(self.violations().get("rest_unauthorized"), 6)
        status, body = rest(port, "/api/v10/gateway")  # the one route open to anyone
        self.assertEqual((status, body["url"]), (200, f"ws://127.0.0.1:{port}"))


    def test_rate_limits(self):
        port = self.start_sim("--rest-route-limit", 3, "--rest-route-window-ms", 400, "--rest-global-per-sec", 8)
        for remaining in (2, 1, 0):
            status, _, h = rest(port, "/api/v10/users/@me", TOKEN, with_headers=True)
            self.assertEqual(status, 200)
            self.assertEqual(h["X-RateLimit-Limit"], "3")
            self.assertEqual(h["X-RateLimit-Remaining"], str(remaining))
            self.assertTrue(0 < float(h["X-RateLimit-Reset-After"]) <= 0.4)
            self.assertTrue(float(h["X-RateLimit-Reset"]) > time.time() - 1)
            self.assertTrue(h["X-RateLimit-Bucket"])
        status, body, h = rest(port, "/api/v10/users/@me", TOKEN, with_headers=True)
        self.assertEqual(status, 429)
        self.assertIs(body["global"], False)
        self.assertTrue(0 < body["retry_after"] <= 0.4)
        self.assertEqual(h["X-RateLimit-Scope"], "user")
        # A client that waits retry_after, as the answer says, is let through.
        pace(body["retry_after"] + 0.02)
        status, _ = rest(port, "/api/v10/users/@me", TOKEN)
        self.assertEqual(status, 200)
        # Eight requests a second in all, whatever the route.
        statuses = [rest(port, path, TOKEN)[0] for path in ("/api/v10/gateway/bot", "/api/v10/applications/@me",
                                                            "/api/v10/oauth2/applications/@me") for _ in range(3)]
        self.assertIn(429, statuses)
        violations = self.violations()
        self.assertEqual(violations.get("rest_rate_limit_route"), 1)
        self.assertGreaterEqual(violations.get("rest_rate_limit_global", 0), 1)


class TestSimGateway(SimTest):
    def test_hello_and_heartbeat_ack(self):
        self.start_sim("--heartbeat-ms", "45000")
        g = self.gateway()
        self.assertEqual(g.hello["d"]["heartbeat_interval"], 45000)
        g.heartbeat()
        self.assertEqual(g.recv()["op"], 11)
        g.heartbeat()
        self.assertEqual(g.recv()["op"], 11)

    def check_shards(self, compress):
        # Both shards identify before the outage ends (1 s), so the guild in an outage is
        # announced unavailable, then created, on whichever shard owns it.
        port = self.start_sim("--outage-ms", "1000", guilds=200)
        seen = set()
        outage = set()
        conns = [self.gateway(compress=compress) for _ in (0, 1)]
        for shard, g in enumerate(conns):
            g.identify(TOKEN, shard=(shard, 2))
        for shard, g in enumerate(conns):
            ready = g.wait_dispatch("READY")
            d = ready["d"]
            self.assertEqual(ready["s"], 1)
            self.assertEqual(d["v"], 10)
            self.assertRegex(d["session_id"], HEX32)
            self.assertEqual(d["resume_gateway_url"], f"ws://127.0.0.1:{port}")
            self.assertEqual(d["shard"], [shard, 2])
            self.assertTrue(d["user"]["bot"])
            self.assertEqual(d["application"]["id"], d["user"]["id"])
            self.assertTrue(all(x["unavailable"] for x in d["guilds"]))
            created, deleted, seqs = self.read_guilds(g, ready)
            for gid, guild in created.items():
                self.assertEqual((int(gid) >> 22) % 2, shard, "a guild of another shard")
                self.assertTrue(guild["name"])
                self.assertGreaterEqual(guild["member_count"], 1)
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "sequences are 1, 2, 3...")
            self.assertTrue(seen.isdisjoint(created))
            seen |= set(created)
            outage |= deleted
        self.assertEqual(len(seen), 200, "every guild arrives on exactly one shard")
        self.assertEqual(len(outage), 1, "the guild in an outage arrives late")
        st = self.stats()
        self.assertEqual(st["identifies"]["total"], 2)
        self.assertEqual(st["sessions"]["live"], 2)
        self.assertEqual(st["sessions"]["per_shard"], {"0": 1, "1": 1})
        self.assertEqual(st["violations"], {})

    def test_ready_and_guild_creates_per_shard(self):
        self.check_shards(compress=False)

    def test_zlib_stream(self):
        self.check_shards(compress=True)

    def test_bad_token_closes_4004(self):
        self.start_sim()
        g = self.gateway()
        g.identify("not-the-token")
        self.assertEqual(g.wait_close(), 4004)
        self.assertEqual(self.violations(), {"authentication_failed": 1})

    def test_shard_out_of_range_closes_4010(self):
        self.start_sim()
        g = self.gateway()
        g.identify(TOKEN, shard=(2, 2))
        self.assertEqual(g.wait_close(), 4010)
        self.assertEqual(self.violations(), {"invalid_shard": 1})

    def test_sharding_required_closes_4011(self):
        self.start_sim(guilds=2600)
        g = self.gateway()
        g.identify(TOKEN, shard=(0, 1))  # 2,600 guilds on one shard: over 2,500
        self.assertEqual(g.wait_close(), 4011)
        ok = self.gateway()
        ok.identify(TOKEN, shard=(0, 2))
        ok.wait_dispatch("READY")
        self.assertEqual(self.violations(), {"sharding_required": 1})

    def test_oversized_payload_closes_4002(self):
        self.start_sim()
        fine = self.gateway()
        fine.send_json({"op": 1, "d": None, "pad": "x" * 4000})  # under 4,096 bytes
        self.assertEqual(fine.recv()["op"], 11)
        g = self.gateway()
        g.send_json({"op": 1, "d": None, "pad": "x" * 5000})
        self.assertEqual(g.wait_close(), 4002)
        self.assertEqual(self.violations(), {"payload_too_large": 1})

    def test_single_frame_over_a_mebibyte_closes_4002(self):
        # One frame far past 4,096 bytes (and past any transport limit): still the gateway's
        # own answer, 4002 and a counted violation, not a websocket-level 1009.
        self.start_sim()
        g = self.gateway()
        g.send_json({"op": 1, "d": None, "pad": "x" * 1_500_000})
        self.assertEqual(g.wait_close(), 4002)
        self.assertEqual(self.violations(), {"payload_too_large": 1})

    def test_send_rate_limit_closes_4008(self):
        self.start_sim()
        paced = self.gateway()
        for _ in range(120):  # exactly the limit: fine
            paced.heartbeat()
        for _ in range(120):
            self.assertEqual(paced.recv()["op"], 11)
        g = self.gateway()
        for _ in range(121):
            g.heartbeat()
        self.assertEqual(g.wait_close(), 4008)
        self.assertEqual(self.violations(), {"send_rate": 1})

    def test_commands_before_identify_and_unknown_opcodes(self):
        self.start_sim()
        g = self.gateway()
        g.send_json({"op": 3, "d": {"status": "online"}})
        self.assertEqual(g.wait_close(), 4003)
        g = self.gateway()
        g.send_json({"op": 42, "d": None})
        self.assertEqual(g.wait_close(), 4001)
        g = self.gateway()
        g.send_text("{not json")
        self.assertEqual(g.wait_close(), 4002)
        g = self.gateway()
        g.identify(TOKEN)
        g.wait_dispatch("READY")
        g.identify(TOKEN)
        self.assertEqual(g.wait_close(), 4005)
        self.assertEqual(self.violations(), {"not_authenticated": 1, "unknown_opcode": 1, "decode_error": 1,
                                             "already_authenticated": 1})

    def test_url_query_intents_and_binary_frames(self):
        port = self.start_sim()
        for query, code in (("/?v=9&encoding=json", 4012), ("/?v=10&encoding=etf", 4002),
                            ("/?v=10&encoding=json&compress=zstd-stream", 4002)):
            ws = WebSocket(port, query)
            self.addCleanup(ws.close)
            self.assertEqual(ws.wait_close(), code, query)
        g = self.gateway()
        g.identify(TOKEN, intents=1 << 40)
        self.assertEqual(g.wait_close(), 4013)
        g = self.gateway(compress=True)
        g.send_frame(OP_BINARY, b'{"op":1,"d":null}')  # clients send text, even with zlib-stream
        self.assertEqual(g.wait_close(), 4002)
        self.assertEqual(self.violations(), {"bad_identify": 1, "decode_error": 1})

    def test_privileged_intent_not_enabled_closes_4014(self):
        # Only GUILD_MEMBERS (2) is enabled: asking for GUILD_PRESENCES (256) is refused,
        # GUILDS + GUILD_MEMBERS is not.
        self.start_sim("--privileged-intents", 2)
        g = self.gateway()
        g.identify(TOKEN, intents=1 | 256)
        self.assertEqual(g.wait_close(), 4014)
        ok = self.gateway()
        ok.identify(TOKEN, intents=1 | 2)
        ok.wait_dispatch("READY")
        self.assertEqual(self.violations(), {"disallowed_intents": 1})

    def test_identify_buckets(self):
        # One bucket, 300 ms windows: a client that waits a window between IDENTIFYs is never
        # flagged; one that does not earns INVALID_SESSION (d: false) and a count.
        self.start_sim("--max-concurrency", "1", "--identify-window-ms", "300", "--session-budget", "10")
        a = self.gateway()
        a.identify(TOKEN, shard=(0, 2))
        a.wait_dispatch("READY")
        rogue = self.gateway()
        rogue.identify(TOKEN, shard=(1, 2))
        refused = rogue.wait_op(9)
        self.assertIs(refused["d"], False)
        self.assertEqual(self.violations(), {"identify_bucket": 1})
        # Paced: READY came after the server accepted shard 0; one window later the bucket is free.
        pace(0.35)
        rogue.identify(TOKEN, shard=(1, 2))  # the same connection may try again
        rogue.wait_dispatch("READY")
        st = self.stats()
        self.assertEqual(st["identifies"], {"total": 2, "per_bucket": [2]})
        self.assertEqual(st["violations"], {"identify_bucket": 1})
        self.assertEqual(st["session_budget_left"], 8)

    def test_paced_startup_never_flagged(self):
        self.start_sim("--max-concurrency", "2", "--identify-window-ms", "250", guilds=400)
        conns = []
        for wave in range(2):
            if wave:
                pace(0.3)  # the identify window, as Discord asks
            for bucket in range(2):
                g = self.gateway()
                g.identify(TOKEN, shard=(wave * 2 + bucket, 4))
                g.wait_dispatch("READY")
                conns.append(g)
        st = self.stats()
        self.assertEqual(st["identifies"], {"total": 4, "per_bucket": [2, 2]})
        self.assertEqual(st["violations"], {})

    def test_session_budget_spent(self):
        self.start_sim("--session-budget", "1")
        g = self.gateway()
        g.identify(TOKEN)
        g.wait_dispatch("READY")
        # Another bucket (shard 1 of 2, of 16 buckets), so only the budget stands in the way.
        h = self.gateway()
        h.identify(TOKEN, shard=(1, 2))
        self.assertIs(h.wait_op(9)["d"], False)
        self.assertEqual(self.stats()["session_budget_left"], 0)
        self.assertEqual(self.violations(), {"session_budget": 1})
        _, body = rest(self.port, "/api/v10/gateway/bot", TOKEN)
        self.assertEqual(body["session_start_limit"]["remaining"], 0)

    def test_resume_replays_missed_events(self):
        self.start_sim("--outage-ms", "800", guilds=100)
        g = self.gateway()
        g.identify(TOKEN)
        ready = g.wait_dispatch("READY")
        sid = ready["d"]["session_id"]
        total = len(ready["d"]["guilds"])
        for _ in range(10):  # the client handles only the first ten dispatches...
            g.recv()
        last = g.seq
        self.assertEqual(last, 11)
        g.close()  # ...then its connection drops without a close frame: resumable

        # While it is away, the guild in an outage comes back: that GUILD_CREATE waits in
        # the session's replay buffer.
        def buffered():
            _, body = rest(self.port, "/_sim/sessions?shard=0")
            s = body["sessions"][0]
            return s if not s["attached"] and s["last_seq"] == total + 2 else None
        wait_until(buffered, what="the outage's GUILD_CREATE buffered for the detached session")

        r = self.gateway()
        r.resume(TOKEN, sid, last)
        replayed = []
        resumed = r.wait_dispatch("RESUMED", collect=replayed)
        seqs = [m["s"] for m in replayed]
        self.assertEqual(seqs, list(range(last + 1, total + 3)), "every missed event, in order")
        self.assertEqual(resumed["s"], total + 3)
        self.assertEqual(replayed[-1]["t"], "GUILD_CREATE")  # the late one, after the outage
        self.assertEqual(sum(1 for m in replayed if m["t"] == "GUILD_DELETE"), 1)

        st = self.stats()
        self.assertEqual(st["resumes"], 1)
        self.assertEqual(st["identifies"]["total"], 1)  # a RESUME spends no IDENTIFY
        self.assertEqual(st["events_sent"]["replayed_per_shard"]["0"], len(replayed))
        _, body = rest(self.port, "/_sim/sessions?shard=0")
        s = body["sessions"][0]
        self.assertEqual((s["delivered"], s["undelivered"], s["resumes"]), ([[1, total + 3]], [], 1))

        # A session closed with 1000 is over; an unknown one was never there.
        r.send_close(1000)
        self.assertEqual(r.wait_close(), 1000)  # the server echoes the client's close
        for session_id in (sid, "0" * 32):
            again = self.gateway()
            again.resume(TOKEN, session_id, total + 3)
            self.assertIs(again.wait_op(9)["d"], False)
        self.assertEqual(self.stats()["resumes_refused"], 2)
        self.assertEqual(self.violations(), {})

    def test_resume_takes_over_a_zombie_connection(self):
        self.start_sim(guilds=5)
        g = self.gateway()
        g.identify(TOKEN)
        ready = g.wait_dispatch("READY")
        self.read_guilds(g, ready)
        # The client believes g is a zombie and resumes on a new connection while g is open.
        r = self.gateway()
        r.resume(TOKEN, ready["d"]["session_id"], g.seq)
        self.assertEqual(r.wait_dispatch("RESUMED")["s"], g.seq + 1)
        self.assertEqual(g.wait_close(), 4000)
        # A refused resume takes nothing from the connection holding the session.
        bad = self.gateway()
        bad.resume(TOKEN, ready["d"]["session_id"], g.seq + 100)  # a sequence never sent
        self.assertIs(bad.wait_op(9)["d"], False)
        r.heartbeat()
        self.assertEqual(r.recv()["op"], 11)
        st = self.stats()
        self.assertEqual((st["resumes"], st["resumes_refused"], st["sessions"]["live"]), (1, 1, 1))

    def test_server_heartbeat_requests(self):
        self.start_sim("--server-heartbeat-ms", 300, guilds=5)
        g = self.gateway()
        g.identify(TOKEN)
        self.read_guilds(g, g.wait_dispatch("READY"))
        request = g.wait_op(1)
        self.assertEqual(request["d"], g.seq)
        g.heartbeat()  # answered at once, as Discord asks
        self.assertEqual(g.wait_op(11)["op"], 11)
        self.assertEqual(self.violations(), {})
        g.wait_op(1)  # the next request goes unanswered
        wait_until(lambda: self.violations().get("heartbeat_request_ignored"), what="the ignored request counted")

    def test_zombie_connection_closed(self):
        self.start_sim("--heartbeat-ms", "300", guilds=5)
        alive = self.gateway()
        silent = self.gateway()
        silent.identify(TOKEN)
        silent.wait_dispatch("READY")
        # The live client beats every half interval (between two beats it reads the silent
        # one for 0.15 s); the silent one never does.
        def beat(deadline):
            alive.heartbeat()
            self.assertEqual(alive.recv()["op"], 11)
            try:
                silent.recv(min(0.15, deadline.left()))
            except (TimeoutError, Closed):
                pass   # a close is what the wait looks for
        wait_until(lambda: silent.closed, 10, "the silent connection closed", pause=beat)
        self.assertEqual(silent.close_code, 4009)
        self.assertEqual(self.violations(), {"heartbeat_timeout": 1})
        alive.heartbeat()
        self.assertEqual(alive.recv()["op"], 11)


ALL_EVENTS = 1 | (1 << 1) | (1 << 8) | (1 << 9) | (1 << 11)  # GUILDS and what the stream sends
MESSAGES = 1 << 9
MESSAGE_CONTENT = 1 << 15


class TestSimEventsAndFaults(SimTest):
    def ready_session(self, shard=(0, 1), intents=ALL_EVENTS, **kw):
        g = self.gateway(**kw)
        g.identify(TOKEN, shard=shard, intents=intents)
        ready = g.wait_dispatch("READY")
        self.read_guilds(g, ready)
        return g, ready

    def fault(self, **body):
        status, answer = rest(self.port, "/_sim/faults", method="POST", body=body)
        self.assertEqual(status, 200, answer)
        return answer["applied"]

    def test_event_stream_reaches_the_right_shard_and_intents(self):
        self.start_sim("--events-per-sec", 500, guilds=10)
        everything, _ = self.ready_session(shard=(0, 2), compress=True)
        messages_only, _ = self.ready_session(shard=(1, 2), intents=MESSAGES)
        for g, shard, allowed in ((everything, 0, {"MESSAGE_CREATE", "PRESENCE_UPDATE", "TYPING_START",
                                                     "GUILD_MEMBER_ADD", "GUILD_CREATE", "GUILD_DELETE"}),
                                  (messages_only, 1, {"MESSAGE_CREATE"})):
            last, seen = g.seq, set()
            for _ in range(60):
                msg = g.recv()
                self.assertEqual(msg["s"], last + 1)
                last = msg["s"]
                self.assertIn(msg["t"], allowed)
                guild = msg["d"]["id"] if msg["t"].startswith("GUILD_") and "guild_id" not in msg["d"] \
                    else msg["d"]["guild_id"]  # joins and leaves now and then
                self.assertEqual((int(guild) >> 22) % 2, shard)
                seen.add(msg["t"])
            if shard == 0:
                self.assertGreaterEqual(len(seen), 2)
        self.assertGreater(self.stats()["events_generated"], 0)

    def test_resume_after_tcp_reset_loses_nothing(self):
        self.start_sim("--events-per-sec", 300, guilds=10)
        g, ready = self.ready_session()
        sid = ready["d"]["session_id"]
        for _ in range(20):
            g.recv()
        self.assertEqual(self.fault(shard=0, kind="reset"), 1)
        self.assertIsNone(g.wait_close(10))  # no close frame: a reset
        last = g.seq

        # Events keep coming for the session while it is away; they wait in its buffer.
        def buffered():
            _, body = rest(self.port, "/_sim/sessions?shard=0")
            s = body["sessions"][0]
            return not s["attached"] and s["last_seq"] >= last + 30
        wait_until(buffered, what="events buffered for the detached session")

        r = self.gateway()
        r.resume(TOKEN, sid, last)
        replayed = []
        resumed = r.wait_dispatch("RESUMED", collect=replayed)
        seqs = [m["s"] for m in replayed] + [resumed["s"]]
        self.assertEqual(seqs, list(range(last + 1, resumed["s"] + 1)), "nothing lost, nothing twice")
        for _ in range(20):  # and the live stream carries on after RESUMED
            before = r.seq
            self.assertEqual(r.recv()["s"], before + 1)
        _, body = rest(self.port, "/_sim/sessions?shard=0")
        first = body["sessions"][0]["delivered"][0]
        self.assertEqual(first[0], 1)
        self.assertGreaterEqual(first[1], r.seq)
        st = self.stats()
        self.assertEqual((st["resumes"], st["identifies"]["total"], st["violations"]), (1, 1, {}))

    def test_slow_consumer_closed_while_resume_still_loses_nothing(self):
        # A client that stops reading is closed with 4000 while what it missed is still in
        # the replay buffer: a prompt RESUME gets every event, in order, once.
        self.start_sim("--events-per-sec", 5000, guilds=10)
        g, ready = self.ready_session()
        sid = ready["d"]["session_id"]
        self.assertEqual(self.fault(shard=0, kind="stall"), 1)
        self.assertEqual(g.wait_close(30), 4000)
        last = g.seq
        r = self.gateway()
        r.resume(TOKEN, sid, last)
        replayed = []
        resumed = r.wait_dispatch("RESUMED", timeout=30, collect=replayed)
        seqs = [m["s"] for m in replayed] + [resumed["s"]]
        self.assertGreater(len(seqs), 5000, "the stall did not back events up")
        self.assertEqual(seqs, list(range(last + 1, resumed["s"] + 1)), "nothing lost, nothing twice")
        st = self.stats()
        self.assertEqual((st["resumes"], st["resumes_refused"], st["identifies"]["total"]), (1, 0, 1))

    def test_our_resumable_close_survives_a_1000_answer(self):
        # When the simulator closes first with a resumable code, the client's answer to the
        # close frame (here 1000) does not end the session.
        self.start_sim(guilds=10)
        g, ready = self.ready_session()
        g.close_answer = 1000
        self.fault(shard=0, kind="close", code=4000)
        self.assertEqual(g.wait_close(), 4000)
        r = self.gateway()
        r.resume(TOKEN, ready["d"]["session_id"], g.seq)
        r.wait_dispatch("RESUMED")

    def test_guild_join_and_leave(self):
        port = self.start_sim("--identify-window-ms", 1, guilds=10)  # two sessions of shard 0
        g, ready = self.ready_session()  # intents include GUILDS
        self.pass_identify_window()
        quiet, _ = self.ready_session(intents=MESSAGES)  # no GUILDS intent: no joins and leaves
        status, joined = rest(port, "/_sim/guilds", method="POST", body={"action": "join"})
        self.assertEqual(status, 200)
        gid = joined["guild_id"]
        created = g.wait_dispatch("GUILD_CREATE")["d"]
        self.assertEqual((created["id"], created["unavailable"]), (gid, False))
        self.assertEqual(self.stats()["guilds"], 11)
        status, _ = rest(port, "/_sim/guilds", method="POST", body={"action": "leave", "guild_id": gid})
        self.assertEqual(status, 200)
        self.assertEqual(g.wait_dispatch("GUILD_DELETE")["d"], {"id": gid})  # no `unavailable`: removed
        self.assertEqual(rest(port, "/_sim/guilds", method="POST", body={"action": "leave", "guild_id": gid})[0], 400)
        # The session without GUILDS saw neither: the next thing it gets is this message.
        rest(port, "/_sim/messages", method="POST", body={"guild_id": ready["d"]["guilds"][0]["id"], "content": "x"})
        self.assertEqual(quiet.recv()["t"], "MESSAGE_CREATE")
        self.assertEqual(self.stats()["guilds"], 10)

    def test_faults(self):
        self.start_sim("--identify-window-ms", 1, guilds=10)
        g, ready = self.ready_session()
        sid = ready["d"]["session_id"]

        self.assertEqual(self.fault(shard=0, kind="reconnect"), 1)
        self.assertEqual(g.recv()["op"], 7)
        self.assertEqual(self.fault(shard=0, kind="heartbeat"), 1)
        self.assertEqual(g.recv(), {"t": None, "s": None, "op": 1, "d": g.seq})
        self.assertEqual(self.fault(shard=5, kind="reconnect"), 0)  # no such shard connected

        # stop_acks: the heartbeat goes unanswered; the next thing to arrive is the server's op 1.
        self.fault(shard=0, kind="stop_acks")
        g.heartbeat()
        self.fault(shard=0, kind="heartbeat")
        self.assertEqual(g.recv()["op"], 1)

        # A close with a resumable code leaves the session resumable.
        self.fault(shard=0, kind="close", code=4900)
        self.assertEqual(g.wait_close(), 4900)
        r = self.gateway()
        r.resume(TOKEN, sid, g.seq)
        r.wait_dispatch("RESUMED")

        # INVALID_SESSION d:false ends the session; the same connection may IDENTIFY again.
        self.fault(shard=0, kind="invalid_session", resumable=False)
        self.assertIs(r.wait_op(9)["d"], False)
        other = self.gateway()
        other.resume(TOKEN, sid, r.seq)
        self.assertIs(other.wait_op(9)["d"], False)
        r.identify(TOKEN)
        self.read_guilds(r, r.wait_dispatch("READY"))

        # stall: nothing more is written, not even heartbeat acks.
        self.fault(shard=0, kind="stall")
        r.heartbeat()
        with self.assertRaises(TimeoutError):
            r.recv(0.3)

        for body in ({"kind": "close"}, {"shard": 0, "kind": "explode"}, {"shard": 0, "kind": "close", "code": 1006},
                     {"shard": -1, "kind": "close"}):
            status, _ = rest(self.port, "/_sim/faults", method="POST", body=body)
            self.assertEqual(status, 400, body)
        status, _ = rest(self.port, "/_sim/faults")
        self.assertEqual(status, 405)
        self.assertGreaterEqual(self.stats()["faults_applied"], 7)


class TestSimInteractionsAndMessages(SimTest):
    def test_slash_command_round_trip(self):
        port = self.start_sim(guilds=10)
        g = self.gateway()
        g.identify(TOKEN)
        ready = g.wait_dispatch("READY")
        app = ready["d"]["application"]["id"]
        guild = ready["d"]["guilds"][0]["id"]
        base = f"/api/v10/applications/{app}/commands"

        self.assertEqual(rest(port, base, method="PUT", body=[])[0], 401)
        status, cmds = rest(port, base, TOKEN, method="PUT", body=[{"name": "ping", "description": "Ping!"}])
        self.assertEqual(status, 200, cmds)
        self.assertEqual((cmds[0]["name"], cmds[0]["application_id"]), ("ping", app))
        status, again = rest(port, base, TOKEN, method="PUT", body=[{"name": "ping", "description": "Ping!"}])
        self.assertEqual(again[0]["id"], cmds[0]["id"])  # an overwrite keeps the id
        self.assertEqual(rest(port, base, TOKEN, method="PUT", body=[{"name": "Ping Pong", "description": "x"}])[0], 400)
        self.assertEqual(rest(port, base, TOKEN)[1][0]["name"], "ping")
        status, gcmds = rest(port, f"/api/v10/applications/{app}/guilds/{guild}/commands", TOKEN, method="PUT",
                             body=[{"name": "local", "description": "Guild only"}])
        self.assertEqual((status, gcmds[0]["guild_id"]), (200, guild))

        status, body = rest(port, "/_sim/interactions", method="POST", body={"name": "nope", "guild_id": guild})
        self.assertEqual(status, 400)
        status, inj = rest(port, "/_sim/interactions", method="POST",
                           body={"name": "ping", "guild_id": guild, "options": [{"name": "n", "type": 4, "value": 2}]})
        self.assertEqual((status, inj["sessions"]), (200, 1))
        ev = g.wait_dispatch("INTERACTION_CREATE")
        d = ev["d"]
        self.assertEqual((d["id"], d["token"], d["type"], d["guild_id"]), (inj["id"], inj["token"], 2, guild))
        self.assertEqual((d["data"]["name"], d["data"]["id"]), ("ping", cmds[0]["id"]))
        self.assertEqual(d["data"]["options"][0]["value"], 2)

        cb = f"/api/v10/interactions/{d['id']}/{d['token']}/callback"
        self.assertEqual(rest(port, cb, method="POST", body={"type": 5})[0], 204)
        status, err = rest(port, cb, method="POST", body={"type": 4, "data": {"content": "again"}})
        self.assertEqual((status, err["code"]), (400, 40060))
        hook = f"/api/v10/webhooks/{app}/{d['token']}"
        status, msg = rest(port, hook + "/messages/@original", method="PATCH", body={"content": "pong"})
        self.assertEqual((status, msg["content"]), (200, "pong"))
        status, msg = rest(port, hook, method="POST", body={"content": "follow-up"})
        self.assertEqual((status, msg["content"]), (200, "follow-up"))
        self.assertEqual(rest(port, f"/api/v10/webhooks/{app}/bogus", method="POST", body={"content": "x"})[0], 404)

        status, rec = rest(port, f"/_sim/interactions/{d['id']}")
        self.assertEqual(status, 200)
        self.assertEqual(rec["callback"], {"type": 5})
        self.assertEqual(rec["edits"], [{"content": "pong"}])
        self.assertEqual(rec["followups"], [{"content": "follow-up"}])
        self.assertEqual(self.violations(), {"interaction_already_acknowledged": 1, "interaction_unknown_webhook": 1,
                                             "rest_unauthorized": 1})

    def test_messages_both_ways(self):
        port = self.start_sim(guilds=10)
        g = self.gateway()
        g.identify(TOKEN, intents=MESSAGES | MESSAGE_CONTENT)
        ready = g.wait_dispatch("READY")
        guild = ready["d"]["guilds"][0]["id"]
        channel = str(int(guild) + 1)  # #general

        status, inj = rest(port, "/_sim/messages", method="POST", body={"guild_id": guild, "content": "hi bot"})
        self.assertEqual((status, inj["sessions"]), (200, 1))
        msg = g.wait_dispatch("MESSAGE_CREATE")["d"]
        self.assertEqual((msg["id"], msg["content"], msg["channel_id"], msg["guild_id"]),
                         (inj["id"], "hi bot", channel, guild))

        path = f"/api/v10/channels/{channel}/messages"
        status, sent = rest(port, path, TOKEN, method="POST", body={"content": "hello humans"})
        self.assertEqual((status, sent["content"], sent["channel_id"]), (200, "hello humans", channel))
        self.assertTrue(sent["author"]["bot"])
        status, err = rest(port, path, TOKEN, method="POST", body={"content": ""})
        self.assertEqual((status, err["code"]), (400, 50006))
        self.assertEqual(rest(port, path, TOKEN, method="POST", body={"content": "x" * 2001})[0], 400)
        self.assertEqual(rest(port, path, method="POST", body={"content": "x"})[0], 401)
        status, err = rest(port, "/api/v10/channels/123/messages", TOKEN, method="POST", body={"content": "x"})
        self.assertEqual((status, err["code"]), (404, 10003))
        status, log = rest(port, f"/_sim/channels/{channel}/messages")
        self.assertEqual([m["content"] for m in log["messages"]], ["hello humans"])

    def test_message_content_intent(self):
        # Two sessions of one shard, with and without MESSAGE_CONTENT: the same message arrives
        # blank at the second, unless it mentions the bot.
        port = self.start_sim("--identify-window-ms", 1, guilds=10)
        sessions = {}
        for name, intents in (("with", 1 | MESSAGES | MESSAGE_CONTENT), ("without", 1 | MESSAGES)):
            if sessions:
                self.pass_identify_window()
            g = self.gateway()
            g.identify(TOKEN, intents=intents)
            ready = g.wait_dispatch("READY")
            self.read_guilds(g, ready)
            sessions[name] = g
        bot = ready["d"]["user"]["id"]
        guild = ready["d"]["guilds"][0]["id"]

        status, inj = rest(port, "/_sim/messages", method="POST",
                           body={"guild_id": guild, "content": "secret plans", "username": "alice"})
        self.assertEqual((status, inj["sessions"], inj["sessions_without_content"]), (200, 2, 1))
        full = sessions["with"].wait_dispatch("MESSAGE_CREATE")["d"]
        blank = sessions["without"].wait_dispatch("MESSAGE_CREATE")["d"]
        self.assertEqual((full["id"], full["content"], full["author"]["username"]), (inj["id"], "secret plans", "alice"))
        self.assertEqual((blank["id"], blank["content"]), (inj["id"], ""))
        self.assertEqual((blank["embeds"], blank["attachments"], blank["components"]), ([], [], []))
        self.assertEqual(blank["author"], full["author"])  # only the content goes
        self.assertEqual(full["mentions"], [])

        for mention in (f"<@{bot}>", f"<@!{bot}>"):
            text = f"hey {mention} status?"
            status, inj = rest(port, "/_sim/messages", method="POST", body={"guild_id": guild, "content": text})
            self.assertEqual((status, inj["sessions"], inj["sessions_without_content"]), (200, 2, 0))
            for g in sessions.values():
                d = g.wait_dispatch("MESSAGE_CREATE")["d"]
                self.assertEqual((d["id"], d["content"]), (inj["id"], text))
                self.assertEqual([u["id"] for u in d["mentions"]], [bot])
        # Another user's mention is not the bot's.
        status, inj = rest(port, "/_sim/messages", method="POST",
                           body={"guild_id": guild, "content": f"<@{int(bot) + 1}> hi"})
        self.assertEqual(sessions["without"].wait_dispatch("MESSAGE_CREATE")["d"]["content"], "")
        for body in ({"guild_id": guild, "content": "x", "username": "a"},
                     {"guild_id": guild, "content": "x", "username": "n" * 33},
                     {"guild_id": guild, "content": "x", "username": 7}):
            self.assertEqual(rest(port, "/_sim/messages", method="POST", body=body)[0], 400, body)
        self.assertEqual(self.violations(), {})

    def test_application_commands_in_stats(self):
        # A bot that registers only when its command set changed leaves `puts` alone.
        port = self.start_sim(guilds=10)
        app = rest(port, "/api/v10/applications/@me", TOKEN)[1]["id"]
        self.assertEqual(self.stats()["application_commands"], {"puts": 0, "global": 0})
        base = f"/api/v10/applications/{app}/commands"
        two = [{"name": "ping", "description": "Ping!"}, {"name": "stats", "description": "Stats"}]
        self.assertEqual(rest(port, base, TOKEN, method="PUT", body=two)[0], 200)
        self.assertEqual(self.stats()["application_commands"], {"puts": 1, "global": 2})
        # Refused (bad name) and unauthorized PUTs are not counted.
        self.assertEqual(rest(port, base, TOKEN, method="PUT", body=[{"name": "Bad Name", "description": "x"}])[0], 400)
        self.assertEqual(rest(port, base, method="PUT", body=two)[0], 401)
        self.assertEqual(rest(port, base, TOKEN)[0], 200)  # nor is reading them
        self.assertEqual(self.stats()["application_commands"], {"puts": 1, "global": 2})
        g = self.gateway()
        g.identify(TOKEN)
        gid = g.wait_dispatch("READY")["d"]["guilds"][0]["id"]
        status, _ = rest(port, f"/api/v10/applications/{app}/guilds/{gid}/commands", TOKEN, method="PUT",
                         body=[{"name": "local", "description": "Guild only"}])
        self.assertEqual(status, 200)
        self.assertEqual(self.stats()["application_commands"], {"puts": 2, "global": 2})  # guild scope too
        self.assertEqual(rest(port, base, TOKEN, method="PUT", body=[])[0], 200)
        self.assertEqual(self.stats()["application_commands"], {"puts": 3, "global": 0})


if __name__ == "__main__":
    unittest.main()
