"""`shardline launch` on the simulator (issue 6): the supervisor hosts the hub, starts four
clusters of two shards, and heals them. kill -9 of a cluster: respawned, every shard resumed,
no new IDENTIFY, no sequence lost. kill -STOP: found dead by its heartbeats, killed and
replaced; its shards resumed by the new process alone (the hub's fencing of a process the
supervisor cannot kill is tested in test_hub_abuse.py, test_run_cluster_superseded_exits_3). kill -9 of the supervisor: no child remains. A crash
loop stops at the restart cap. Synchronised on the supervisor's log and the simulator's
records, never on sleeps."""
import json
import os
import re
import signal
import tempfile
import threading
import time
import unittest

import harness
from sim_ws import rest

TOKEN = "sim-token"
SHARDS = 8
LAYOUT = {"cluster-0": [0, 1], "cluster-1": [2, 3], "cluster-2": [4, 5], "cluster-3": [6, 7]}


def alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Launch(unittest.TestCase):

    def setUp(self):
        self.sim = harness.Proc(["sim", "--port", "0", "--port-file", "{port_file}", "--token", TOKEN,
                                 "--guilds", "400", "--shards", str(SHARDS), "--identify-window-ms", "300",
                                 "--max-concurrency", "16", "--heartbeat-ms", "1000", "--outage-ms", "0",
                                 "--events-per-sec", "200", "--session-budget", "1000"], dict(os.environ), name="sim")
        self.addCleanup(self.sim.stop)
        self.sim_port = self.sim.wait_port()

    def launch(self, **extra):
        settings = dict(DISCORD_TOKEN=TOKEN, DISCORD_API_URL=f"http://127.0.0.1:{self.sim_port}/api/v10",
                        DISCORD_IDENTIFY_WINDOW_MS=300, SHARD_COUNT=SHARDS, SHARD_CLUSTERS=4,
                        SHARD_DATA_DIR=tempfile.mkdtemp(prefix="launch-", dir=harness._RUN_DIR),
                        SHARD_IPC_HEARTBEAT_S=0.5, SHARD_IPC_STATS_INTERVAL_S=1, SHARD_DEAD_AFTER_S=2,
                        SHARD_RESTART_BACKOFF_MIN_S=0.2, SHARD_RESTART_BACKOFF_MAX_S=1)
        settings.update(extra)
        env = harness.base_env(0, **settings)
        self.sup = harness.Proc(["launch", "--port-file", "{port_file}"], env, name="launch")
        self.addCleanup(self.sup.stop)
        self.hub_port = self.sup.wait_port()

    def pid_of(self, name, count=1):
        m = self.sup.wait_for_log(rf"started {name} \(pid (\d+), generation (\d+)\)", count=count, timeout=20)
        return int(m.group(1))

    def sim_stats(self):
        return rest(self.sim_port, "/_sim/stats")[1]

    def shard_status(self):
        res = harness.run_cli(["query", "shard_status", "--json", "--timeout-ms", "2000"],
                              harness.base_env(self.hub_port), timeout=15)
        if res.returncode != 0:
            return None
        out = {}
        for name, shards in json.loads(res.stdout)["results"].items():
            if isinstance(shards, list):
                for s in shards:
                    out[s["shard_id"]] = dict(s, cluster=name)
        return out

    def wait_ready(self, pred=lambda st: True, what="every shard ready", timeout=30, shards=SHARDS):
        def check():
            st = self.shard_status()
            ok = st and len(st) == shards and all(s["status"] == "ready" for s in st.values()) and pred(st)
            return st if ok else None
        return harness.poll(check, timeout=timeout, what=what)

    def assert_nothing_lost(self, shard):
        """The shard's one live session got every sequence from 1 on; only the stream's
        in-flight tail may trail it."""
        sessions = rest(self.sim_port, f"/_sim/sessions?shard={shard}")[1]["sessions"]
        live = [s for s in sessions if s["attached"]]
        self.assertEqual(len(live), 1, (shard, sessions))
        self.assertEqual(len(live[0]["delivered"]), 1, live[0])
        self.assertEqual(live[0]["delivered"][0][0], 1, live[0])
        for lo, _ in live[0]["undelivered"]:
            self.assertGreater(lo, live[0]["delivered"][0][1], live[0])

    def test_kill_9_of_a_cluster_is_healed_by_resume(self):
        self.launch()
        self.wait_ready()
        self.assertEqual(self.sim_stats()["identifies"]["total"], SHARDS)
        old = self.pid_of("cluster-1")
        os.kill(old, signal.SIGKILL)
        self.sup.wait_for_log(rf"cluster-1 \(pid {old}\) died: killed by signal 9")
        new = self.pid_of("cluster-1", count=2)
        self.assertNotEqual(new, old)
        st = self.wait_ready(lambda st: all(st[i]["resumes"] >= 1 and st[i]["cluster"] == "cluster-1"
                                            for i in LAYOUT["cluster-1"]), "cluster-1's shards resumed")
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], SHARDS, stats["identifies"])  # zero new IDENTIFYs
        self.assertEqual(stats["violations"], {}, stats["violations"])
        for shard in range(SHARDS):
            self.assert_nothing_lost(shard)
        for i in LAYOUT["cluster-1"]:
            self.assertEqual(st[i]["identifies"], 0, st[i])  # the new process only resumed

    def test_stopped_cluster_is_found_dead_by_heartbeat_and_replaced(self):
        self.launch()
        self.wait_ready()
        old = self.pid_of("cluster-2")
        os.kill(old, signal.SIGSTOP)
        try:
            self.sup.wait_for_log(rf"cluster-2 \(pid {old}\) sent no heartbeat for [\d.]+ s: killing it", timeout=15)
            self.sup.wait_for_log(rf"cluster-2 \(pid {old}\) died: killed by signal 9")
            new = self.pid_of("cluster-2", count=2)
            self.wait_ready(lambda st: all(st[i]["cluster"] == "cluster-2" for i in LAYOUT["cluster-2"]),
                            "cluster-2's shards taken over by the new process")
        finally:
            try:
                os.kill(old, signal.SIGCONT)  # a no-op by now: the frozen process is gone for good
            except ProcessLookupError:
                pass
        self.assertFalse(alive(old))
        self.assertTrue(alive(new))
        # Discord (and the simulator) end a session that missed its heartbeats (4009): the
        # frozen process's shards IDENTIFY anew, once each, through the hub's slots.
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], SHARDS + len(LAYOUT["cluster-2"]), stats["identifies"])
        for i in LAYOUT["cluster-2"]:
            live = [x for x in rest(self.sim_port, f"/_sim/sessions?shard={i}")[1]["sessions"] if x["attached"]]
            self.assertEqual(len(live), 1, live)  # one live session per shard: nobody else holds it
        # The frozen process missed gateway heartbeats; nothing else went wrong.
        self.assertEqual(set(stats["violations"]) - {"heartbeat_timeout"}, set(), stats["violations"])

    def test_kill_9_of_the_supervisor_leaves_no_child(self):
        self.launch()
        self.wait_ready()
        children = [self.pid_of(name) for name in LAYOUT]
        self.assertTrue(all(alive(p) for p in children))
        self.sup.kill()
        harness.poll(lambda: not any(alive(p) for p in children), timeout=10, what="every cluster gone")

    def test_crash_loop_stops_at_the_restart_cap(self):
        self.launch(SHARD_CLUSTER_COMMAND="/bin/false", SHARD_RESTART_MAX=3, SHARD_CLUSTERS=1)
        line = self.sup.wait_for_log(r"cluster-0 died (\d+) times within 600 s \(last: exit code 1\): not restarting it",
                                     timeout=20)
        self.assertEqual(line.group(1), "4")
        self.assertEqual(len(re.findall(r"started cluster-0", self.sup.log())), 4)  # the first start and 3 restarts
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], 0)
        self.assertEqual(stats["session_budget_left"], 1000)

    def test_rolling_restart_resumes_every_shard_within_two_seconds(self):
        self.launch()
        self.wait_ready()
        before = {name: self.pid_of(name) for name in LAYOUT}
        res = harness.run_cli(["restart", "--rolling", "--timeout-s", "120"], harness.base_env(self.hub_port), timeout=150)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("Rolling restart of 4 cluster(s) started", res.stdout)
        self.assertIn("4/4 cluster(s) replaced", res.stdout)
        self.assertIn("Rolling restart done", res.stdout)
        # One at a time, in order: each new process started after the previous one was ready.
        order = re.findall(r"rolling restart: (cluster-\d) replaced", self.sup.log())
        self.assertEqual(order, list(LAYOUT))
        for name, old in before.items():
            self.assertFalse(alive(old), name)
            self.assertNotEqual(self.pid_of(name, count=2), old)
        st = self.wait_ready()
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], SHARDS, stats["identifies"])  # zero IDENTIFYs
        self.assertEqual(stats["violations"], {}, stats["violations"])
        for shard in range(SHARDS):
            self.assert_nothing_lost(shard)
            self.assertGreaterEqual(st[shard]["resumes"], 1, st[shard])
            live = [x for x in rest(self.sim_port, f"/_sim/sessions?shard={shard}")[1]["sessions"] if x["attached"]]
            self.assertLess(live[0]["longest_detached_ms"], 2000, (shard, live[0]))

    def test_reshard_from_8_to_16_loses_no_event(self):
        self.launch(SHARD_CLUSTERS=2, SHARD_TRACE_EVENTS="MESSAGE_CREATE", SHARD_RESHARD_GUILDS_PER_SHARD=0)
        self.wait_ready()
        old_pids = [self.pid_of("cluster-0"), self.pid_of("cluster-1")]
        guilds = [g for v in rest(self.sim_port, "/_sim/world?shards=16")[1]["per_shard"].values() for g in v["guild_ids"]]
        probes, stop = [], threading.Event()

        def post_probes():  # a message every 20 ms to a guild of every shard in turn, until told
            i = 0
            while not stop.is_set() and i < 5000:
                status, out = rest(self.sim_port, "/_sim/messages", method="POST",
                                   body={"guild_id": guilds[i % len(guilds)], "content": f"probe {i}"})
                if status == 200:
                    probes.append((out["id"], out["sessions"]))
                i += 1
                time.sleep(0.02)
        poster = threading.Thread(target=post_probes)
        poster.start()
        try:
            res = harness.run_cli(["reshard", "--shards", "16", "--timeout-s", "120"],
                                  harness.base_env(self.hub_port), timeout=150)
            time.sleep(0.5)  # a few probes after the switch, for the new layout alone
        finally:
            stop.set()
            poster.join()
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("Resharding from 8 to 16 shards", res.stdout)
        self.assertIn("Reshard done: 16 shards", res.stdout)
        self.assertGreater(len(probes), 20)  # events flowed through the whole reshard
        self.assertTrue(all(sessions >= 1 for _, sessions in probes), probes)  # Discord sent each one
        # Every probe was handled by bot code of the old layout, the new one, or both.
        def handled():
            lines = re.findall(r"handled MESSAGE_CREATE (\d+) on shard \d+/(\d+)", self.sup.log())
            by_id = {}
            for mid, count in lines:
                by_id.setdefault(mid, set()).add(count)
            return by_id if all(mid in by_id for mid, _ in probes) else None
        by_id = harness.poll(handled, timeout=10, what="every probe handled")
        layouts = [by_id[mid] for mid, _ in probes]
        self.assertEqual(layouts[0], {"8"})     # before: the old layout
        self.assertEqual(layouts[-1], {"16"})   # after: the new one alone
        st = self.wait_ready(shards=16, what="16 ready shards")
        self.assertEqual({s["cluster"] for s in st.values()}, {"cluster-16s-0", "cluster-16s-1"})
        harness.poll(lambda: not any(alive(p) for p in old_pids), timeout=15, what="the old layout gone")
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], SHARDS + 16, stats["identifies"])
        self.assertEqual(stats["violations"], {}, stats["violations"])

    def test_reshard_starts_on_its_own_past_the_guilds_per_shard_threshold(self):
        # 400 guilds on 8 shards is 50 per shard: past a threshold of 40, the supervisor moves
        # the bot to one more shard (about 1,000 per shard would be fewer: never fewer than now + 1).
        self.launch(SHARD_CLUSTERS=2, SHARD_RESHARD_GUILDS_PER_SHARD=40)
        self.sup.wait_for_log(r"launch: 400 guilds on 8 shards is past 40 per shard: resharding to 9", timeout=30)
        self.sup.wait_for_log(r"launch: reshard done: 8 -> 9 shards", timeout=60)
        st = self.wait_ready(shards=9, what="9 ready shards")
        self.assertEqual({s["cluster"] for s in st.values()}, {"cluster-9s-0", "cluster-9s-1"})
        self.assertEqual(self.sim_stats()["violations"], {})
        # At most once every 10 minutes: 400 / 9 is still past 40, and nothing more happens.
        self.assertEqual(len(re.findall("resharding to", self.sup.log())), 1)

    def test_sigterm_stops_every_cluster_with_sessions_saved(self):
        self.launch()
        self.wait_ready()
        children = [self.pid_of(name) for name in LAYOUT]
        self.sup.signal(signal.SIGTERM)
        self.assertEqual(self.sup.p.wait(15), 0)
        self.assertFalse(any(alive(p) for p in children))
        self.assertIn("every cluster stopped", self.sup.log())


if __name__ == "__main__":
    unittest.main()
