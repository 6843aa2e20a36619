"""Issue 19, "Seed A's own peers": acceptance tests of Shardline against the seed's version-1
peers as the seed's real code behaves (peers/legacy*.py, seed-like by default): a client that
never heartbeats, sends its stats every 60 s, drops a link silent for 120 s, answers
stats_request and guild_count_request but not eval_request, and reports the bot's total
shard count; a server that answers eval_request and lets a newcomer take a connected name.
Each test names the point of the issue it covers. Real processes on loopback, port 0.

    cd tests/integration && SHARDLINE_BIN=../../build/bin/shardline \
        python3 -m unittest -v test_seed_peers
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import procs, status  # noqa: E402
from peers.cases import HubCase  # noqa: E402
from peers.legacy import ENVELOPE_KEYS, V1_PRESETS, AuthRefused  # noqa: E402
from peers.legacy_client import LegacyClient  # noqa: E402
from peers.legacy_server import LegacyServer  # noqa: E402
from peers.wait import every, hold, wait_until  # noqa: E402

V2_PRESETS = ("memory_rss", "shard_status", "cluster_info")
TIMEOUT_MS = "2000"        # --timeout-ms of the admin tools


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class SeedCase(HubCase):
    def start_legacy_hub(self, **env):
        return self.start_hub(SHARD_IPC_LEGACY_AUTH="true", **env)

    def seed_client(self, port, name, shard_ids=(), shard_count=1, connect=True, **kw):
        """The seed's client cluster, seed-like unless `kw` says otherwise."""
        c = LegacyClient(port, self.secret, name, shard_ids, shard_count, **kw)
        self.addCleanup(c.close)
        if connect:
            c.connect(timeout=3)
        return c

    def seed_server(self, **kw):
        srv = LegacyServer(self.secret, **kw)
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def tool(self, args, env, timeout=20):
        """`shardline <args>`: (exit code, its --json output or None, stderr)."""
        res = procs.run_cli(list(args), env, timeout=timeout)
        try:
            out = json.loads(res.stdout)
        except ValueError:
            out = None
        return res.returncode, out, res.stderr

    def tool_json(self, args, env):
        """The --json output of a command that must succeed."""
        rc, out, err = self.tool(args, env)
        self.assertEqual(rc, 0, f"shardline {' '.join(args)} failed: {err}")
        self.assertIsInstance(out, dict, err)
        return out

    def query(self, preset, env, target=None):
        args = ["query", preset, "--json", "--timeout-ms", TIMEOUT_MS]
        if target is not None:
            args += ["--target", target]
        rc, out, err = self.tool(args, env)
        self.assertIsInstance(out, dict, f"query {preset} --target {target}: rc {rc}: {err}")
        return out

    def entry_of(self, port, name):
        return status.clients(status.hub_status(port)).get(name)


# --------------------------------------------------------------------------- point 1

class ServerModeHubTest(SeedCase):
    def test_server_mode_with_legacy_auth_joins_its_own_hub(self):
        """Issue 19, point 1: `shardline run` in server mode with SHARD_IPC_LEGACY_AUTH=true
        joins its own hub: listed (role cluster) in its own `clusters --json`, and
        `query guild_count --target <its name>` answers. The seed's clients join it too."""
        proc = self.start_cluster("cluster-0", 0, [0, 1, 2], 6, wait=False, mode="server",
                                  SHARD_IPC_LEGACY_AUTH="true")
        port = proc.wait_port()
        py = self.seed_client(port, "cluster-1", [3, 4, 5], 6, guild_count=5)
        self.assertEqual(py.auth_response["server_cluster"], "cluster-0")
        # The operator's tools, with the cluster's own .env (legacy on) and without it.
        for legacy in ("false", "true"):
            with self.subTest(tool_legacy_auth=legacy):
                env = self.env(port, SHARD_IPC_LEGACY_AUTH=legacy)
                out = status.wait_cli(
                    ["clusters", "--json", "--timeout-ms", TIMEOUT_MS], env,
                    lambda o: o if {"cluster-0", "cluster-1"} <= {c["name"] for c in o["clusters"]
                                                                   if c["answered"]} else None,
                    "cluster-0 and cluster-1 answering in clusters --json", procs=[proc])
                me = {c["name"]: c for c in out["hub"]["clients"]}.get("cluster-0")
                self.assertIsNotNone(me, out["hub"]["clients"])
                self.assertEqual(me["role"], "cluster")
                self.assertEqual(out["hub"]["mode"], "server")
                q = self.query("guild_count", env, target="cluster-0")
                self.assertEqual((q["results"], q["missing"]), ({"cluster-0": 0}, []), q)


# --------------------------------------------------------------------------- point 2

class QueryV1ClientTest(SeedCase):
    """Issue 19, point 2: `shardline query` reaches a seed-like v1 client (which does not
    answer eval_request) through the hub's stats_request."""

    def setUp(self):
        self.hub, self.port = self.start_legacy_hub()
        self.alpha = self.start_cluster("alpha", self.port, [0, 1], 5)
        # The bot has 5 shards: py-v1 runs 2 and 3 and reports the total, 5, as the seed does.
        self.py = self.seed_client(self.port, "py-v1", [2, 3], 5, guild_count=42,
                                   user_count=4200, latency=0.125)
        # Before its bot's first gateway heartbeat the seed's latency is NaN.
        self.nan = self.seed_client(self.port, "py-nan", [4], 5, guild_count=3, user_count=30)
        self.env_ = self.env(self.port)
        self.want = {"py-v1": {"guild_count": 42, "user_count": 4200, "shard_count": 2,
                               "latency": 0.125},
                     "py-nan": {"guild_count": 3, "user_count": 30, "shard_count": 1,
                                "latency": None}}

    def check(self, name, preset, result):
        if preset == "uptime":
            self.assertTrue(is_number(result) and 0 <= result < 600, (name, result))
        else:
            self.assertEqual(result, self.want[name][preset], (name, preset))

    def test_v1_presets_by_name(self):
        """Issue 19, point 2: `query <preset> --target <v1 name>` gives the v1 client's own
        values (shard_count: the number of its shard_ids), asked with stats_request."""
        for preset in V1_PRESETS:
            for name in ("py-v1", "py-nan"):
                with self.subTest(preset=preset, target=name):
                    peer = self.py if name == "py-v1" else self.nan
                    mark = peer.mark()
                    out = self.query(preset, self.env_, target=name)
                    self.assertEqual((list(out["results"]), out["missing"], out.get("errors")),
                                     ([name], [], None), out)
                    self.check(name, preset, out["results"][name])
                    # The hub asked it the way it answers.
                    peer.wait_op("stats_request", timeout=3, after=mark)

    def test_v1_presets_to_all(self):
        """Issue 19, point 2: `query <preset>` (target all) counts the v1 clients with the
        Shardline cluster, none missing."""
        for preset in V1_PRESETS:
            with self.subTest(preset=preset):
                out = self.query(preset, self.env_)
                self.assertEqual((sorted(out["results"]), out["missing"], out.get("errors")),
                                 (["alpha", "py-nan", "py-v1"], [], None), out)
                for name in ("py-v1", "py-nan"):
                    self.check(name, preset, out["results"][name])
                if preset == "shard_count":
                    self.assertEqual(out["results"]["alpha"], 2)

    def test_v2_presets_are_unsupported_by_a_v1_client(self):
        """Issue 19, point 2: memory_rss, shard_status and cluster_info name the v1 client
        under `errors` with code `unsupported`, never a silent miss."""
        for preset in V2_PRESETS:
            with self.subTest(preset=preset, target="py-v1"):
                out = self.query(preset, self.env_, target="py-v1")
                self.assertEqual((out["results"], out["missing"], out.get("errors")),
                                 ({}, [], {"py-v1": "unsupported"}), out)
            with self.subTest(preset=preset, target="all"):
                out = self.query(preset, self.env_)
                self.assertEqual((sorted(out["results"]), out["missing"], out.get("errors")),
                                 (["alpha"], [], {"py-nan": "unsupported",
                                                  "py-v1": "unsupported"}), out)


# --------------------------------------------------------------------------- points 3 and 4

class V1KeepAliveTest(SeedCase):
    def test_lone_hub_keeps_a_silent_v1_link(self):
        """Issue 19, point 3: a lone `shardline hub` keeps a seed-like client's link alive.
        The client never heartbeats and drops a link silent for 3 s (the seed's 120 s); with
        the hub's SHARD_IPC_STATS_INTERVAL_S at 1 it stays linked for several silence timeouts,
        on one connection, receiving heartbeat_ack frames from the hub."""
        silence = 3.0
        hub, port = self.start_legacy_hub(SHARD_IPC_STATS_INTERVAL_S=1)
        py = self.seed_client(port, "py-v1", [0], 1, silence_timeout=silence)
        first = self.entry_of(port, "py-v1")
        self.assertEqual(first["address"], "127.0.0.1:%d" % py.local_port)
        t0 = time.monotonic()
        # Time is the scenario: the link must outlive several silence timeouts.
        hold(4 * silence, stop=lambda: py.closed)
        self.assertFalse(py.closed, f"the v1 link dropped: {py.inbox.error}")
        self.assertEqual(py.silence_drops, 0)
        self.assertLess(py.longest_silence(since=t0), silence)
        acks = [m for _, m in py.inbox.items if m.get("op") == "heartbeat_ack"]
        self.assertGreaterEqual(len(acks), 1, [m for _, m in py.inbox.items])
        for ack in acks:
            self.assertEqual(set(ack), ENVELOPE_KEYS, ack)
            self.assertEqual((ack["source"], ack["target"]), ("hub", "py-v1"))
        # One link all along: the same connection, authenticated once.
        now = self.entry_of(port, "py-v1")
        self.assertEqual(now["address"], first["address"])
        self.assertGreaterEqual(now["connected_for"], 4 * silence)
        self.assertEqual([op for op in py.sent_ops() if op == "auth"], ["auth"])

    def test_stats_keep_a_v1_client_green(self):
        """Issue 19, point 4: a seed-like client that never heartbeats but sends
        stats_broadcast every 0.5 s stays green past SHARD_HEALTH_GREEN_S (2 s) in the hub's
        status and in `clusters --json`: any frame from a v1 peer is a sign of life. Once it
        hangs (sends nothing), it leaves green."""
        green = 2.0
        hub, port = self.start_legacy_hub(SHARD_HEALTH_GREEN_S=green)
        py = self.seed_client(port, "py-v1", [0], 1, stats_interval=0.5)
        seen = []

        def sample(deadline):
            e = self.entry_of(port, "py-v1")
            seen.append(e and e["health"])
            every(0.25)(deadline)
        # Time is the scenario: three green thresholds pass while it only sends stats.
        hold(3 * green, pause=sample)
        self.assertTrue(seen)
        self.assertEqual(set(seen), {"green"}, seen)
        out = self.tool_json(["clusters", "--json", "--timeout-ms", TIMEOUT_MS], self.env(port))
        row = {c["name"]: c for c in out["clusters"]}["py-v1"]
        self.assertEqual(row["health"], "green", row)
        # The contrast: a hung client (no frames at all) is not green for long.
        py.freeze()
        status.wait_hub(port, lambda st: (status.clients(st).get("py-v1") or {}).get("health")
                        not in (None, "green"), "py-v1 leaving green once it hangs",
                        timeout=3 * green, procs=[hub])


# --------------------------------------------------------------------------- point 5

class ShardTotalsTest(SeedCase):
    def test_totals_count_distinct_shards_of_a_seed_client(self):
        """Issue 19, point 5: a 6-shard bot, shards 0-2 in a Shardline cluster and 3-5 in a
        seed-like client that reports shard_count 6 (the bot's total): `clusters --json`
        shows 6 shards in all, and 3 on the v1 row (its ids)."""
        hub, port = self.start_legacy_hub()
        self.start_cluster("alpha", port, [0, 1, 2], 6)
        self.seed_client(port, "py-v1", [3, 4, 5], 6, guild_count=8)
        out = status.wait_cli(
            ["clusters", "--json", "--timeout-ms", TIMEOUT_MS], self.env(port),
            lambda o: o if {"alpha", "py-v1"} <= {c["name"] for c in o["clusters"]
                                                 if c["answered"]} else None,
            "alpha and py-v1 answering in clusters --json", procs=[hub])
        rows = {c["name"]: c for c in out["clusters"]}
        self.assertEqual((rows["py-v1"]["shard_ids"], rows["py-v1"]["shard_count"]),
                         ([3, 4, 5], 3), rows["py-v1"])
        self.assertEqual((rows["alpha"]["shard_ids"], rows["alpha"]["shard_count"]),
                         ([0, 1, 2], 3), rows["alpha"])
        self.assertEqual(out["totals"]["shards"], 6, out["totals"])
        self.assertEqual(out["totals"]["guilds"], 8, out["totals"])


# --------------------------------------------------------------------------- point 6

class HungV1HolderTest(SeedCase):
    """Issue 19, point 6: a v1 newcomer with a connected v1 name. The hub probes the holder
    with a stats_request; a holder that does not answer within about 3 s is replaced (the
    newcomer gets in within 6 s, the old link is closed); one that answers keeps its name and
    the newcomer is refused."""

    def setUp(self):
        self.hub, self.port = self.start_legacy_hub()
        self.holder = self.seed_client(self.port, "py-v1", [0], 2, guild_count=1)
        self.watcher = self.seed_client(self.port, "watcher", [1], 2)

    def test_hung_holder_is_replaced(self):
        """Issue 19, point 6: a holder that stopped answering is probed, then replaced: the
        newcomer gets in within 6 s and the old link is closed."""
        self.holder.freeze()                # its reader records, answers nothing
        mark = self.holder.mark()
        newcomer = self.seed_client(self.port, "py-v1", [0], 2, guild_count=2, connect=False)
        t0 = time.monotonic()
        r = newcomer.connect(timeout=6)
        self.assertIs(r["success"], True, r)
        self.assertLess(time.monotonic() - t0, 6)
        probe = self.holder.wait_op("stats_request", timeout=1, after=mark)
        self.assertEqual(set(probe), ENVELOPE_KEYS, probe)   # built for a v1 peer (§16)
        self.holder.wait_closed(timeout=5)
        e = status.wait_hub(self.port, status.entry("py-v1"), "py-v1 in the hub's status",
                            procs=[self.hub])
        self.assertEqual(e["address"], "127.0.0.1:%d" % newcomer.local_port)
        # The newcomer is the cluster now: it gets what is addressed to the name.
        self.watcher.send("guild_count_request", {}, "py-v1")
        newcomer.wait_op("guild_count_request", timeout=3, source="watcher")

    def test_answering_holder_keeps_its_name(self):
        """Issue 19, point 6: a holder that answers the probe keeps its name; the newcomer is
        refused "Cluster name already connected"."""
        mark = self.holder.mark()
        newcomer = self.seed_client(self.port, "py-v1", [0], 2, connect=False)
        with self.assertRaises(AuthRefused) as cm:
            newcomer.connect(timeout=6)
        self.assertEqual(cm.exception.response,
                         {"success": False, "error": "Cluster name already connected"})
        newcomer.wait_closed(timeout=3)
        # It was asked, and it answered.
        self.holder.wait_op("stats_request", timeout=1, after=mark)
        self.assertIn("stats_broadcast", self.holder.sent_ops())
        self.assertFalse(self.holder.closed)
        e = self.entry_of(self.port, "py-v1")
        self.assertEqual(e["address"], "127.0.0.1:%d" % self.holder.local_port)

    def test_v2_newcomer_of_a_higher_generation_still_supersedes(self):
        """Issue 19, point 6 (unchanged behaviour): a v2 newcomer with a higher generation
        still supersedes a v1 holder."""
        v2 = self.client(self.port, "py-v1", shard_ids=[0], shard_count=2, generation=1)
        self.assertIs(v2.auth_response["success"], True)
        self.holder.wait_closed(timeout=3)
        e = status.wait_hub(self.port, status.entry("py-v1", proto=2), "py-v1 on v2",
                            procs=[self.hub])
        self.assertEqual(e["generation"], 1)


# --------------------------------------------------------------------------- point 7

class AdminToolsTest(SeedCase):
    def test_admin_tools_against_the_seeds_server(self):
        """Issue 19, point 7: with SHARD_IPC_LEGACY_AUTH=true, `clusters --json`,
        `ipc-status --json`, `broadcast` and `query guild_count --json` work against the
        seed's server: each joins it as a short-lived member named shardline-admin...,
        the server answers for itself (eval_request) and its clients through stats_request."""
        srv = self.seed_server(name="cluster-0", shard_ids=[0, 1], shard_count=6,
                               guild_count=7, user_count=70)
        c1 = self.seed_client(srv.port, "cluster-1", [2, 3], 6, guild_count=11, user_count=110)
        c2 = self.seed_client(srv.port, "cluster-2", [4, 5], 6, guild_count=13, user_count=130)
        env = self.env(srv.port, SHARD_IPC_LEGACY_AUTH="true", BOT_OWNER_ID=4242)
        want = {"cluster-0": (7, 70, [0, 1]), "cluster-1": (11, 110, [2, 3]),
                "cluster-2": (13, 130, [4, 5])}
        ran = 0

        with self.subTest(command="clusters"):
            ran += 1
            out = self.tool_json(["clusters", "--json", "--timeout-ms", TIMEOUT_MS], env)
            rows = {c["name"]: c for c in out["clusters"]}
            self.assertEqual(sorted(rows), sorted(want), out)
            for name, (guilds, users, ids) in want.items():
                r = rows[name]
                self.assertTrue(r["answered"], r)
                self.assertEqual((r["guild_count"], r["user_count"], r["shard_ids"]),
                                 (guilds, users, ids), r)
            self.assertEqual(out["missing"], [], out)
            self.assertEqual(out["totals"]["guilds"], 31, out["totals"])

        with self.subTest(command="query"):
            ran += 1
            out = self.tool_json(["query", "guild_count", "--json", "--timeout-ms", TIMEOUT_MS],
                                 env)
            self.assertEqual((out["results"], out["missing"], out.get("errors")),
                             ({"cluster-0": 7, "cluster-1": 11, "cluster-2": 13}, [], None), out)

        with self.subTest(command="broadcast"):
            ran += 1
            marks = {c: c.mark() for c in (c1, c2)}
            rc, _, err = self.tool(["broadcast", "hello seed"], env)
            self.assertEqual(rc, 0, err)
            for c, mark in marks.items():
                m = c.wait_op("broadcast_message", timeout=3, after=mark, message="hello seed")
                self.assertEqual(m["data"]["author_id"], 4242)
            srv.wait_op("broadcast_message", timeout=3, message="hello seed")

        with self.subTest(command="ipc-status"):
            ran += 1
            out = self.tool_json(["ipc-status", "--json", "--timeout-ms", TIMEOUT_MS], env)
            self.assertIs(out["legacy_auth"], True, out)         # the tool's own setting

        # Each command joined the seed's server once, under a shardline-admin name, and left.
        tools = [ev[1] for ev in srv.events if ev[0] == "auth_ok"
                 and ev[1] not in ("cluster-1", "cluster-2")]
        self.assertEqual(len(tools), ran, srv.events)
        for name in tools:
            self.assertTrue(name.startswith("shardline-admin"), name)
        wait_until(lambda: set(srv.clients) == {"cluster-1", "cluster-2"}, 5,
                   "the tools gone from the seed's server",
                   detail=lambda: f"still connected: {sorted(srv.clients)}")

    def test_ipc_status_shows_the_hubs_legacy_auth(self):
        """Issue 19, point 7: `ipc-status --json` shows the hub's legacy auth as
        `hub_legacy_auth`, next to the tool's own `legacy_auth` (kept as it was)."""
        for hub_legacy in (True, False):
            with self.subTest(hub_legacy_auth=hub_legacy):
                hub, port = self.start_hub(name=f"hub-{hub_legacy}".lower(),
                                           SHARD_IPC_LEGACY_AUTH=str(hub_legacy).lower())
                out = self.tool_json(["ipc-status", "--json", "--timeout-ms", TIMEOUT_MS],
                                     self.env(port, SHARD_IPC_LEGACY_AUTH="false"))
                self.assertIs(out.get("hub_legacy_auth"), hub_legacy, out)
                self.assertIs(out["legacy_auth"], False, out)
                for key in ("mode", "tls", "hub", "clients"):
                    self.assertIn(key, out)


if __name__ == "__main__":
    unittest.main()
