"""Saved sessions that cannot be used (issue 14, point 3): a cluster started on a SHARD_DATA_DIR
(and a hub) holding sessions of an environment that is gone must bring every shard up within
30 s, as a new user trying Shardline would do it: run the simulator and `shardline run`, stop
both, start a new simulator, run the cluster again on the same directory.

- Another environment: the new simulator listens on another port, so DISCORD_API_URL differs.
  The saved sessions (on disk and at the hub) are bound to the old API: none is resumed, and the
  simulator sees one IDENTIFY per shard and no RESUME at all.
- Same API, gateway gone: a small REST relay keeps DISCORD_API_URL the same while the simulator
  behind it changes. The sessions are bound to this API, so they are tried: their resume URL
  (the old simulator's gateway) refuses, the gateway URL kept in SHARD_DATA_DIR (the same dead
  address) refuses, GET /gateway/bot is asked again, and the RESUME at the new gateway is
  answered INVALID_SESSION: one refused RESUME and one IDENTIFY per shard.

Readiness is read from `shardline query shard_status` (through the hub) and the simulator's
/_sim/stats; the one log line asserted is the refusal the operator is promised."""
import http.client
import http.server
import os
import signal
import threading
import time
import unittest

from peers import procs, status
from peers.cases import require_binary
from peers.sim import rest
from peers.wait import wait_until

TOKEN = "sim-token"
SHARDS = 2
READY_WITHIN_S = 30.0


class RestRelay:
    """Forwards HTTP requests to the simulator of the moment (`target`), so that DISCORD_API_URL
    stays the same while the simulator behind it is replaced. Standard library only."""

    def __init__(self):
        self.target = None
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type", "user-agent")}
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", relay.target, timeout=10)
                    conn.request(self.command, self.path, body=body, headers=headers)
                    res = conn.getresponse()
                    status_code, data, res_headers = res.status, res.read(), res.getheaders()
                    conn.close()
                except OSError:
                    status_code, data, res_headers = 502, b'{"message":"relay: simulator down"}', []
                self.send_response(status_code)
                for k, v in res_headers:
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class StaleSessions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()

    def start_sim(self):
        flags = {"--token": TOKEN, "--guilds": 100, "--identify-window-ms": 300, "--max-concurrency": 16,
                 "--heartbeat-ms": 1000, "--outage-ms": 0}
        sim, port = procs.start_sim(flags)
        self.addCleanup(sim.stop)
        return sim, port

    def sim_stats(self, port):
        code, body = rest(port, "/_sim/stats")
        self.assertEqual(code, 200)
        return body

    def cluster_env(self, hub_port, api_port, data_dir):
        return procs.base_env(hub_port, SHARD_CLUSTER_NAME="stale", SHARD_IPC_MODE="client",
                              DISCORD_TOKEN=TOKEN, DISCORD_API_URL=f"http://127.0.0.1:{api_port}/api/v10",
                              DISCORD_IDENTIFY_WINDOW_MS=300, SHARD_COUNT=SHARDS, SHARD_DATA_DIR=data_dir,
                              SHARD_IPC_HEARTBEAT_S=1, SHARD_IPC_STATS_INTERVAL_S=1)

    def start_cluster(self, env):
        proc = procs.Proc(["run"], env, name="stale")
        self.addCleanup(proc.stop)
        return proc

    def wait_ready(self, hub_port, proc, timeout, what):
        return status.wait_shards(hub_port, status.all_ready(SHARDS), what, timeout, target="stale", procs=(proc,))

    def first_run(self, hub_port, api_port, sim_port, data_dir):
        """The environment that goes away: a cluster whose sessions are saved on disk and held
        by the hub, then stopped with its simulator."""
        sim = self.sims[-1]
        first = self.start_cluster(self.cluster_env(hub_port, api_port, data_dir))
        self.wait_ready(hub_port, first, 20, f"{SHARDS} ready shards on the first simulator")
        saved = os.path.join(data_dir, "sessions")
        wait_until(lambda: sorted(f for f in os.listdir(saved) if f.endswith(".json")) ==
                   [f"shard-{i}-of-{SHARDS}.json" for i in range(SHARDS)], what="saved sessions")
        status.wait_hub(hub_port, lambda st: st["sessions_known"] == SHARDS, "sessions held by the hub")
        self.assertEqual(self.sim_stats(sim_port)["identifies"]["total"], SHARDS)
        self.assertEqual(first.stop(), 0, first.tail())
        sim.stop()

    def test_sessions_of_another_api_are_not_resumed_and_the_shards_come_up(self):
        hub, hub_port = procs.start_hub()
        self.addCleanup(hub.stop)
        data_dir = procs.scratch_dir("stale-")
        sim, old_port = self.start_sim()
        self.sims = [sim]
        self.first_run(hub_port, old_port, old_port, data_dir)

        _, new_port = self.start_sim()
        self.assertNotEqual(new_port, old_port)
        started = time.monotonic()
        second = self.start_cluster(self.cluster_env(hub_port, new_port, data_dir))
        self.wait_ready(hub_port, second, READY_WITHIN_S, f"{SHARDS} ready shards on the new simulator")
        self.assertLess(time.monotonic() - started, READY_WITHIN_S)
        stats = self.sim_stats(new_port)
        # Neither the files nor the hub's entries (bound to the old API) were resumed: the new
        # simulator saw no RESUME, only one IDENTIFY per shard.
        self.assertEqual(stats["identifies"]["total"], SHARDS, stats)
        self.assertEqual((stats["resumes"], stats["resumes_refused"]), (0, 0), stats)
        self.assertEqual(stats["violations"], {}, stats)
        # The operator is told why, once per shard, for the file and for the hub's entry.
        second.assert_log(r"not resuming the session saved in \S+: it was made with another DISCORD_API_URL",
                          count=SHARDS)
        second.assert_log(r"not resuming the session \S+ the hub holds: it was made with another DISCORD_API_URL",
                          count=SHARDS)
        # The new sessions replace the old ones, on disk and at the hub; a restart resumes them.
        self.assertEqual(second.stop(), 0, second.tail())
        third = self.start_cluster(self.cluster_env(hub_port, new_port, data_dir))
        self.wait_ready(hub_port, third, 20, "shards resumed on the new simulator")
        stats = self.sim_stats(new_port)
        self.assertEqual(stats["identifies"]["total"], SHARDS, stats)
        self.assertEqual(stats["resumes"], SHARDS, stats)

    def test_a_gateway_that_is_gone_behind_the_same_api_falls_back_to_identify(self):
        hub, hub_port = procs.start_hub()
        self.addCleanup(hub.stop)
        relay = RestRelay()
        self.addCleanup(relay.close)
        data_dir = procs.scratch_dir("stale-")
        sim, old_port = self.start_sim()
        self.sims = [sim]
        relay.target = old_port
        self.first_run(hub_port, relay.port, old_port, data_dir)

        _, new_port = self.start_sim()
        relay.target = new_port
        started = time.monotonic()
        second = self.start_cluster(self.cluster_env(hub_port, relay.port, data_dir))
        self.wait_ready(hub_port, second, READY_WITHIN_S, f"{SHARDS} ready shards behind the same API")
        self.assertLess(time.monotonic() - started, READY_WITHIN_S)
        stats = self.sim_stats(new_port)
        # Each saved session was tried once at the new gateway (the API is the same: it may
        # have been alive there), refused, and replaced by one IDENTIFY.
        self.assertEqual(stats["resumes_refused"], SHARDS, stats)
        self.assertEqual(stats["resumes"], 0, stats)
        self.assertEqual(stats["identifies"]["total"], SHARDS, stats)
        self.assertEqual(stats["violations"], {}, stats)
        self.assertEqual(second.stop(), 0, second.tail())


if __name__ == "__main__":
    unittest.main()
