"""`shardline launch` on the simulator (issue 6): the supervisor hosts the hub, starts four
clusters of two shards, and heals them. kill -9 of a cluster: respawned, every shard resumed,
no new IDENTIFY, no sequence lost. kill -STOP: found dead by its heartbeats, killed and
replaced; its shards resumed by the new process alone (the hub's fencing of a process the
supervisor cannot kill is tested in test_hub_abuse.py, test_run_cluster_superseded_exits_3). kill -9 of the supervisor: no child remains. A crash
loop stops at the restart cap. Synchronised on the supervisor's status (launch_request), the
clusters' shard_status and the simulator's records, never on sleeps; the supervisor's log is
read only for what it alone reports (why it killed or gave up on a cluster, why it resharded)."""
import os
import re
import signal
import threading
import unittest

from peers import procs, status
from peers.cases import require_binary
from peers.procs import alive
from peers.sim import rest
from peers.wait import Deadline, pace, wait_until

TOKEN = "sim-token"
SHARDS = 8
LAYOUT = {"cluster-0": [0, 1], "cluster-1": [2, 3], "cluster-2": [4, 5], "cluster-3": [6, 7]}


class Launch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()

    def setUp(self):
        self.sim, self.sim_port = procs.start_sim({
            "--token": TOKEN, "--guilds": 400, "--shards": SHARDS, "--identify-window-ms": 300,
            "--max-concurrency": 16, "--heartbeat-ms": 1000, "--outage-ms": 0, "--events-per-sec": 200,
            "--session-budget": 1000})
        self.addCleanup(self.sim.stop)

    def launch(self, **extra):
        settings = dict(DISCORD_TOKEN=TOKEN, DISCORD_API_URL=f"http://127.0.0.1:{self.sim_port}/api/v10",
                        DISCORD_IDENTIFY_WINDOW_MS=300, SHARD_COUNT=SHARDS, SHARD_CLUSTERS=4,
                        SHARD_DATA_DIR=procs.scratch_dir("launch-"),
                        SHARD_IPC_HEARTBEAT_S=0.5, SHARD_IPC_STATS_INTERVAL_S=1, SHARD_DEAD_AFTER_S=2,
                        SHARD_RESTART_BACKOFF_MIN_S=0.2, SHARD_RESTART_BACKOFF_MAX_S=1)
        settings.update(extra)
        env = procs.base_env(0, **settings)
        self.sup = procs.Proc(["launch", "--port-file", "{port_file}"], env, name="launch")
        self.addCleanup(self.sup.stop)
        self.hub_port = self.sup.wait_port()

    def wait_slot(self, name, pred, what, timeout=20):
        """The supervisor's entry for cluster `name` once pred(entry) holds."""
        return status.wait_launch(self.hub_port, lambda st: (lambda s: s if s and pred(s) else None)(
            status.slot(st, name)), f"{name}: {what}", timeout, procs=[self.sup])

    def pid_of(self, name, other_than=0):
        """The pid of cluster `name`'s process (a new one, if `other_than` is the old pid)."""
        return self.wait_slot(name, lambda s: s["pid"] not in (0, other_than),
                              "a process started" + (f" in place of {other_than}" if other_than else ""))["pid"]

    def sim_stats(self):
        return rest(self.sim_port, "/_sim/stats")[1]

    def wait_ready(self, pred=lambda st: True, what="every shard ready", timeout=30, shards=SHARDS):
        return status.wait_shards(self.hub_port, lambda st: status.all_ready(shards)(st) and pred(st), what,
                                  timeout, procs=[self.sup])

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
        slot = self.wait_slot("cluster-1", lambda s: s["pid"] not in (0, old), "restarted")
        self.assertEqual(slot["restarts"], 1, slot)  # its death seen, and answered by one start
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
            slot = self.wait_slot("cluster-2", lambda s: s["pid"] not in (0, old), "replaced")
            new = slot["pid"]
            self.assertEqual(slot["restarts"], 1, slot)
            # Why it was killed (its heartbeats stopped) is only in the supervisor's log: the
            # reason is the behaviour under test.
            self.sup.assert_log(rf"cluster-2 \(pid {old}\) sent no heartbeat for [\d.]+ s: killing it", timeout=1)
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
        wait_until(lambda: not any(alive(p) for p in children), 10, "every cluster gone")

    def test_crash_loop_stops_at_the_restart_cap(self):
        self.launch(SHARD_CLUSTER_COMMAND="/bin/false", SHARD_RESTART_MAX=3, SHARD_CLUSTERS=1)
        slot = self.wait_slot("cluster-0", lambda s: s["given_up"], "given up")
        self.assertEqual((slot["restarts"], slot["pid"]), (3, 0))  # the first start and 3 restarts
        # The operator learns why from the supervisor's log alone: that line is the behaviour.
        line = self.sup.assert_log(r"cluster-0 died (\d+) times within 600 s \(last: exit code 1\): not restarting it",
                                   timeout=1)
        self.assertEqual(line.group(1), "4")
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], 0)
        self.assertEqual(stats["session_budget_left"], 1000)

    def test_rolling_restart_resumes_every_shard_within_two_seconds(self):
        self.launch()
        self.wait_ready()
        before = {name: self.pid_of(name) for name in LAYOUT}
        result = {}
        cli = threading.Thread(target=lambda: result.update(res=procs.run_cli(
            ["restart", "--rolling", "--timeout-s", "120"], procs.base_env(self.hub_port), timeout=150)))
        cli.start()
        # One at a time, in order: the supervisor's status names the one cluster it is
        # replacing, and moves to the next once that one is ready.
        current = []

        def follow(st):
            r = st["rolling"]
            if r["current"] and (not current or current[-1] != r["current"]):
                current.append(r["current"])
            return current and not r["running"] and r["done"] == len(LAYOUT)
        try:
            status.wait_launch(self.hub_port, follow, "the rolling restart done", timeout=150, procs=[self.sup])
        finally:
            cli.join(160)
        self.assertEqual(current, list(LAYOUT))
        res = result["res"]
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("Rolling restart of 4 cluster(s) started", res.stdout)
        self.assertIn("4/4 cluster(s) replaced", res.stdout)
        self.assertIn("Rolling restart done", res.stdout)
        for name, old in before.items():
            self.assertFalse(alive(old), name)
            self.pid_of(name, other_than=old)  # a new process runs it
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
            i, deadline = 0, Deadline(170, "the end of the reshard")
            while not stop.is_set() and i < 5000 and not deadline.passed():
                code, out = rest(self.sim_port, "/_sim/messages", method="POST",
                                 body={"guild_id": guilds[i % len(guilds)], "content": f"probe {i}"})
                if code == 200:
                    probes.append((out["id"], out["sessions"]))
                i += 1
                pace(0.02)  # a steady stream of events is the scenario
        poster = threading.Thread(target=post_probes)
        poster.start()
        try:
            res = procs.run_cli(["reshard", "--shards", "16", "--timeout-s", "120"],
                                procs.base_env(self.hub_port), timeout=150)
            # A few probes after the switch (done: the old layout no longer handles events),
            # for the new layout alone.
            switched = len(probes)
            wait_until(lambda: len(probes) >= switched + 10 or not poster.is_alive(), 10,
                       "ten probes after the switch")
        finally:
            stop.set()
            poster.join()
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("Resharding from 8 to 16 shards", res.stdout)
        self.assertIn("Reshard done: 16 shards", res.stdout)
        self.assertGreater(len(probes), 20)  # events flowed through the whole reshard
        self.assertTrue(all(sessions >= 1 for _, sessions in probes), probes)  # Discord sent each one
        # Every probe was handled by bot code of the old layout, the new one, or both: the
        # trace lines SHARD_TRACE_EVENTS asks for are the record of what bot code handled.
        def handled():
            lines = re.findall(r"handled MESSAGE_CREATE (\d+) on shard \d+/(\d+)", self.sup.log())
            by_id = {}
            for mid, count in lines:
                by_id.setdefault(mid, set()).add(count)
            return by_id if all(mid in by_id for mid, _ in probes) else None
        by_id = wait_until(handled, 10, "every probe handled")
        layouts = [by_id[mid] for mid, _ in probes]
        self.assertEqual(layouts[0], {"8"})     # before: the old layout
        self.assertEqual(layouts[-1], {"16"})   # after: the new one alone
        st = self.wait_ready(shards=16, what="16 ready shards")
        self.assertEqual({s["cluster"] for s in st.values()}, {"cluster-16s-0", "cluster-16s-1"})
        wait_until(lambda: not any(alive(p) for p in old_pids), 15, "the old layout gone")
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], SHARDS + 16, stats["identifies"])
        self.assertEqual(stats["violations"], {}, stats["violations"])

    def test_reshard_starts_on_its_own_past_the_guilds_per_shard_threshold(self):
        # 400 guilds on 8 shards is 50 per shard: past a threshold of 40, the supervisor moves
        # the bot to one more shard (about 1,000 per shard would be fewer: never fewer than now + 1).
        self.launch(SHARD_CLUSTERS=2, SHARD_RESHARD_GUILDS_PER_SHARD=40)
        done = status.wait_launch(self.hub_port, lambda st: st if st["shard_count"] == 9 and st["reshard"]["phase"] == "done"
                                  and not st["reshard"]["running"] else None, "the reshard to 9 shards done",
                                  timeout=90, procs=[self.sup])
        self.assertEqual(done["reshard"]["error"], "")
        # Why it resharded on its own is only in the supervisor's log: the line is the behaviour.
        self.sup.assert_log(r"launch: 400 guilds on 8 shards is past 40 per shard: resharding to 9", timeout=1)
        st = self.wait_ready(shards=9, what="9 ready shards")
        self.assertEqual({s["cluster"] for s in st.values()}, {"cluster-9s-0", "cluster-9s-1"})
        self.assertEqual(self.sim_stats()["violations"], {})
        # At most once every 10 minutes: 400 / 9 is still past 40, and nothing more happens
        # (no status counts decisions; the log has each one).
        self.assertEqual(len(re.findall("resharding to", self.sup.log())), 1)

    def test_sigterm_stops_every_cluster_with_sessions_saved(self):
        self.launch()
        self.wait_ready()
        children = [self.pid_of(name) for name in LAYOUT]
        self.sup.signal(signal.SIGTERM)
        self.assertEqual(self.sup.p.wait(15), 0)
        self.assertFalse(any(alive(p) for p in children))
        self.assertIn("every cluster stopped", self.sup.log())  # its last word to the operator


if __name__ == "__main__":
    unittest.main()
