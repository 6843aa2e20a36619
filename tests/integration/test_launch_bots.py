"""Bot processes under `shardline launch` (issue 14, point 2): with SHARD_BOT_COMMAND the
supervisor starts one bot process per cluster once that cluster's shards are READY, pointed at
the cluster's endpoint, and keeps it alive without touching the cluster. Four clusters of two
shards on the simulator:

- every bot is told what it runs (SHARD_IDS, SHARD_COUNT, SHARD_CLUSTER_NAME, DISCORD_API_URL,
  SHARD_PROXY_URL, the IPC settings) and inherits the supervisor's environment;
- kill -9 of a bot: that bot is started again, and its cluster is not touched (same pid, no
  IDENTIFY and no RESUME at the simulator);
- `shardline restart --bots`: every bot replaced one cluster at a time, the new one started
  before the old one is stopped, and zero Discord reconnects;
- a cluster program that serves no endpoint (writes no --proxy-port-file): said in the log and
  in the status, no bot started;
- the supervisor's SIGTERM stops the bots (SIGTERM, which they see) with the clusters.

The bot is a small Python program that records its environment, its start and its SIGTERM in
files (it does not need the endpoint to answer). Synchronised on the supervisor's status
(launch_request), shard_status and the simulator's records.

Until `shardline run` serves the endpoint (issue 14, point 1), the clusters run behind a small
wrapper that writes the port file in their place; once the binary has --proxy-port-file, the
real `shardline run` is used."""
import json
import os
import signal
import sys
import time
import unittest

from peers import procs, status
from peers.cases import require_binary
from peers.procs import SECRET, alive
from peers.sim import rest
from peers.wait import wait_until

TOKEN = "sim-token"
SHARDS = 8
LAYOUT = {"cluster-0": "0-1", "cluster-1": "2-3", "cluster-2": "4-5", "cluster-3": "6-7"}

BOT = r'''
import json, os, signal, sys, time
records = sys.argv[sys.argv.index("--records") + 1]
me = os.getpid()
keys = ["SHARD_IDS", "SHARD_COUNT", "SHARD_CLUSTER_NAME", "DISCORD_API_URL", "SHARD_PROXY_URL",
        "SHARD_IPC_MODE", "SHARD_IPC_HOST", "SHARD_IPC_PORT", "SHARD_IPC_SECRET", "DISCORD_TOKEN",
        "MY_BOT_SETTING", "SHARD_CLUSTER_GENERATION"]
record = {"pid": me, "started": time.time(), "env": {k: os.environ.get(k) for k in keys}}
tmp = os.path.join(records, f".{me}.tmp")
with open(tmp, "w") as f:
    json.dump(record, f)
os.rename(tmp, os.path.join(records, f"{me}.json"))
def stopped(sig, frame):
    with open(os.path.join(records, f"{me}.stopped"), "w") as f:
        f.write(repr(time.time()))
    sys.exit(0)
signal.signal(signal.SIGTERM, stopped)
while True:
    time.sleep(0.05)
'''

# Stands in for `shardline run --proxy-port-file PATH` while the binary has no endpoint: writes
# a port (nothing listens on it; the test bot never connects) and execs the real cluster, which
# keeps this process's pid. With WRITE=0 it writes nothing: a cluster program without the
# endpoint.
WRAPPER = r'''
import os, socket, sys
bin_, write = sys.argv[1], sys.argv[2] == "1"
args = sys.argv[3:]
path = None
if "--proxy-port-file" in args:
    i = args.index("--proxy-port-file")
    path = args[i + 1]
    del args[i:i + 2]
if path and write:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with open(path + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.rename(path + ".tmp", path)
os.execv(bin_, [bin_, "run"] + args)
'''


def endpoint_in_binary():
    res = procs.run_cli(["run", "--help"], procs.base_env(0))
    return "--proxy-port-file" in res.stdout


class LaunchBots(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()
        cls.real_endpoint = endpoint_in_binary()

    def setUp(self):
        self.sim, self.sim_port = procs.start_sim({
            "--token": TOKEN, "--guilds": 80, "--shards": SHARDS, "--identify-window-ms": 300,
            "--max-concurrency": 16, "--heartbeat-ms": 1000, "--outage-ms": 0, "--events-per-sec": 50,
            "--session-budget": 1000})
        self.addCleanup(self.sim.stop)
        work = procs.scratch_dir("bots-")
        # A space in the path: SHARD_BOT_COMMAND's quotes are honoured, no shell reads it.
        self.bot_dir = os.path.join(work, "my bot")
        self.records = os.path.join(self.bot_dir, "records")
        os.makedirs(self.records)
        self.bot_script = os.path.join(self.bot_dir, "bot.py")
        with open(self.bot_script, "w") as f:
            f.write(BOT)
        self.wrapper = os.path.join(work, "cluster_wrapper.py")
        with open(self.wrapper, "w") as f:
            f.write(WRAPPER)

    def launch(self, endpoint=True, **extra):
        settings = dict(DISCORD_TOKEN=TOKEN, DISCORD_API_URL=f"http://127.0.0.1:{self.sim_port}/api/v10",
                        DISCORD_IDENTIFY_WINDOW_MS=300, SHARD_COUNT=SHARDS, SHARD_CLUSTERS=4,
                        SHARD_DATA_DIR=procs.scratch_dir("launch-bots-"),
                        SHARD_IPC_HEARTBEAT_S=0.5, SHARD_IPC_STATS_INTERVAL_S=1, SHARD_DEAD_AFTER_S=5,
                        SHARD_RESTART_BACKOFF_MIN_S=0.2, SHARD_RESTART_BACKOFF_MAX_S=1,
                        SHARD_BOT_COMMAND=f"{sys.executable} -u '{self.bot_script}' --records \"{self.records}\"",
                        MY_BOT_SETTING="inherited")
        if not endpoint or not self.real_endpoint:
            settings["SHARD_CLUSTER_COMMAND"] = (f"{sys.executable} {self.wrapper} {procs.BIN} "
                                                 f"{'1' if endpoint else '0'}")
        settings.update(extra)
        self.sup = procs.Proc(["launch", "--port-file", "{port_file}"], procs.base_env(0, **settings),
                              name="launch")
        self.addCleanup(self.sup.stop)
        self.hub_port = self.sup.wait_port()

    def launch_status(self, check, what, timeout=30):
        return status.wait_launch(self.hub_port, check, what, timeout, procs=[self.sup])

    def wait_bots(self, pred=lambda slot: True, what="every bot running", timeout=30):
        """The supervisor's status once every cluster's bot runs and pred(slot) holds for each."""
        def check(st):
            slots = [status.slot(st, name) for name in LAYOUT]
            if all(s and s.get("bot") and s["bot"]["state"] == "running" and s["bot"]["pid"] and pred(s)
                   for s in slots):
                return {s["name"]: s for s in slots}
            return None
        return self.launch_status(check, what, timeout)

    def wait_ready(self):
        return status.wait_shards(self.hub_port, status.all_ready(SHARDS), "every shard ready", 30,
                                  procs=[self.sup])

    def record(self, pid):
        path = os.path.join(self.records, f"{pid}.json")
        return wait_until(lambda: json.load(open(path)) if os.path.exists(path) else None, 10,
                          f"bot {pid} recorded its start")

    def stopped_at(self, pid):
        path = os.path.join(self.records, f"{pid}.stopped")
        return wait_until(lambda: float(open(path).read()) if os.path.exists(path) else None, 10,
                          f"bot {pid} saw SIGTERM")

    def reconnects(self):
        st = rest(self.sim_port, "/_sim/stats")[1]
        return st["identifies"]["total"], st["resumes"]

    def test_bots_get_their_clusters_settings_and_a_killed_bot_alone_is_restarted(self):
        self.launch()
        self.wait_ready()
        slots = self.wait_bots()
        ports = set()
        for name, ids in LAYOUT.items():
            bot = slots[name]["bot"]
            env = self.record(bot["pid"])["env"]
            self.assertEqual(env["SHARD_CLUSTER_NAME"], name)
            self.assertEqual(env["SHARD_IDS"], ids)
            self.assertEqual(env["SHARD_COUNT"], str(SHARDS))
            self.assertEqual(env["DISCORD_API_URL"], bot["api_url"])
            self.assertRegex(env["DISCORD_API_URL"], r"^http://127\.0\.0\.1:\d+/api/v10$")
            port = env["DISCORD_API_URL"].split(":")[2].split("/")[0]
            self.assertEqual(env["SHARD_PROXY_URL"], f"ws://127.0.0.1:{port}")
            ports.add(port)
            self.assertEqual((env["SHARD_IPC_MODE"], env["SHARD_IPC_HOST"], env["SHARD_IPC_PORT"],
                              env["SHARD_IPC_SECRET"]), ("client", "127.0.0.1", str(self.hub_port), SECRET))
            self.assertEqual(env["DISCORD_TOKEN"], TOKEN)
            self.assertEqual(env["MY_BOT_SETTING"], "inherited")  # the supervisor's own environment
            self.assertIsNone(env["SHARD_CLUSTER_GENERATION"])  # a cluster's setting, not a bot's
            self.assertEqual(bot["restarts"], 0)
        self.assertEqual(len(ports), len(LAYOUT))  # one endpoint per cluster

        before = self.reconnects()
        clusters = {name: s["pid"] for name, s in slots.items()}
        bots = {name: s["bot"]["pid"] for name, s in slots.items()}
        victim = bots["cluster-1"]
        os.kill(victim, signal.SIGKILL)
        slots = self.wait_bots(lambda s: s["name"] != "cluster-1" or s["bot"]["pid"] != victim,
                               "the bot of cluster-1 restarted")
        self.assertEqual(slots["cluster-1"]["bot"]["restarts"], 1)
        self.assertEqual(self.record(slots["cluster-1"]["bot"]["pid"])["env"]["SHARD_CLUSTER_NAME"], "cluster-1")
        self.assertFalse(alive(victim))
        for name in LAYOUT:
            self.assertEqual(slots[name]["pid"], clusters[name], name)  # no cluster touched
            self.assertEqual(slots[name]["restarts"], 0, name)
            if name != "cluster-1":
                self.assertEqual(slots[name]["bot"]["pid"], bots[name], name)
        self.wait_ready()
        self.assertEqual(self.reconnects(), before)  # no IDENTIFY, no RESUME

        # `shardline clusters` shows each bot process.
        view = status.cli_json(["clusters", "--json"], procs.base_env(self.hub_port))
        self.assertIsNotNone(view)
        shown = {b["cluster"]: b for b in view["bots"]}
        self.assertEqual(set(shown), set(LAYOUT))
        self.assertEqual(shown["cluster-1"]["pid"], slots["cluster-1"]["bot"]["pid"])
        self.assertEqual(shown["cluster-1"]["restarts"], 1)
        self.assertGreaterEqual(shown["cluster-0"]["uptime"], 0)
        row = next(c for c in view["clusters"] if c["name"] == "cluster-0")
        self.assertEqual(row["bot"]["pid"], bots["cluster-0"])
        text = procs.run_cli(["clusters"], procs.base_env(self.hub_port)).stdout
        self.assertIn("Bot processes (4):", text)
        self.assertRegex(text, rf"cluster-1\s+running\s+{slots['cluster-1']['bot']['pid']}\s")

        # The supervisor's SIGTERM stops the bots, which see SIGTERM, with the clusters.
        running = [s["bot"]["pid"] for s in slots.values()]
        self.assertEqual(self.sup.stop(), 0)
        for pid in running:
            self.stopped_at(pid)
            self.assertFalse(alive(pid))

    def test_restart_bots_replaces_each_bot_new_before_old_without_reconnects(self):
        self.launch(SHARD_BOT_SETTLE_S=0.5)
        self.wait_ready()
        slots = self.wait_bots()
        clusters = {name: s["pid"] for name, s in slots.items()}
        old = {name: s["bot"]["pid"] for name, s in slots.items()}
        for pid in old.values():
            self.record(pid)
        before = self.reconnects()
        res = procs.run_cli(["restart", "--bots", "--timeout-s", "60"], procs.base_env(self.hub_port), timeout=90)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("Restart of the bot processes of 4 cluster(s) started", res.stdout)
        self.assertIn("Bot restart done", res.stdout)
        slots = self.wait_bots(lambda s: s["bot"]["pid"] != old[s["name"]], "every bot replaced", timeout=10)
        starts = []
        for name in LAYOUT:
            new = slots[name]["bot"]["pid"]
            started = self.record(new)["started"]
            self.assertEqual(self.record(new)["env"]["SHARD_CLUSTER_NAME"], name)
            # The old one was stopped (SIGTERM) only after the new one had started.
            self.assertLess(started, self.stopped_at(old[name]), name)
            self.assertFalse(alive(old[name]), name)
            self.assertEqual(slots[name]["pid"], clusters[name], name)  # the clusters go on
            self.assertEqual(slots[name]["bot"]["restarts"], 0, name)  # a replacement is no death
            starts.append(started)
        # One cluster at a time, each given its settle time.
        self.assertEqual(starts, sorted(starts))
        for a, b in zip(starts, starts[1:]):
            self.assertGreaterEqual(b - a, 0.4)
        self.wait_ready()
        self.assertEqual(self.reconnects(), before)  # zero IDENTIFY, zero RESUME

    def test_a_cluster_without_an_endpoint_is_reported_and_gets_no_bot(self):
        self.launch(endpoint=False, SHARD_CLUSTERS=1)
        self.wait_ready_single = status.wait_shards(self.hub_port, status.all_ready(SHARDS), "every shard ready",
                                                    30, procs=[self.sup])
        st = self.launch_status(lambda st: (lambda s: s if s and s.get("bot") and s["bot"]["state"] == "no_endpoint"
                                            else None)(status.slot(st, "cluster-0")),
                                "cluster-0's bot reported without an endpoint", timeout=30)
        self.assertEqual(st["bot"]["pid"], 0)
        self.assertIn("wrote no --proxy-port-file", st["bot"]["error"])
        # The operator reads the same reason in the supervisor's log.
        self.sup.assert_log(r"the bot of cluster-0 is not started: its cluster's process wrote no --proxy-port-file",
                            timeout=1)
        self.assertEqual(os.listdir(self.records), [])


if __name__ == "__main__":
    unittest.main()
