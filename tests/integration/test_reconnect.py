"""Client reconnection (docs/protocol.md §8): `shardline run` clusters re-link to a restarted
hub on their backoff schedule; the delays double up to the cap and reset after a success.

Each delay a cluster announces ("link lost: ...; reconnecting in Xs") is the behaviour under
test: those log lines are read, and timed as they appear. That a cluster is linked again is
read from the hub's status.

    cd tests/integration && SHARDLINE_BIN=../../build/bin/shardline \
        python3 -m unittest -v test_reconnect
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import status  # noqa: E402
from peers.cases import HubCase  # noqa: E402
from peers.procs import free_port  # noqa: E402
from peers.wait import every, wait_until  # noqa: E402

RECONNECT_RX = re.compile(r"reconnecting in ([0-9]+(?:\.[0-9]+)?)\s*s")
JITTER = 0.10   # allowed random jitter on top of a delay
SLACK_S = 2.0   # process start, connect and handshake
ROUND_S = 0.05  # the log line may round the delay to one decimal ("0.9s" for 0.88 s)


class Watcher:
    """Records when (monotonic, as observed by polling) each new match of a regex appears
    in the logs of several processes."""

    def __init__(self, procs, rx):
        self.procs, self.rx = procs, rx
        self.times = {p.name: [] for p in procs}
        self.matches = {p.name: [] for p in procs}

    def poll(self):
        now = time.monotonic()
        for p in self.procs:
            ms = list(self.rx.finditer(p.log()))
            for m in ms[len(self.matches[p.name]):]:
                self.matches[p.name].append(m)
                self.times[p.name].append(now)

    def wait(self, count, deadline, what):
        """Until every process has `count` matches, or fail at `deadline` (monotonic)."""
        def check():
            self.poll()
            for p in self.procs:
                p.alive_or_fail(what)
            return all(len(v) >= count for v in self.matches.values())
        wait_until(check, max(0.0, deadline - time.monotonic()), f"{what} (x{count})",
                   pause=every(0.01),
                   detail=lambda: f"have { {k: len(v) for k, v in self.matches.items()} }\n" +
                   "\n".join(f"--- {p.tail(2000)}" for p in self.procs))


def watch_links(port, names, deadline):
    """{name: (monotonic time first seen, hub entry)} for clusters linked to the hub on
    `port`, as observed by polling its status until all of `names` are, or `deadline`."""
    seen = {}

    def check():
        now = time.monotonic()
        for name, entry in status.clients(adm.status()).items():
            if name in names and "stats" in entry and name not in seen:
                seen[name] = (now, entry)
        return len(seen) == len(names)
    with status.HubAdmin(port) as adm:
        wait_until(check, max(0.0, deadline - time.monotonic()), f"{sorted(names)} linked again",
                   pause=every(0.01), detail=lambda: f"linked: {sorted(seen)}")
    return seen


class ReconnectTest(HubCase):
    def start_hub_on(self, port, name, **env):
        hub = self.proc(["hub", "--port-file", "{port_file}"], self.env(port, **env), name)
        self.assertEqual(hub.wait_port(timeout=5), port)
        return hub

    def assert_schedule(self, delays, expected, label):
        self.assertEqual(len(delays), len(expected))
        for i, (d, e) in enumerate(zip(delays, expected)):
            self.assertGreaterEqual(d, e - ROUND_S, f"{label}: delay #{i + 1} is {d}s, "
                                                 f"expected {e}s (+jitter); all {delays}")
            self.assertLessEqual(d, e * (1 + JITTER) + ROUND_S,
                                 f"{label}: delay #{i + 1} is {d}s, expected {e}s "
                                 f"(+{JITTER:.0%} jitter at most); all {delays}")

    def test_relink_after_hub_sigkill_and_restart(self):
        hub1, port = self.start_hub(name="hub1")
        alpha = self.start_cluster("alpha", port, [0, 1], 4)
        beta = self.start_cluster("beta", port, [2, 3], 4)
        lost = Watcher([alpha, beta], RECONNECT_RX)
        t_kill = time.monotonic()
        hub1.kill()                                  # SIGKILL: no goodbye on the wire
        hub2 = self.start_hub_on(port, "hub2")       # same port, before the first retry
        lost.wait(1, t_kill + 3, "'link lost ... reconnecting in Xs'")
        for p in (alpha, beta):
            line = p.log()[:lost.matches[p.name][0].end()].splitlines()[-1]
            self.assertIn("link lost", line)
            self.assertLess(lost.times[p.name][0] - t_kill, 2.0, f"{p.name}: loss noticed late")
            delay = float(lost.matches[p.name][0].group(1))
            self.assert_schedule([delay], [5.0], p.name)
        relinked = watch_links(port, {"alpha", "beta"}, t_kill + 5 * (1 + JITTER) + SLACK_S)
        for p in (alpha, beta):
            at, entry = relinked[p.name]
            took = at - t_kill
            delay = float(lost.matches[p.name][0].group(1))
            self.assertGreaterEqual(took, delay - ROUND_S - 0.05,
                                    f"{p.name} re-linked {took:.2f}s after the kill, before "
                                    f"its announced {delay}s delay")
            self.assertLessEqual(took, 5 * (1 + JITTER) + SLACK_S)
            self.assertEqual((entry["role"], entry["proto"]), ("cluster", 2))
        # Exactly one retry was needed: no second "reconnecting".
        lost.poll()
        self.assertEqual({k: len(v) for k, v in lost.matches.items()}, {"alpha": 1, "beta": 1})

    def test_backoff_doubles_and_caps_while_hub_down_then_resets(self):
        port = free_port()
        env = dict(SHARD_IPC_RECONNECT_MIN_S=0.2, SHARD_IPC_RECONNECT_MAX_S=1)
        lonely = self.start_cluster("lonely", port, [0], 1, wait=False, **env)
        w = Watcher([lonely], RECONNECT_RX)
        w.wait(6, time.monotonic() + 12, "six 'reconnecting in Xs'")
        delays = [float(m.group(1)) for m in w.matches["lonely"][:6]]
        expected = [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
        self.assert_schedule(delays, expected, "hub down")
        times = w.times["lonely"][:6]
        for i in range(5):  # each announced delay is really waited, and not much longer
            gap = times[i + 1] - times[i]
            self.assertGreaterEqual(gap, delays[i] - ROUND_S - 0.06, f"retry #{i + 2} came early: {gap:.2f}s")
            self.assertLessEqual(gap, delays[i] + 1.0, f"retry #{i + 2} came late: {gap:.2f}s")
        # The hub comes up: linked within one capped delay (+ jitter + slack).
        t_up = time.monotonic()
        hub = self.start_hub_on(port, "hub")
        status.wait_linked(port, "lonely", timeout=1 * (1 + JITTER) + SLACK_S, procs=[lonely])
        self.assertLess(time.monotonic() - t_up, 1 * (1 + JITTER) + SLACK_S + 1)
        # A success resets the delay: after this loss the first delay is the minimum again.
        w.poll()
        n = len(w.matches["lonely"])
        hub.kill()
        w.wait(n + 1, time.monotonic() + 3, "'reconnecting' after the reset")
        self.assert_schedule([float(w.matches["lonely"][n].group(1))], [0.2], "after success")

    def test_refused_auth_keeps_backing_off(self):
        hub, port = self.start_hub()
        env = dict(SHARD_IPC_RECONNECT_MIN_S=0.2, SHARD_IPC_RECONNECT_MAX_S=1,
                   SHARD_IPC_SECRET="another-secret-of-enough-length")
        bad = self.start_cluster("badkey", port, [0], 1, wait=False, **env)
        w = Watcher([bad], RECONNECT_RX)
        w.wait(5, time.monotonic() + 10, "five 'reconnecting in Xs'")
        delays = [float(m.group(1)) for m in w.matches["badkey"][:5]]
        self.assert_schedule(delays, [0.2, 0.4, 0.8, 1.0, 1.0], "refused auth")
        # The hub's audit of each refusal (a refused peer leaves no other record).
        hub.assert_log(r"auth failed from 127\.0\.0\.1:\d+", timeout=1, count=5)
        self.assertNotIn("badkey", status.clients(status.hub_status(port)))


if __name__ == "__main__":
    unittest.main()
