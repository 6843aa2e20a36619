"""Gateway shards of `shardline run` against `shardline sim` (issue 4): every row of the close
code table, RECONNECT, INVALID_SESSION both ways, TCP reset, zombie and stalled connections;
IDENTIFY slots shared by three processes through the hub; kill -9 and restart resuming.

The simulator counts every IDENTIFY, RESUME and violation; the cluster reports its shards
through `shardline query shard_status`, the hub the sessions it holds. Synchronised on those,
never on sleeps or log lines."""
import math
import os
import signal
import socket
import time
import unittest

from peers import procs, status
from peers.cases import require_binary
from peers.sim import rest
from peers.wait import wait_until

TOKEN = "sim-token"


class GatewayCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()

    def start_sim(self, *args, guilds=200):
        flags = {"--token": TOKEN, "--guilds": guilds, "--identify-window-ms": 300, "--max-concurrency": 16,
                 "--heartbeat-ms": 1000, "--outage-ms": 0}
        flags.update(zip(args[::2], args[1::2]))
        self.sim, self.sim_port = procs.start_sim(flags)
        self.addCleanup(self.sim.stop)
        self.window_ms = int(flags["--identify-window-ms"])
        return self.sim_port

    def sim_stats(self):
        status, body = rest(self.sim_port, "/_sim/stats")
        self.assertEqual(status, 200)
        return body

    def sim_sessions(self, shard):
        status, body = rest(self.sim_port, f"/_sim/sessions?shard={shard}")
        self.assertEqual(status, 200)
        return body["sessions"]

    def assert_nothing_lost(self, shard):
        """The shard's one live session got every sequence from 1 on without a gap. Events
        appended but not yet written (the stream keeps flowing) may trail the record."""
        live = [s for s in self.sim_sessions(shard) if s["attached"]]
        self.assertEqual(len(live), 1, (shard, self.sim_sessions(shard)))
        delivered = live[0]["delivered"]
        self.assertEqual(len(delivered), 1, live[0])
        self.assertEqual(delivered[0][0], 1, live[0])
        for lo, _ in live[0]["undelivered"]:
            self.assertGreater(lo, delivered[0][1], live[0])  # in flight, after the last written

    def fault(self, shard, kind, **extra):
        status, body = rest(self.sim_port, "/_sim/faults", method="POST",
                            body={"shard": shard, "kind": kind, **extra})
        self.assertEqual(status, 200, body)
        self.assertGreaterEqual(body["applied"], 1, (shard, kind, body))

    def cluster_env(self, name, hub_port, mode, shard_count, shard_ids=None, data_dir=None, **extra):
        env = procs.base_env(hub_port, SHARD_CLUSTER_NAME=name, SHARD_IPC_MODE=mode,
                               DISCORD_TOKEN=TOKEN,
                               DISCORD_API_URL=f"http://127.0.0.1:{self.sim_port}/api/v10",
                               DISCORD_IDENTIFY_WINDOW_MS=self.window_ms,
                               SHARD_COUNT=shard_count,
                               SHARD_DATA_DIR=data_dir or procs.scratch_dir("shards-"),
                               SHARD_IPC_HEARTBEAT_S=1, SHARD_IPC_STATS_INTERVAL_S=1, **extra)
        if shard_ids is not None:
            env["SHARD_IDS"] = ",".join(str(i) for i in shard_ids)
        return env

    def start_cluster(self, name, env, server=False):
        args = ["run", "--port-file", "{port_file}"] if server else ["run"]
        proc = procs.Proc(args, env, name=name)
        self.addCleanup(proc.stop)
        return proc

    def shard_status(self, hub_port, name):
        return status.shard_status(hub_port, name)

    def wait_shards(self, hub_port, name, pred, what, timeout=20.0):
        return status.wait_shards(hub_port, pred, what, timeout, target=name)


class WithoutTheShardManager(GatewayCase):
    def test_shards_run_alone_with_no_hub_and_no_secret(self):
        # ENABLE_SHARD_MANAGER=false, as the seed's bot runs without its Shard Manager: the
        # shards come up on their own, pacing IDENTIFY in the process, with no secret and no hub.
        sim_port = self.start_sim("--max-concurrency", 1)
        ipc_port = procs.free_port()
        env = self.cluster_env("alone", ipc_port, "server", 2, ENABLE_SHARD_MANAGER="false")
        del env["SHARD_IPC_SECRET"]
        proc = self.start_cluster("alone", env)

        def up():
            if proc.p.poll() is not None:
                raise AssertionError(f"the cluster exited ({proc.p.returncode}): {proc.log()[-2000:]}")
            s = self.sim_stats()
            return s if s["identifies"]["total"] == 2 and s["sessions"]["live"] == 2 else None
        stats = wait_until(up, 20, "both shards connected to the simulator")
        self.assertEqual(stats["violations_total"], 0, stats)  # paced in the process
        for shard in (0, 1):
            live = [s for s in self.sim_sessions(shard) if s["attached"]]
            self.assertEqual(len(live), 1, (shard, live))
        self.assertIsNone(proc.p.poll())
        with self.assertRaises(OSError):  # no hub was started, though the mode says server
            socket.create_connection(("127.0.0.1", ipc_port), timeout=1).close()

    def test_nothing_to_run_is_a_configuration_error(self):
        env = procs.base_env(0, ENABLE_SHARD_MANAGER="false")
        res = procs.run_cli(["run"], env, timeout=15)
        self.assertEqual(res.returncode, 2, res.stdout + res.stderr)
        self.assertIn("nothing to run", res.stdout + res.stderr)


class CloseCodesAndFaults(GatewayCase):
    """One cluster with 20 shards; each shard gets one kind of trouble."""

    RESUME = [4000, 4001, 4002, 4003, 4005, 4008]
    REIDENTIFY = [4007, 4009]
    STOP = {4004: "DISCORD_TOKEN", 4010: "SHARD", 4011: "SHARD_COUNT", 4012: "version",
            4013: "DISCORD_INTENTS", 4014: "intent"}

    def test_every_close_code_and_fault(self):
        self.start_sim("--events-per-sec", 200)
        env = self.cluster_env("c0", 0, "server", 20)
        cluster = self.start_cluster("c0", env, server=True)
        hub_port = cluster.wait_port()
        self.wait_shards(hub_port, "c0", lambda st: len(st) == 20 and all(s["status"] == "ready" for s in st.values()),
                         "20 ready shards", timeout=30)
        base = self.sim_stats()
        self.assertEqual(base["identifies"]["total"], 20)
        self.assertEqual(base["violations"], {})

        codes = self.RESUME + self.REIDENTIFY + list(self.STOP)
        for shard, code in enumerate(codes):
            self.fault(shard, "close", code=code)
        extra = {14: ("reconnect", {}), 15: ("invalid_session", {"resumable": True}),
                 16: ("invalid_session", {"resumable": False}), 17: ("reset", {}), 18: ("stop_acks", {}),
                 19: ("stall", {})}
        for shard, (kind, kw) in extra.items():
            self.fault(shard, kind, **kw)

        resumed = [i for i, c in enumerate(codes) if c in self.RESUME] + [14, 15, 17, 18, 19]
        reidentified = [i for i, c in enumerate(codes) if c in self.REIDENTIFY] + [16]
        stopped = {i: c for i, c in enumerate(codes) if c in self.STOP}

        def settled(st):
            return (all(st[i]["status"] == "ready" and st[i]["resumes"] >= 1 for i in resumed) and
                    all(st[i]["status"] == "ready" and st[i]["identifies"] == 2 for i in reidentified) and
                    all(st[i]["status"] == "stopped" for i in stopped))
        st = self.wait_shards(hub_port, "c0", settled, "every shard resumed, re-identified or stopped", timeout=40)
        for i, code in stopped.items():
            self.assertIn(self.STOP[code], st[i].get("stop_reason", ""), (code, st[i]))
            self.assertIn(f"({code})", st[i]["stop_reason"])
        for i in resumed:
            self.assertEqual(st[i]["identifies"], 1, (i, st[i]))  # no IDENTIFY wasted on a resumable drop
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], 20 + len(reidentified), stats["identifies"])
        self.assertEqual(stats["violations"], {}, stats["violations"])
        self.assertGreaterEqual(stats["resumes"], len(resumed))
        # Resumed sessions lost nothing: every sequence the simulator sent was written out.
        for i in resumed:
            self.assert_nothing_lost(i)
        # The zombie (no ACKs) and the stalled connection were found by the missing ACK: the
        # reason is only in the cluster's log (shard_status shows the resume), so the line is
        # the behaviour checked. So is the token's absence from the log.
        log = cluster.log()
        self.assertIn("shard 18: no HEARTBEAT_ACK", log)
        self.assertIn("shard 19: no HEARTBEAT_ACK", log)
        self.assertNotIn("sim-token", log)  # the token is never logged


class IdentifyAcrossProcesses(GatewayCase):
    def test_three_processes_share_identify_buckets(self):
        # 24 shards, max_concurrency 4, 1 s windows: READY within ceil(24/4) + 1 = 7 windows.
        self.start_sim("--max-concurrency", 4, "--identify-window-ms", 1000, guilds=2400)
        hub, hub_port = procs.start_hub()
        self.addCleanup(hub.stop)
        names = ["east", "west", "central"]
        started = time.monotonic()
        for n, name in enumerate(names):
            self.start_cluster(name, self.cluster_env(name, hub_port, "client", 24, shard_ids=range(n * 8, n * 8 + 8)))
        for name in names:
            self.wait_shards(hub_port, name, lambda st: len(st) == 8 and all(s["status"] == "ready" for s in st.values()),
                             f"{name}: 8 ready shards", timeout=30)
        elapsed = time.monotonic() - started
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], 24)
        self.assertEqual(stats["identifies"]["per_bucket"], [6, 6, 6, 6])
        self.assertEqual(stats["violations"], {}, stats)
        # Within the limit for the whole start, process start-up and the last READY included.
        self.assertLess(elapsed, (math.ceil(24 / 4) + 1) * 1.0 + 3.0, elapsed)


class KillAndResume(GatewayCase):
    def test_kill_9_then_restart_resumes_every_session(self):
        self.start_sim("--events-per-sec", 300, guilds=400)
        hub, hub_port = procs.start_hub()
        self.addCleanup(hub.stop)
        data_dir = procs.scratch_dir("shards-")
        env = self.cluster_env("solo", hub_port, "client", 4, data_dir=data_dir)
        first = self.start_cluster("solo", env)
        self.wait_shards(hub_port, "solo", lambda st: len(st) == 4 and all(s["status"] == "ready" for s in st.values()),
                         "4 ready shards")
        before = self.sim_stats()
        self.assertEqual(before["identifies"]["total"], 4)
        guilds_before = sum(s["guilds"] for s in self.shard_status(hub_port, "solo").values())
        self.assertGreater(guilds_before, 350)
        saved = os.path.join(data_dir, "sessions")
        # The session files are the cluster's record on disk: what a restart resumes from.
        wait_until(lambda: sorted(f for f in os.listdir(saved) if f.endswith(".json")) ==
                   [f"shard-{i}-of-4.json" for i in range(4)], what="4 saved sessions")
        wait_until(lambda: len([f for f in os.listdir(saved) if f.startswith("guilds-")]) == 4,
                   what="4 saved guild lists")
        first.signal(signal.SIGKILL)
        first.wait_exit(10)
        second = self.start_cluster("solo", env)
        self.wait_shards(hub_port, "solo", lambda st: len(st) == 4 and all(
            s["status"] == "ready" and s["resumes"] == 1 for s in st.values()), "4 resumed shards")
        after = self.sim_stats()
        self.assertEqual(after["identifies"]["total"], 4, "a restarted cluster must RESUME, not IDENTIFY")
        # A RESUME resends no GUILD_CREATE: the guild lists come from the saved snapshots, and
        # the replay keeps them current (the simulated bot joins and leaves guilds now and then).
        st = self.shard_status(hub_port, "solo")
        self.assertLessEqual(abs(sum(s["guilds"] for s in st.values()) - after["guilds"]), 2, (st, after["guilds"]))
        self.assertGreaterEqual(after["resumes"], 4)
        self.assertEqual(after["violations"], {})
        for shard in range(4):
            self.assert_nothing_lost(shard)
        second.stop()

    def test_a_process_without_the_disk_resumes_from_the_hub(self):
        # The cluster moves to "another machine": a new process with an empty SHARD_DATA_DIR
        # takes the sessions over from the hub, so no IDENTIFY is spent.
        self.start_sim("--events-per-sec", 100)
        hub, hub_port = procs.start_hub()
        self.addCleanup(hub.stop)
        first = self.start_cluster("mover", self.cluster_env("mover", hub_port, "client", 2))
        self.wait_shards(hub_port, "mover", lambda st: len(st) == 2 and all(s["status"] == "ready" for s in st.values()),
                         "2 ready shards")
        status.wait_hub(hub_port, lambda st: st["sessions_known"] == 2, "2 sessions held by the hub")
        first.signal(signal.SIGKILL)
        first.wait_exit(10)
        # A new SHARD_DATA_DIR, empty: the hub is the only place the sessions can come from, so
        # shards resumed without a new IDENTIFY were resumed from the hub.
        second = self.start_cluster("mover", self.cluster_env("mover", hub_port, "client", 2))
        self.wait_shards(hub_port, "mover", lambda st: len(st) == 2 and all(
            s["status"] == "ready" and s["resumes"] == 1 for s in st.values()), "2 shards resumed from the hub")
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], 2)
        self.assertEqual(stats["violations"], {})

    def test_sigterm_saves_and_the_next_process_resumes(self):
        # Discord's own heartbeat interval: nothing that waits on it may hold the exit up.
        self.start_sim("--events-per-sec", 100, "--heartbeat-ms", 41250)
        hub, hub_port = procs.start_hub()
        self.addCleanup(hub.stop)
        env = self.cluster_env("solo", hub_port, "client", 2)
        first = self.start_cluster("solo", env)
        self.wait_shards(hub_port, "solo", lambda st: len(st) == 2 and all(s["status"] == "ready" for s in st.values()),
                         "2 ready shards")
        t0 = time.monotonic()
        self.assertEqual(first.stop(timeout=10), 0)
        self.assertLess(time.monotonic() - t0, 5.0, "SIGTERM must exit within a few seconds")
        self.start_cluster("solo", env)
        self.wait_shards(hub_port, "solo", lambda st: len(st) == 2 and all(
            s["status"] == "ready" and s["resumes"] == 1 for s in st.values()), "2 resumed shards")
        stats = self.sim_stats()
        self.assertEqual(stats["identifies"]["total"], 2)
        self.assertEqual(stats["violations"], {})


if __name__ == "__main__":
    unittest.main()
