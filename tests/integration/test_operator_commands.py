"""Operator commands in Discord (issue 5): /clusters, /ipcstatus and /broadcastmsg answered by
three `shardline run` clusters on the simulator, as slash commands (injected through
/_sim/interactions) and as prefix messages (/_sim/messages).

The application is team-owned in the simulator, so each test acts as a different owner and
the per-user cooldown of one test never refuses another's call. Every check reads what the
simulator recorded (the callback, the edits of the original response, the channel's
messages), synchronised on those records and on the hub's status, never on sleeps."""
import json
import re
import signal
import time
import unittest

from peers import procs, status
from peers.cases import require_binary
from peers.sim import rest
from peers.wait import pace, wait_until

TOKEN = "sim-token"
SHARDS = 6
LAYOUT = {"cluster-0": [0, 1], "cluster-1": [2, 3], "cluster-2": [4, 5]}
TEAM = [str(1100000000000000000 + i) for i in range(1, 9)]  # owners, one per test
STRANGER = "1299999999999999999"
EPHEMERAL = 64
TIMEOUT_MS = 3000  # SHARD_COMMAND_TIMEOUT_MS: how long /clusters waits for clusters


def field_numbers(value):
    """{"Guilds": 1234, "Users": ..., "Shards": ...} from a cluster field's text."""
    return {k: int(v.replace(",", "")) for k, v in re.findall(r"(Guilds|Users|Shards) \*\*([\d,]+)\*\*", value)}


class Fleet(unittest.TestCase):
    """A simulator and three clusters (cluster-0 hosts the hub), started once per class."""

    extra_env = {}

    @classmethod
    def setUpClass(cls):
        require_binary()
        cls.procs = []
        cls.sim, cls.sim_port = procs.start_sim({
            "--token": TOKEN, "--guilds": 300, "--shards": SHARDS, "--identify-window-ms": 300,
            "--max-concurrency": 16, "--heartbeat-ms": 1000, "--outage-ms": 0, "--team-members": ",".join(TEAM)})
        cls.procs.append(cls.sim)
        status, world = rest(cls.sim_port, f"/_sim/world?shards={SHARDS}")
        assert status == 200, world
        cls.world = world
        cls.guild_of = {name: int(world["per_shard"][str(ids[0])]["guild_ids"][0]) for name, ids in LAYOUT.items()}
        # cluster-2 posts broadcasts to the #general channel of one of its guilds (not one the
        # tests invoke commands in).
        cls.broadcast_channel = int(world["per_shard"]["5"]["guild_ids"][0]) + 1
        cls.clusters = {}
        cls.start_cluster("cluster-0", server=True)
        cls.hub_port = cls.clusters["cluster-0"].wait_port()
        for name in ("cluster-1", "cluster-2"):
            cls.start_cluster(name)
        cls.wait_fleet_ready()

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.stop()

    @classmethod
    def start(cls, args, env, name):
        p = procs.Proc(args, env, name=name)
        cls.procs.append(p)
        return p

    @classmethod
    def cluster_env(cls, name):
        env = procs.base_env(cls.hub_port if name != "cluster-0" else 0,
                               SHARD_CLUSTER_NAME=name, SHARD_IPC_MODE="server" if name == "cluster-0" else "client",
                               DISCORD_TOKEN=TOKEN, DISCORD_API_URL=f"http://127.0.0.1:{cls.sim_port}/api/v10",
                               DISCORD_IDENTIFY_WINDOW_MS=300, DISCORD_INTENTS=513 | (1 << 15),
                               SHARD_COUNT=SHARDS, SHARD_IDS=",".join(map(str, LAYOUT[name])),
                               SHARD_DATA_DIR=procs.scratch_dir("shards-"),
                               SHARD_IPC_HEARTBEAT_S=0.5, SHARD_IPC_STATS_INTERVAL_S=1,
                               SHARD_HEALTH_GREEN_S=2, SHARD_HEALTH_YELLOW_S=4,
                               SHARD_COMMAND_TIMEOUT_MS=TIMEOUT_MS, **cls.extra_env)
        if name == "cluster-2":
            env["SHARD_BROADCAST_CHANNEL_ID"] = str(cls.broadcast_channel)
        return env

    @classmethod
    def start_cluster(cls, name, server=False):
        args = ["run", "--port-file", "{port_file}"] if server else ["run"]
        cls.clusters[name] = cls.start(args, cls.cluster_env(name), name)
        return cls.clusters[name]

    @classmethod
    def cli(cls, *args):
        res = procs.run_cli(list(args), procs.base_env(cls.hub_port), timeout=20)
        return res

    @classmethod
    def wait_fleet_ready(cls):
        """Every cluster linked, its shards' guilds counted, and the owners known."""
        def ready(report):
            # Answered, with a gateway latency (each shard has had a heartbeat acknowledged).
            answered = [c for c in report["clusters"] if c["answered"] and c["latency"] is not None]
            return report if len(answered) == 3 and report["totals"]["guilds"] == cls.world["guilds"] else None
        status.wait_cli(["clusters", "--json", "--timeout-ms", "2000"], procs.base_env(cls.hub_port), ready,
                        "three clusters holding every guild", timeout=40, procs=cls.procs)
        # That a cluster knows the bot's owners has no status API: until one exists, this
        # line of its log is the only sign (every test acts as an owner).
        for p in cls.clusters.values():
            p.assert_log(r"operator commands: owners from the team", timeout=20)

    # ---- the simulator's side ----

    def sim_stats(self):
        status, body = rest(self.sim_port, "/_sim/stats")
        self.assertEqual(status, 200)
        return body

    def invoke(self, name, cluster, user, options=None):
        """A slash command from `user` in a guild of `cluster`'s shards; its interaction id."""
        body = {"name": name, "guild_id": str(self.guild_of[cluster]), "user_id": user}
        if options is not None:
            body["options"] = options
        status, out = rest(self.sim_port, "/_sim/interactions", method="POST", body=body)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["sessions"], 1, out)
        return out["id"]

    def interaction(self, iid):
        status, body = rest(self.sim_port, f"/_sim/interactions/{iid}")
        self.assertEqual(status, 200, body)
        return body

    def answer(self, iid, timeout=10.0):
        """The message the bot answered with: the callback's, or the last edit after a defer."""
        def done():
            rec = self.interaction(iid)
            cb = rec["callback"]
            if cb and cb["type"] == 4:
                return rec, cb["data"]
            if cb and cb["type"] == 5 and rec["edits"]:
                return rec, rec["edits"][-1]
            return None
        return wait_until(done, timeout, f"an answer to interaction {iid}")

    def channel_messages(self, channel):
        status, body = rest(self.sim_port, f"/_sim/channels/{channel}/messages")
        self.assertEqual(status, 200)
        return body["messages"]

    def cluster_fields(self, embed):
        """{cluster name: (health emoji, field value)} from a /clusters embed."""
        out = {}
        for f in embed["fields"]:
            m = re.match(r"^(\S+) (cluster-\d)$", f["name"])
            if m:
                out[m.group(2)] = (m.group(1), f["value"])
        return out

    def expected(self, shard_ids):
        per = self.world["per_shard"]
        return {"Guilds": sum(per[str(s)]["guilds"] for s in shard_ids),
                "Users": sum(per[str(s)]["members"] for s in shard_ids), "Shards": len(shard_ids)}


class OperatorCommands(Fleet):

    def test_commands_registered_once(self):
        """The cluster running shard 0 registers the three commands; the others do not, and a
        restart with the same set leaves Discord's set alone."""
        stats = self.sim_stats()
        self.assertEqual(stats["application_commands"]["global"], 3)
        self.assertEqual(stats["application_commands"]["puts"], 1, stats["application_commands"])
        # Which cluster registered them is only in the clusters' logs: the lines are the
        # behaviour checked (the simulator counts the registration above).
        self.clusters["cluster-0"].assert_log(r"registered /clusters, /ipcstatus and /broadcastmsg")
        for name in ("cluster-1", "cluster-2"):
            self.assertNotIn("slash commands", self.clusters[name].log())

    def test_clusters_as_owner_matches_the_world(self):
        iid = self.invoke("clusters", "cluster-1", TEAM[0])
        rec, msg = self.answer(iid)
        self.assertEqual(rec["callback"]["type"], 4)  # everyone answered: no need to defer
        self.assertFalse(msg.get("flags", 0) & EPHEMERAL)
        self.assertEqual(msg["allowed_mentions"], {"parse": []})
        embed = msg["embeds"][0]
        self.assertEqual(embed["title"], "Clusters")
        fields = self.cluster_fields(embed)
        self.assertEqual(sorted(fields), sorted(LAYOUT))
        for name, ids in LAYOUT.items():
            mark, value = fields[name]
            self.assertEqual(mark, "🟢", (name, value))
            self.assertEqual(field_numbers(value), self.expected(ids), (name, value))
            self.assertIn(f"({', '.join(map(str, ids))})", value)
            self.assertRegex(value, r"Latency \*\*\d+(\.\d)? ms\*\*")
            self.assertRegex(value, r"Uptime \*\*\d+[smhd]")
        total = [f for f in embed["fields"] if f["name"].endswith("Total")][0]
        self.assertEqual(field_numbers(total["value"]), {"Guilds": self.world["guilds"],
                                                         "Users": self.world["members"], "Shards": SHARDS})
        self.assertEqual(embed["color"], 0x2ECC71)
        self.assertIn("Hub **cluster-0** (server)", embed["description"])
        self.assertNotIn("Not answering", embed["description"])
        self.assertEqual(self.sim_stats()["violations"], {})

    def test_stranger_is_refused_privately(self):
        before = self.sim_stats()["application_commands"]["puts"]
        posts_before = len(self.channel_messages(self.broadcast_channel))
        for name, options in (("clusters", None), ("ipcstatus", None),
                              ("broadcastmsg", [{"name": "message", "type": 3, "value": "hi from a stranger"}])):
            iid = self.invoke(name, "cluster-2", STRANGER, options)
            rec, msg = self.answer(iid)
            self.assertEqual(rec["callback"]["type"], 4)
            self.assertEqual(msg["flags"], EPHEMERAL)
            self.assertEqual(msg["content"], f"⛔ Only the bot owner can use /{name}.")
            self.assertNotIn("embeds", msg)
        # Nothing else happened: no broadcast went out, nothing was registered.
        self.assertNotIn("hi from a stranger", self.clusters["cluster-1"].log())
        self.assertEqual(len(self.channel_messages(self.broadcast_channel)), posts_before)
        self.assertEqual(self.sim_stats()["application_commands"]["puts"], before)

    def test_cooldown_refuses_within_ten_seconds_and_allows_after(self):
        first = self.invoke("clusters", "cluster-0", TEAM[1])
        self.assertIn("embeds", self.answer(first)[1])
        started = time.monotonic()
        second = self.invoke("clusters", "cluster-0", TEAM[1])
        rec, msg = self.answer(second)
        self.assertEqual(msg["flags"], EPHEMERAL)
        m = re.match(r"⏳ /clusters is on cooldown: try again in (\d+\.\d) s\.$", msg["content"])
        self.assertIsNotNone(m, msg)
        left = float(m.group(1))
        self.assertGreater(left, 0)
        self.assertLessEqual(left, 10.0)
        # The prefix form shares the cooldown.
        self.post_message("cluster-0", TEAM[1], "!clusters")
        reply = self.wait_reply(self.guild_of["cluster-0"] + 1, lambda m: "cooldown" in m["content"])
        self.assertIn("⏳ !clusters is on cooldown", reply["content"])
        # Once the time it gave has passed, the command works again: waiting out the figure
        # the refusal gave is the scenario.
        pace(max(0.0, left + 0.2 - (time.monotonic() - started)))
        third = self.invoke("clusters", "cluster-0", TEAM[1])
        self.assertIn("embeds", self.answer(third)[1])
        # /ipcstatus has a cooldown of its own.
        self.assertIn("embeds", self.answer(self.invoke("ipcstatus", "cluster-0", TEAM[1]))[1])

    def test_ipcstatus_on_the_hub_and_on_a_client(self):
        rec, msg = self.answer(self.invoke("ipcstatus", "cluster-0", TEAM[2]))
        self.assertEqual(msg["flags"], EPHEMERAL)
        embed = msg["embeds"][0]
        desc = embed["description"]
        self.assertIn("Mode **server**", desc)
        self.assertIn(f"Port **{self.hub_port}**", desc)
        self.assertNotIn(procs.SECRET, json.dumps(msg))
        self.assertIn("`in", desc)  # masked: first two characters, stars, last two
        self.assertIn(procs.SECRET[-2:] + "`", desc)
        self.assertIn("**Connected clients (3)**", desc)
        for name in LAYOUT:
            self.assertRegex(desc, rf"🟢 \*\*{name}\*\* \(cluster, v2\) 127\.0\.0\.1:\d+ · heartbeat \d+s ago")

        rec, msg = self.answer(self.invoke("ipcstatus", "cluster-1", TEAM[2]))
        embed = msg["embeds"][0]
        self.assertIn("Mode **client**", embed["description"])
        self.assertNotIn("Connected clients", embed["description"])
        link = [f for f in embed["fields"] if f["name"] == "Link to the hub"][0]["value"]
        self.assertRegex(link, r"🟢 linked to \*\*cluster-0\*\* for \d+")
        self.assertRegex(link, r"Last heartbeat ack \d+s ago · round trip \d+\.\d ms")

    def test_broadcast_reaches_other_clusters_and_the_channel(self):
        text = "Deploying v2.1 at 18:00 UTC — hold restarts 🙏 @everyone"
        rec, msg = self.answer(self.invoke("broadcastmsg", "cluster-1", TEAM[3],
                                           [{"name": "message", "type": 3, "value": text}]))
        self.assertEqual(msg["content"], "📣 Broadcast sent to 3 cluster(s): cluster-0, cluster-1, cluster-2")
        # Sent only after Discord accepted the deferral, then the original response edited.
        self.assertEqual(rec["callback"]["type"], 5)
        self.assertEqual(len(rec["edits"]), 1)
        author = f"user{int(TEAM[3]) % 100000} ({TEAM[3]})"  # the simulator's username for that id
        # docs/protocol.md: every receiving cluster logs a broadcast: the log lines are the behaviour.
        for name in ("cluster-0", "cluster-2"):
            line = self.clusters[name].assert_log(r"broadcast from cluster-1 by (.*?): (.*)")
            self.assertEqual(line.group(2).strip(), text)
            self.assertEqual(line.group(1), author)
        posts = wait_until(lambda: [m for m in self.channel_messages(self.broadcast_channel)
                                    if m["embeds"] and m["embeds"][0]["description"] == text],
                           what="the broadcast posted")
        self.assertEqual(len(posts), 1, posts)
        embed = posts[0]["embeds"][0]
        self.assertEqual(embed["title"], "📣 Broadcast from cluster-1")
        self.assertEqual(embed["description"], text)
        self.assertEqual(embed["footer"]["text"], f"by {author}")

    def test_broadcast_over_500_characters_is_refused(self):
        text = "é" * 501
        rec, msg = self.answer(self.invoke("broadcastmsg", "cluster-0", TEAM[4],
                                           [{"name": "message", "type": 3, "value": text}]))
        self.assertEqual(msg["flags"], EPHEMERAL)
        self.assertEqual(msg["content"], "❌ That message has 501 characters; a broadcast can have at most 500.")
        self.assertNotIn("é" * 50, self.clusters["cluster-1"].log())
        # Exactly 500 is fine.
        rec, msg = self.answer(self.invoke("broadcastmsg", "cluster-0", TEAM[4],
                                           [{"name": "message", "type": 3, "value": "é" * 500}]))
        self.assertTrue(msg["content"].startswith("📣 Broadcast sent to 3 cluster(s)"), msg)
        self.clusters["cluster-1"].assert_log("é" * 500)  # logged whole, as docs/protocol.md asks

    # ---- prefix messages ----

    def post_message(self, cluster, user, content):
        status, out = rest(self.sim_port, "/_sim/messages", method="POST",
                           body={"guild_id": str(self.guild_of[cluster]), "user_id": user, "content": content})
        self.assertEqual(status, 200, out)
        self.assertEqual(out["sessions"], 1, out)
        return out["id"]

    def wait_reply(self, channel, pred, timeout=10.0):
        return wait_until(lambda: next((m for m in self.channel_messages(channel) if pred(m)), None),
                          timeout, "a reply in the channel")

    def test_prefix_command_from_owner_and_stranger(self):
        channel = self.guild_of["cluster-2"] + 1
        strangers = self.post_message("cluster-2", STRANGER, "!clusters")
        mid = self.post_message("cluster-2", TEAM[5], "!clusters")
        reply = self.wait_reply(channel, lambda m: (m.get("message_reference") or {}).get("message_id") == mid)
        self.assertEqual(reply["embeds"][0]["title"], "Clusters")
        fields = self.cluster_fields(reply["embeds"][0])
        self.assertEqual(field_numbers(fields["cluster-2"][1]), self.expected(LAYOUT["cluster-2"]))
        # The stranger's message, handled before the owner's, got nothing.
        self.assertEqual([m for m in self.channel_messages(channel)
                          if (m.get("message_reference") or {}).get("message_id") == strangers], [])
        # !ipcstatus in a guild channel would show the network's addresses to everyone there.
        mid = self.post_message("cluster-2", TEAM[5], "!ipcstatus")
        reply = self.wait_reply(channel, lambda m: (m.get("message_reference") or {}).get("message_id") == mid)
        self.assertEqual(reply["content"], "!ipcstatus shows the network's addresses: use /ipcstatus (only you see "
                                           "the answer) or send it in a DM.")
        self.assertEqual(reply["embeds"], [])


class ClusterHealth(Fleet):
    """Colours follow the heartbeat ages the hub sees: the test stops a cluster's process and
    waits until the hub reports the age it needs."""

    def hub_age(self, name):
        res = self.cli("ipc-status", "--json", "--timeout-ms", "2000")
        if res.returncode != 0:
            return None
        for c in json.loads(res.stdout)["clients"]:
            if c["name"] == name:
                return c["last_heartbeat_age"]
        return None

    def interaction_violations(self):
        # A stopped process also misses its gateway heartbeats (heartbeat_timeout): expected here.
        return {k: v for k, v in self.sim_stats()["violations"].items() if k.startswith("interaction_")}

    def clusters_embed(self, user):
        rec, msg = self.answer(self.invoke("clusters", "cluster-0", user), timeout=TIMEOUT_MS / 1000 + 10)
        return rec, msg["embeds"][0]

    def test_colours_follow_heartbeat_ages(self):
        stopped = self.clusters["cluster-2"]
        stopped.signal(signal.SIGSTOP)
        try:
            wait_until(lambda: (self.hub_age("cluster-2") or 0) >= 2.2, what="a 2 s old heartbeat")
            rec, embed = self.clusters_embed(TEAM[0])
            fields = self.cluster_fields(embed)
            self.assertEqual(fields["cluster-2"][0], "🟡", fields)
            self.assertEqual(fields["cluster-1"][0], "🟢", fields)
            self.assertEqual(embed["color"], 0xF1C40F)
            # A stopped process cannot answer: the command deferred, then listed it.
            self.assertEqual(rec["callback"]["type"], 5)
            self.assertIn(f"Not answering within {TIMEOUT_MS} ms: cluster-2", embed["description"])

            wait_until(lambda: (self.hub_age("cluster-2") or 0) >= 4.2, what="a 4 s old heartbeat")
            rec, embed = self.clusters_embed(TEAM[1])
            self.assertEqual(self.cluster_fields(embed)["cluster-2"][0], "🔴")
            self.assertEqual(embed["color"], 0xE74C3C)
        finally:
            stopped.signal(signal.SIGCONT)
        wait_until(lambda: (lambda a: a is not None and a < 1.0)(self.hub_age("cluster-2")), what="a fresh heartbeat")
        rec, embed = self.clusters_embed(TEAM[2])
        self.assertEqual({n: f[0] for n, f in self.cluster_fields(embed).items()},
                         {"cluster-0": "🟢", "cluster-1": "🟢", "cluster-2": "🟢"})
        self.assertEqual(embed["color"], 0x2ECC71)
        self.assertEqual(self.interaction_violations(), {})

    def test_zz_cluster_killed_during_clusters(self):
        """Runs last in its class: cluster-1 does not come back."""
        victim = self.clusters["cluster-1"]
        victim.signal(signal.SIGSTOP)  # holds the stats request it is about to get
        iid = self.invoke("clusters", "cluster-0", TEAM[3])
        wait_until(lambda: (self.interaction(iid)["callback"] or {}).get("type") == 5,
                   5, "the deferred callback")
        victim.kill()
        rec, msg = self.answer(iid, timeout=TIMEOUT_MS / 1000 + 10)
        embed = msg["embeds"][0]
        self.assertIn(f"Not answering within {TIMEOUT_MS} ms: cluster-1", embed["description"])
        fields = self.cluster_fields(embed)
        self.assertIn("cluster-1", fields)
        self.assertEqual(field_numbers(fields["cluster-2"][1]), self.expected(LAYOUT["cluster-2"]))
        # In time: the simulator refuses (and counts) a callback later than 3 s or an edit of an
        # interaction it no longer knows.
        self.assertEqual(self.interaction_violations(), {})
        self.assertEqual(len(rec["edits"]), 1)


if __name__ == "__main__":
    unittest.main()
