"""Issue 3, acceptance 1: a real discord.js client (installed from the npm registry, pinned by
tests/discordjs/package-lock.json) against `shardline sim`. It logs in with only its REST base
pointed at the simulator, gets READY and every guild of the world on the two shards the
simulator recommends, answers an injected slash command through interaction.reply(), and
survives an injected RECONNECT by resuming (no new IDENTIFY, no dispatch lost or repeated).

Needs node (>= 18) and npm (scripts/install-deps.sh installs them) and the npm registry for
`npm ci`; without them the test fails, it does not skip. The bot is tests/discordjs/bot.js,
which prints one JSON object per line; every wait is on those lines or on /_sim/ state,
with a deadline."""
import os
import time
import unittest

from peers import bots, npm, procs
from peers.cases import require_binary
from peers.sim import rest
from peers.wait import Deadline, wait_until

TOKEN = "sim-discordjs-token"
JS_DIR = os.path.join(procs.ROOT, "tests", "discordjs")
GUILDS = 60
SHARDS = 2


def shard_of(guild_id):
    return (int(guild_id) >> 22) % SHARDS


class TestDiscordJs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()

    def install(self):
        """Checks node and npm, then `npm ci` of the pinned discord.js into a scratch copy
        of tests/discordjs; returns that directory."""
        return npm.install(JS_DIR, ("package.json", "package-lock.json", "bot.js"), "discordjs-")

    def start_sim(self):
        sim, port = procs.start_sim({
            "--token": TOKEN, "--guilds": GUILDS, "--shards": SHARDS, "--max-concurrency": SHARDS,
            # the guild in an outage (there is one in a world of 20 or more) is most likely
            # still out when discord.js identifies, so it is seen unavailable, then created
            "--outage-ms": 3000,
            # heartbeats (and the server's heartbeat requests) happen during the test
            "--heartbeat-ms": 2000, "--server-heartbeat-ms": 3000})
        self.addCleanup(sim.stop)
        return sim, port

    def test_discordjs_client(self):
        workdir = self.install()
        sim, port = self.start_sim()

        def stats():
            status, body = rest(port, "/_sim/stats")
            self.assertEqual(status, 200)
            return body

        def sessions(shard):
            status, body = rest(port, f"/_sim/sessions?shard={shard}")
            self.assertEqual(status, 200)
            return body["sessions"]

        started = time.monotonic()
        # tests/discordjs/bot.js under node: its stdout is JSON lines, its stderr discord.js's
        # debug log.
        bot = bots.BotProc(["node", "bot.js", "--port", str(port), "--token", TOKEN, "--command", "ping",
                            "--intents", "Guilds,GuildMessages"], None, workdir, "discordjs-sim")
        self.addCleanup(bot.stop)

        # READY on both shards, then every guild of the world available (the one in an
        # outage comes later, as guildAvailable).
        gateway_ready = bot.wait("gateway_ready", count=SHARDS, timeout=30)
        self.assertEqual(sorted(ev["shard"] for ev in gateway_ready), list(range(SHARDS)))
        self.assertTrue(all(ev["resume_gateway_url"] == f"ws://127.0.0.1:{port}" for ev in gateway_ready))
        session_ids = {ev["shard"]: ev["session_id"] for ev in gateway_ready}
        ready = bot.wait("ready", timeout=30)[0]
        st = stats()
        self.assertEqual((st["guilds"], st["recommended_shards"]), (GUILDS, SHARDS))
        self.assertEqual(ready["shards"], SHARDS)
        self.assertEqual(sum(ev["guilds"] for ev in gateway_ready), GUILDS)
        world = set(ready["available"]) | set(ready["unavailable"])
        self.assertEqual(len(world), GUILDS, "discord.js knows every guild of the simulated world")

        def all_available():
            seen = set(ready["available"]) | {ev["id"] for ev in bot.events("guild_available")}
            return seen == world
        wait_until(all_available, 20, "GUILD_CREATE for every guild")
        for ev in bot.events("guild_available"):
            self.assertEqual(ev["shard"], shard_of(ev["id"]), "a guild arrived on the shard that owns it")
        self.assertEqual(ready["shard_of"], {g: shard_of(g) for g in world})
        self.assertEqual((st["identifies"]["total"], st["sessions"]["live"]), (SHARDS, SHARDS))
        self.assertEqual(st["sessions"]["per_shard"], {str(s): 1 for s in range(SHARDS)})
        bot.wait("heartbeat_ack", lambda ev: ev["shard"] == 0)
        bot.wait("heartbeat_ack", lambda ev: ev["shard"] == 1)

        # A slash command on each shard, answered by interaction.reply() through the
        # simulator's callback route.
        commands = bot.wait("commands")[0]
        self.assertEqual(commands["names"], ["ping"])
        guild_of_shard = {shard_of(g): g for g in sorted(world)}
        for shard in range(SHARDS):
            status, inj = rest(port, "/_sim/interactions", method="POST",
                               body={"name": "ping", "guild_id": guild_of_shard[shard]})
            self.assertEqual((status, inj["sessions"]), (200, 1), inj)
            bot.wait("replied", lambda ev: ev["id"] == inj["id"])
            status, rec = rest(port, f"/_sim/interactions/{inj['id']}")
            self.assertEqual(status, 200)
            self.assertEqual(rec["callback"]["type"], 4)
            self.assertEqual(rec["callback"]["data"]["content"], f"pong {inj['id']}")
        interactions = bot.events("interaction")
        self.assertEqual(len(interactions), SHARDS)
        self.assertTrue(all(ev["command"] == "ping" for ev in interactions))

        # RECONNECT on shard 0. Messages keep coming on both shards while shard 0 is away
        # (discord.js closes at once with 4200 and reconnects 500 ms later); its resume must
        # bring every one of them, once, without a new IDENTIFY. A few more follow it.
        before = stats()
        status, answer = rest(port, "/_sim/faults", method="POST", body={"shard": 0, "kind": "reconnect"})
        self.assertEqual((status, answer), (200, {"applied": 1}))
        injected = []
        shard_guilds = [sorted(g for g in world if shard_of(g) == s) for s in range(SHARDS)]

        def inject_message():
            pool = shard_guilds[1 if len(injected) % 4 == 3 else 0]  # 3 of 4 on shard 0
            guild = pool[len(injected) % len(pool)]
            status, msg = rest(port, "/_sim/messages", method="POST",
                               body={"guild_id": guild, "content": f"message {len(injected)}"})
            self.assertEqual(status, 200, msg)
            injected.append(msg["id"])

        # Messages while shard 0 is away: at most 200, for at most 20 s.
        away = Deadline(20, "shard 0's resume")
        while not bot.events("shard_resume") and len(injected) < 200 and not away.passed():
            inject_message()
        resume = bot.wait("shard_resume", timeout=20)[0]
        self.assertEqual(resume["shard"], 0)
        for _ in range(8):
            inject_message()
        wait_until(lambda: {ev["id"] for ev in bot.events("message")} >= set(injected), 15,
                   f"all {len(injected)} injected messages at the bot")
        received = [ev["id"] for ev in bot.events("message")]
        self.assertEqual(sorted(received), sorted(injected), "each message exactly once")

        after = stats()
        self.assertEqual(after["resumes"], before["resumes"] + 1)
        self.assertEqual(after["resumes_refused"], 0)
        self.assertEqual(after["identifies"]["total"], before["identifies"]["total"], "resumed, not re-identified")
        self.assertEqual(after["sessions"]["live"], SHARDS)
        self.assertGreater(after["events_sent"]["replayed_per_shard"]["0"], 0, "the resume replayed something")
        self.assertEqual(after["events_sent"]["replayed_per_shard"]["1"], 0)
        self.assertEqual(len(bot.events("gateway_ready")), SHARDS)
        self.assertEqual([ev["shard"] for ev in bot.events("shard_reconnecting")], [0])
        last_seq = {}
        for shard in range(SHARDS):
            [s] = sessions(shard)
            self.assertEqual(s["session_id"], session_ids[shard])
            self.assertTrue(s["attached"])
            self.assertEqual(s["resumes"], 1 if shard == 0 else 0)
            self.assertEqual(s["undelivered"], [], f"shard {shard}: events lost")
            self.assertEqual(s["delivered"], [[1, s["last_seq"]]])
            last_seq[shard] = s["last_seq"]

        # The bot's own count: every sequence number 1..last_seq, none twice.
        self.assertEqual(bot.stop(), 0)
        [summary] = bot.events("summary")
        for shard in range(SHARDS):
            seen = summary["shards"][str(shard)]
            self.assertEqual((seen["max_seq"], seen["missing"], seen["repeated"]), (last_seq[shard], 0, 0),
                             f"shard {shard}: {seen}")
        self.assertEqual(bot.events("error"), [])
        self.assertEqual(bot.events("shard_disconnect"), [])
        self.assertEqual(stats()["violations"], {}, "discord.js broke no rule")
        self.assertLess(time.monotonic() - started, 60, "the test itself (after npm ci) stays under a minute")


if __name__ == "__main__":
    unittest.main()
