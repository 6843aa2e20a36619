"""Issue 14 (bots in any language), acceptance on the simulator: the bot endpoint of
`shardline run` (SHARD_PROXY_PORT) serving real bots written with other libraries.

1. discord.py 2.x (Debian's python3-discord) and discord.js 14 (npm, pinned), each with its
   stock sharded client and only the API base changed (examples/discordpy_bot,
   examples/discordjs_bot), through the endpoints of two `shardline run` clusters holding
   shards 0-1 and 2-3 of 4: every guild of their shards with its channels and roles (checked
   against /_sim/world), injected messages received and `!ping` answered through the REST
   forward, an injected slash command answered (the simulator records the callback). The same
   for examples/cpp_bot, a C++ bot built from its own directory against Debian's Boost alone.
2. While the simulator streams 200 events/s, the bot process is restarted 5 times: no IDENTIFY
   and no RESUME from Shardline beyond its first start; each time the bot is READY with all its
   guilds within 2 s; a bot keeping its sessions across restarts (@discordjs/ws's session
   hooks, examples/discordjs_bot/session_bot.js) RESUMEs each time and misses no event.
3. Two bot processes on the same shards, the first stopped: the second missed nothing.
4. Every bad input, each with its close code: wrong token 4004, a shard held by another
   cluster 4010 naming that cluster, IDENTIFY twice 4005, no IDENTIFY in time 4003, no heartbeats
   4009, oversize and malformed payloads 4002, too many commands 4008; the cluster's shards
   untouched (no IDENTIFY at the simulator) and a client attached throughout kept receiving.
5. The discord.js example as `shardline launch`'s SHARD_BOT_COMMAND, unchanged: each bot runs
   its cluster's shards from its environment alone; `restart --bots` reconnects nothing.

Every wait is on a status API (the simulator's /_sim/, the hub's shard status) or on the bot's
own JSON lines, bounded. Needs node >= 18 and npm, the npm registry for `npm ci`, and Debian's
python3-discord (scripts/install-deps.sh); without them the tests fail, they do not skip."""
import json
import os
import time
import unittest

from peers import bots, procs, status
from peers.cases import require_binary
from peers.sim import Closed, Gateway, OP_TEXT, rest
from peers.wait import Deadline, pace, wait_until

TOKEN = "endpoint-test-token"  # not "bot...": discord.js strips a leading "Bot" from a token
SHARDS = 4
LAYOUT = {"c0": [0, 1], "c1": [2, 3]}
GUILDS = 48
# GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT: the cluster's shards must ask Discord for what the
# bots want to see (the endpoint serves what the shard receives).
INTENTS = 1 | (1 << 9) | (1 << 15)
# The guarantee for a restarted bot: READY with all its guilds within 2 s of its login
# (the bot's `starting` line, printed once its library is loaded, to its `ready`). Node takes
# 0.3-1 s more to load discord.js on a busy 2-core machine: the bot's own cost, bounded apart.
READY_WITHIN_S = 2.0
PROCESS_READY_WITHIN_S = 6.0


def shard_of(guild_id, count=SHARDS):
    return (int(guild_id) >> 22) % count


class EndpointCase(unittest.TestCase):
    """A simulator and two `shardline run` clusters, each with its bot endpoint on a free port."""

    @classmethod
    def setUpClass(cls):
        require_binary()

    def start_world(self, events_per_sec=0, **cluster_env):
        self.sim, self.sim_port = procs.start_sim({
            "--token": TOKEN, "--guilds": GUILDS, "--shards": SHARDS, "--max-concurrency": SHARDS,
            "--identify-window-ms": 300, "--heartbeat-ms": 2000, "--outage-ms": 0,
            "--events-per-sec": events_per_sec})
        self.addCleanup(self.sim.stop)
        self.clusters, self.endpoints = {}, {}
        hub_port = None
        for name, ids in LAYOUT.items():
            proxy_port_file = os.path.join(procs.scratch_dir(f"proxy-{name}-"), "port")
            env = procs.base_env(hub_port or 0, SHARD_CLUSTER_NAME=name,
                                 SHARD_IPC_MODE="server" if hub_port is None else "client",
                                 DISCORD_TOKEN=TOKEN,
                                 DISCORD_API_URL=f"http://127.0.0.1:{self.sim_port}/api/v10",
                                 DISCORD_IDENTIFY_WINDOW_MS=300, DISCORD_INTENTS=INTENTS,
                                 SHARD_COUNT=SHARDS, SHARD_IDS=",".join(map(str, ids)),
                                 SHARD_DATA_DIR=procs.scratch_dir("shards-"),
                                 SHARD_IPC_HEARTBEAT_S=1, SHARD_IPC_STATS_INTERVAL_S=1,
                                 SHARD_PROXY_PORT="auto",
                                 # The operator commands would overwrite the global commands
                                 # (a bulk PUT) the bots register: theirs are the bots' here.
                                 SHARD_COMMANDS="false", **cluster_env)
            args = ["run", "--proxy-port-file", proxy_port_file]
            if hub_port is None:
                args += ["--port-file", "{port_file}"]
            proc = procs.Proc(args, env, name=name)
            self.addCleanup(proc.stop)
            if hub_port is None:
                hub_port = proc.wait_port()
            self.clusters[name] = proc
            self.endpoints[name] = self.wait_port_file(proc, proxy_port_file)
        self.hub_port = hub_port
        status.wait_shards(hub_port, status.all_ready(SHARDS), f"{SHARDS} READY shards", timeout=30,
                           procs=list(self.clusters.values()))
        self.world = self.sim_get(f"/_sim/world?shards={SHARDS}")
        for name in LAYOUT:
            self.wait_endpoint_ready(name)
        self.base = self.sim_get("/_sim/stats")
        self.assertEqual(self.base["identifies"]["total"], SHARDS, self.base)

    def endpoint_status(self, cluster):
        """The endpoint's GET /_shardline/status (docs/bots.md)."""
        code, body = rest(self.endpoints[cluster], "/_shardline/status")
        self.assertEqual(code, 200, body)
        return body

    def wait_endpoint_ready(self, cluster):
        """Every shard of the cluster's endpoint has READY and every guild of the world in its
        cache: a bot connecting now gets them all at once."""
        want = {s: self.world["per_shard"][str(s)]["guilds"] for s in LAYOUT[cluster]}

        def ready():
            self.clusters[cluster].alive_or_fail("its endpoint being ready")
            st = self.endpoint_status(cluster)
            have = {s["id"]: s.get("available_guilds") for s in st["shards"] if s.get("ready")}
            return st if have == want else None
        return wait_until(ready, 20, f"the endpoint of {cluster} ready with every guild",
                          detail=lambda: str(self.endpoint_status(cluster)))

    def wait_port_file(self, proc, path):
        def read():
            proc.alive_or_fail("writing its --proxy-port-file")
            try:
                with open(path) as f:
                    text = f.read().strip()
                return int(text) if text else None
            except FileNotFoundError:
                return None
        return wait_until(read, 20, f"the endpoint port of {proc.name}", detail=proc.tail)

    def sim_get(self, path):
        code, body = rest(self.sim_port, path)
        self.assertEqual(code, 200, (path, body))
        return body

    def sim_post(self, path, body):
        code, out = rest(self.sim_port, path, method="POST", body=body)
        self.assertEqual(code, 200, (path, body, out))
        return out

    def assert_shardline_reconnected_nothing(self, since=None):
        """The simulator saw no IDENTIFY and no RESUME beyond the clusters' first start."""
        base = since or self.base
        now = self.sim_get("/_sim/stats")
        self.assertEqual(now["identifies"]["total"], base["identifies"]["total"], now)
        self.assertEqual(now["resumes"], base["resumes"], now)
        return now

    def guild_in(self, shard):
        return self.world["per_shard"][str(shard)]["guild_ids"][0]

    def bot_env(self, cluster, **extra):
        return bots.bot_env(self.endpoints[cluster], TOKEN, LAYOUT[cluster], SHARDS, **extra)

    def start_bot(self, lib, cluster, name=None, script="bot.js", **extra):
        env = self.bot_env(cluster, **extra)
        name = name or f"{lib}-{cluster}"
        if lib == "py":
            bot = bots.start_discordpy(env, name)
        elif lib == "cpp":
            bot = bots.start_cpp(env, name)
        else:
            bot = bots.start_discordjs(env, name, script)
        self.addCleanup(bot.stop)
        return bot

    # ---- what a bot saw ------------------------------------------------------------------

    def assert_sees_its_world(self, ready, shard_ids):
        """`ready` (a bot's JSON line) lists every guild of its shards, each with the channel
        and role the simulator gave it (#general, id guild+1; @everyone, id of the guild)."""
        guilds = {g["id"]: g for g in ready["guilds"]}
        self.assertEqual(len(guilds), len(ready["guilds"]), "a guild listed twice")
        for shard in range(SHARDS):
            mine = {gid for gid in guilds if shard_of(gid) == shard}
            want = self.world["per_shard"][str(shard)]
            if shard in shard_ids:
                self.assertEqual(len(mine), want["guilds"], (shard, want))
                self.assertLessEqual(set(want["guild_ids"]), mine, shard)
            else:
                self.assertEqual(mine, set(), f"guilds of shard {shard}, not this bot's")
        for gid, g in guilds.items():
            self.assertIn({"id": str(int(gid) + 1), "name": "general"}, g["channels"], g)
            self.assertIn({"id": gid, "name": "@everyone"}, g["roles"], g)

    def ping_and_interact(self, bot, shard):
        """A member posts `!ping` in a guild of `shard`: the bot sees the message and replies
        (POST /channels/{id}/messages through the endpoint's forward); then a member invokes
        /ping: the bot answers the interaction (the simulator records the callback)."""
        guild = self.guild_in(shard)
        channel = str(int(guild) + 1)
        sent = self.sim_post("/_sim/messages", {"guild_id": guild, "content": "!ping"})
        seen = bot.wait_one("message", lambda ev: ev["id"] == sent["id"])
        self.assertEqual((seen["guild"], seen["channel"], seen["content"]), (guild, channel, "!ping"))
        bot.wait_one("replied", lambda ev: ev["to"] == sent["id"])

        def reply_posted():
            posted = self.sim_get(f"/_sim/channels/{channel}/messages")["messages"]
            return [m for m in posted if (m.get("message_reference") or {}).get("message_id") == sent["id"]]
        reply = wait_until(reply_posted, 10, "the bot's reply in the simulator's channel log")[0]
        self.assertEqual(reply["content"], "pong")

        inter = self.sim_post("/_sim/interactions", {"name": "ping", "guild_id": guild})
        bot.wait_one("interaction_replied", lambda ev: ev["id"] == inter["id"])
        recorded = self.sim_get(f"/_sim/interactions/{inter['id']}")
        self.assertEqual(recorded["callback"]["type"], 4, recorded)
        self.assertEqual(recorded["callback"]["data"]["content"], f"pong {inter['id']}", recorded)


class StockClients(EndpointCase):
    """Acceptance 1: discord.py's AutoShardedClient and discord.js's Client, unchanged but for
    the API base, one per cluster."""

    def run_library(self, lib):
        self.start_world()
        started = {name: self.start_bot(lib, name) for name in LAYOUT}
        for name, bot in started.items():
            ready = bot.wait_one("ready", timeout=40)
            self.assertEqual(ready["shards"], LAYOUT[name], ready)
            self.assertEqual(ready["shard_count"], SHARDS, ready)
            self.assert_sees_its_world(ready, LAYOUT[name])
            bot.wait_one("commands", lambda ev: ev["names"] == ["ping"])  # /ping registered
        for name, bot in started.items():
            for shard in LAYOUT[name]:
                self.ping_and_interact(bot, shard)
        for bot in started.values():
            self.assertEqual(bot.errors(), [], bot.tail())
        # A bot's connection to the endpoint is not a Discord session.
        self.assert_shardline_reconnected_nothing()
        self.assertEqual(self.sim_get("/_sim/stats")["violations_total"], 0)

    def test_discordpy_autoshardedclient(self):
        self.run_library("py")

    def test_discordjs_client(self):
        self.run_library("js")

    def test_cpp_example_built_from_its_own_directory(self):
        bots.build_cpp()  # before the world starts: its build time is not the bot's
        self.run_library("cpp")


class Restarts(EndpointCase):
    """Acceptance 2 and 3, while the simulator streams 200 events/s."""

    def inject(self, shards, ids):
        """One message in a guild of each shard; their ids are appended to `ids`."""
        for shard in shards:
            ids.append(self.sim_post("/_sim/messages", {"guild_id": self.guild_in(shard),
                                                        "content": f"seq check {len(ids)}"})["id"])

    def test_stock_bot_restarted_five_times_is_ready_within_2s_and_costs_nothing_at_discord(self):
        self.start_world(events_per_sec=200)
        mine = LAYOUT["c0"]
        login, process = [], []
        bot = None
        for run in range(0, 6):
            if bot:
                self.assertEqual(bot.stop(), 0, bot.tail())
            # The stream makes the bot join or leave a guild about once in 1,000 events (every
            # ~5 s here): the READY must match the world as it was when the bot started or as
            # it is once it is READY.
            before = self.sim_get(f"/_sim/world?shards={SHARDS}")
            bot = self.start_bot("js", "c0", name=f"js-run{run}")
            ready = bot.wait_one("ready", timeout=30 if run == 0 else 15)
            if run > 0:
                process.append(round(time.monotonic() - bot.started, 3))
                login.append((ready["at"] - bot.wait_one("starting")["at"]) / 1000)
            after = self.sim_get(f"/_sim/world?shards={SHARDS}")
            worlds = [w for w in (before, after)
                      if sum(w["per_shard"][str(s)]["guilds"] for s in mine) == ready["guild_count"]]
            self.assertTrue(worlds, (ready["guild_count"], "guilds of the world before and after:",
                                     [sum(w["per_shard"][str(s)]["guilds"] for s in mine) for w in (before, after)]))
            self.world = worlds[-1]
            self.assert_sees_its_world(ready, mine)
            self.assert_shardline_reconnected_nothing()
        print(f"\nrestarted stock bot: login to READY {login} s, process start to READY {process} s")
        self.assertLessEqual(max(login), READY_WITHIN_S, f"login to READY took {login} s")
        self.assertLessEqual(max(process), PROCESS_READY_WITHIN_S, f"process start to READY took {process} s")
        self.assertEqual(bot.errors(), [], bot.tail())

    def test_session_keeping_bot_resumes_five_times_and_misses_no_event(self):
        self.start_world(events_per_sec=200)
        mine = LAYOUT["c0"]
        session_file = os.path.join(procs.scratch_dir("sessions-"), "sessions.json")
        runs, injected = [], []

        def start(run):
            bot = self.start_bot("js", "c0", name=f"session-run{run}", script="session_bot.js",
                                 SESSION_FILE=session_file)
            runs.append(bot)
            return bot

        bot = start(0)
        for ev in bot.wait("ready", count=len(mine), timeout=30):
            self.assertIn(ev["shard"], mine)
        self.inject(mine, injected)
        for run in range(1, 6):
            bot.wait("d", lambda ev: ev.get("id") in injected[-len(mine):], count=len(mine))
            self.assertEqual(bot.stop(), 0, bot.tail())
            self.inject(mine, injected)  # while no bot is attached: the endpoint keeps them
            bot = start(run)
            resumed = bot.wait("resumed", count=len(mine), timeout=15)
            took = (max(ev["at"] for ev in resumed) - bot.wait_one("starting")["at"]) / 1000
            self.assertEqual(sorted({ev["shard"] for ev in resumed}), mine)
            self.assertLessEqual(took, READY_WITHIN_S, f"RESUMED on every shard {took:.3f} s after login")
            self.assertEqual(bot.events("ready"), [], "the bot identified again instead of resuming")
            self.inject(mine, injected)
        bot.wait("d", lambda ev: ev.get("id") in injected[-len(mine):], count=len(mine))
        self.assertEqual(bot.stop(), 0, bot.tail())

        seen = [ev for b in runs for ev in b.events("d")]
        got_ids = {ev["id"] for ev in seen if "id" in ev}
        self.assertEqual([i for i in injected if i not in got_ids], [], "injected messages the bot missed")
        for shard in mine:
            seqs = [ev["s"] for ev in seen if ev["shard"] == shard and ev["s"] is not None]
            # ~50 dispatches a second per shard at 200 events/s over 4 shards; the runs take a few
            # seconds in all, so a few dozen at least (the gaps check below needs them).
            self.assertGreater(len(seqs), 30, f"shard {shard}: the stream reached the bot")
            self.assertEqual(bots.gaps(seqs), [], f"shard {shard}: dispatches missed across restarts")
            self.assertEqual(len(seqs), len(set(seqs)), f"shard {shard}: dispatches delivered twice")
        for b in runs:
            self.assertEqual(b.errors(), [], b.tail())
        self.assert_shardline_reconnected_nothing()

    def test_second_bot_beside_the_first_misses_nothing_when_the_first_stops(self):
        self.start_world(events_per_sec=200)
        mine = LAYOUT["c0"]
        old = self.start_bot("js", "c0", name="old", script="session_bot.js",
                             SESSION_FILE=os.path.join(procs.scratch_dir("old-"), "s.json"))
        old.wait("ready", count=len(mine), timeout=30)
        new = self.start_bot("js", "c0", name="new", script="session_bot.js",
                             SESSION_FILE=os.path.join(procs.scratch_dir("new-"), "s.json"))
        new.wait("ready", count=len(mine), timeout=30)
        injected = []
        self.inject(mine, injected)
        for b in (old, new):
            b.wait("d", lambda ev: ev.get("id") in injected, count=len(injected))
        self.assertEqual(old.stop(), 0, old.tail())   # the old version goes away
        self.inject(mine, injected)
        new.wait("d", lambda ev: ev.get("id") in injected, count=len(injected))
        events = new.events("d")
        got = {ev.get("id") for ev in events}
        self.assertEqual([i for i in injected if i not in got], [])
        for shard in mine:
            seqs = [ev["s"] for ev in events if ev["shard"] == shard]
            self.assertEqual(bots.gaps(seqs), [], f"shard {shard}: the second bot missed dispatches")
        self.assertEqual(new.events("resumed"), [])
        self.assert_shardline_reconnected_nothing()


class BadInput(EndpointCase):
    """Acceptance 4: each bad input on its own connection, with its close code; the cluster's
    shards and a client attached throughout are not affected."""

    def connect(self, cluster="c0"):
        gw = Gateway(self.endpoints[cluster])
        self.addCleanup(gw.close)
        return gw

    def identify_ready(self, gw, shard):
        """IDENTIFY until READY. An endpoint that paces IDENTIFY per bucket as Discord does
        may answer INVALID_SESSION; a client then waits a moment and tries again (bounded)."""
        for _ in range(10):
            gw.identify(TOKEN, shard=(shard, SHARDS), intents=INTENTS)
            msg = gw.inbox.take(lambda m: (m["op"] == 0 and m["t"] == "READY") or m["op"] == 9, 10,
                                "READY or INVALID_SESSION")
            if msg["op"] == 0:
                return msg
            gw.heartbeat()
            pace(0.5)  # Discord asks for a pause before the next IDENTIFY
        self.fail(f"no READY for shard {shard} after 10 IDENTIFYs")

    def assert_closed(self, gw, code, timeout=10.0):
        """Reads (dispatches may still come) until the server closes, within `timeout`."""
        deadline = Deadline(timeout, f"close {code}")
        with self.assertRaises(Closed) as cm:
            while not deadline.passed():
                gw.recv(max(0.01, deadline.left()))
            deadline.fail("the connection is still open")
        self.assertEqual(cm.exception.code, code, cm.exception)
        return cm.exception

    def test_every_bad_input_gets_its_close_code_and_harms_nobody(self):
        self.start_world(events_per_sec=200)
        attached = bots.AttachedClient(self.endpoints["c0"], TOKEN, (0, SHARDS), INTENTS)
        self.addCleanup(attached.close)
        attached.wait_ready()
        attached.wait_more(attached.count(), timeout=10)
        # The two cases that take a deadline's time run beside the others: a client that never
        # IDENTIFYs (heartbeating all along) and one that IDENTIFYs and never heartbeats.
        silent = bots.AttachedClient(self.endpoints["c0"], TOKEN, (0, SHARDS), name="never-identifies",
                                     identify=False)
        mute = bots.AttachedClient(self.endpoints["c0"], TOKEN, (1, SHARDS), INTENTS, name="never-heartbeats",
                                   heartbeat=False)
        for c in (silent, mute):
            self.addCleanup(c.close)

        # Wrong token: 4004.
        gw = self.connect()
        gw.identify("not-the-token", shard=(0, SHARDS), intents=INTENTS)
        self.assert_closed(gw, 4004)

        # A shard this cluster does not hold: 4010, and the reason names the cluster that does.
        gw = self.connect("c0")
        gw.identify(TOKEN, shard=(2, SHARDS), intents=INTENTS)
        closed = self.assert_closed(gw, 4010)
        self.assertRegex(closed.reason, r"shard \[2, 4\] is held by cluster c1\b", closed)

        # IDENTIFY twice: 4005.
        gw = self.connect()
        self.identify_ready(gw, 1)
        gw.identify(TOKEN, shard=(1, SHARDS), intents=INTENTS)
        self.assert_closed(gw, 4005)

        # Oversize: one message over 4,096 bytes, 4002.
        gw = self.connect()
        self.identify_ready(gw, 0)
        gw.send_json({"op": 3, "d": {"since": None, "activities": [], "status": "online", "afk": False,
                                     "pad": "x" * 5000}})
        self.assert_closed(gw, 4002)

        # Malformed: not JSON, and JSON without an integer op, 4002 each.
        for bad in (b"{not json", b'{"d": {}}', b'[1, 2, 3]'):
            gw = self.connect()
            gw.send_frame(OP_TEXT, bad)
            self.assert_closed(gw, 4002)

        # Too many commands: 120 per 60 s, then 4008.
        gw = self.connect()
        self.identify_ready(gw, 1)
        for _ in range(130):
            gw.heartbeat()
        self.assert_closed(gw, 4008)

        # No heartbeats: 4009 once 1.5 heartbeat intervals (HELLO's) have passed.
        closed = mute.wait_closed(mute.interval * 1.5 + 10)
        self.assertEqual(closed.code, 4009, closed)
        self.assertIsNotNone(mute.ready, "the client that stopped heartbeating was READY first")
        self.assertGreaterEqual(mute.closed_at - mute.connected_at, mute.interval, "closed too early")

        # No IDENTIFY in time (the endpoint waits 60 s, heartbeats notwithstanding): 4003, not
        # authenticated, as Discord closes a connection that never identified.
        closed = silent.wait_closed(90)
        self.assertEqual(closed.code, 4003, closed)

        # Nothing of that reached Discord or the client attached throughout.
        before = attached.count()
        attached.wait_more(before, timeout=10)
        attached.check()
        self.assertEqual(bots.gaps(attached.seqs()), [], "the attached client missed dispatches")
        status.wait_shards(self.hub_port, status.all_ready(SHARDS), "every shard still READY", timeout=10)
        self.assert_shardline_reconnected_nothing()


if __name__ == "__main__":
    unittest.main()


class UnderLaunch(EndpointCase):
    """The examples as SHARD_BOT_COMMAND of `shardline launch`, unchanged: each bot finds its
    cluster's endpoint and shards in its environment alone; `shardline restart --bots` replaces
    them with zero Discord reconnects."""

    def test_discordjs_example_as_shard_bot_command(self):
        self.sim, self.sim_port = procs.start_sim({
            "--token": TOKEN, "--guilds": GUILDS, "--shards": SHARDS, "--max-concurrency": SHARDS,
            "--identify-window-ms": 300, "--heartbeat-ms": 2000, "--outage-ms": 0, "--events-per-sec": 50})
        self.addCleanup(self.sim.stop)
        js_dir = bots.install_discordjs()
        out_dir = procs.scratch_dir("launch-bot-out-")
        # Each bot's JSON lines in a file of its own: the command is split into words, no shell
        # reads it, so the redirection is sh's.
        command = f"sh -c 'exec node \"{js_dir}/bot.js\" >> \"$BOT_OUT/$SHARD_CLUSTER_NAME.out\"'"
        env = procs.base_env(0, DISCORD_TOKEN=TOKEN, DISCORD_API_URL=f"http://127.0.0.1:{self.sim_port}/api/v10",
                             DISCORD_IDENTIFY_WINDOW_MS=300, DISCORD_INTENTS=INTENTS, SHARD_COUNT=SHARDS,
                             SHARD_CLUSTERS=2, SHARD_DATA_DIR=procs.scratch_dir("launch-"),
                             SHARD_IPC_HEARTBEAT_S=0.5, SHARD_IPC_STATS_INTERVAL_S=1, SHARD_COMMANDS="false",
                             SHARD_BOT_COMMAND=command, BOT_OUT=out_dir)
        sup = procs.Proc(["launch", "--port-file", "{port_file}"], env, name="launch")
        self.addCleanup(sup.stop)
        hub_port = sup.wait_port()
        status.wait_shards(hub_port, status.all_ready(SHARDS), "every shard READY", 30, procs=[sup])
        self.world = self.sim_get(f"/_sim/world?shards={SHARDS}")
        names = ["cluster-0", "cluster-1"]

        def lines(name, kind):
            path = os.path.join(out_dir, f"{name}.out")
            if not os.path.exists(path):
                return []
            with open(path, errors="replace") as f:
                rows = [json.loads(line) for line in f.read().split("\n")[:-1] if line.startswith("{")]
            return [r for r in rows if r["event"] == kind]

        def wait_lines(name, kind, count=1, timeout=40):
            def check():
                sup.alive_or_fail(f"{kind} from the bot of {name}")
                found = lines(name, kind)
                return found[count - 1] if len(found) >= count else None
            return wait_until(check, timeout, f"{count} {kind!r} from the bot of {name}")

        held = {}
        for name in names:
            ready = wait_lines(name, "ready")
            held[name] = ready["shards"]
            self.assert_sees_its_world(ready, ready["shards"])
            wait_lines(name, "commands")
        self.assertEqual(sorted(held["cluster-0"] + held["cluster-1"]), list(range(SHARDS)))
        base = self.sim_get("/_sim/stats")

        # Each cluster's bot answers in its own shards' guilds, through its own endpoint.
        for name in names:
            guild = self.guild_in(held[name][0])
            sent = self.sim_post("/_sim/messages", {"guild_id": guild, "content": "!ping"})
            wait_until(lambda: [r for r in lines(name, "replied") if r["to"] == sent["id"]], 15,
                       f"the bot of {name} replying to !ping")

        res = procs.run_cli(["restart", "--bots", "--timeout-s", "90"], procs.base_env(hub_port), timeout=120)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        for name in names:
            ready = wait_lines(name, "ready", count=2)
            self.assertEqual(ready["shards"], held[name])
            self.assert_sees_its_world(ready, held[name])
        self.assert_shardline_reconnected_nothing(since=base)
