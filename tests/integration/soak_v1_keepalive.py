"""Issue 19, point 8: the keep-alive soak (not CI: the name does not match test_*.py, so ctest
does not run it). A lone `shardline hub` with legacy auth and its default intervals, and the
seed's client as it really runs (peers/legacy_client.py defaults: no heartbeat, stats every
60 s, a link silent for 120 s dropped), kept linked for 10 minutes. Like the seed, the client
connects again 5 s after a drop; every link and every frame is counted. One line of result;
exit code 0 when the first link lasted the whole run.

    cd tests/integration && SHARDLINE_BIN=../../build/bin/shardline python3 soak_v1_keepalive.py
    python3 soak_v1_keepalive.py --duration 20 --silence 5     # a quick look, not the soak
"""
import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import procs, status  # noqa: E402
from peers.cases import require_binary  # noqa: E402
from peers.legacy import SILENCE_TIMEOUT  # noqa: E402
from peers.legacy_client import LegacyClient  # noqa: E402
from peers.wait import Deadline, hold, pace  # noqa: E402

RECONNECT_S = 5.0          # the seed's first reconnect delay


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    ap.add_argument("--silence", type=float, default=SILENCE_TIMEOUT,
                    help="the client's silence timeout, seconds (the seed's: 120)")
    ap.add_argument("--hub-stats-interval", type=float, default=None,
                    help="SHARD_IPC_STATS_INTERVAL_S of the hub (default: the hub's own, 60)")
    args = ap.parse_args(argv)
    require_binary()

    env = {"SHARD_IPC_LEGACY_AUTH": "true"}
    if args.hub_stats_interval is not None:
        env["SHARD_IPC_STATS_INTERVAL_S"] = args.hub_stats_interval
    hub, port = procs.start_hub("soak-hub", procs.base_env(0, **env))
    links, drops, ops = 0, [], collections.Counter()
    longest, first_link_s = 0.0, 0.0
    started = time.monotonic()
    run = Deadline(args.duration, "soak")
    try:
        while not run.passed():
            c = LegacyClient(port, procs.SECRET, "py-soak", [0], 1, silence_timeout=args.silence)
            try:
                c.connect(timeout=10)
            except (AssertionError, OSError) as e:
                drops.append(f"connect: {e}")
                pace(min(RECONNECT_S, run.left()))
                continue
            links += 1
            t0 = time.monotonic()
            # Time is the scenario: the link must last the whole run.
            hold(run.left(), stop=lambda: c.closed)
            lasted = time.monotonic() - t0
            if links == 1:
                first_link_s = lasted
            longest = max(longest, c.longest_silence(since=t0))
            ops.update(m.get("op") for _, m in c.inbox.items)
            if c.closed:
                drops.append(f"link {links} after {lasted:.0f} s: {c.inbox.error}")
                c.close()
                pace(min(RECONNECT_S, run.left()))    # the seed's reconnect delay
            else:
                entry = status.clients(status.hub_status(port)).get("py-soak")
                if entry is None or entry["address"] != "127.0.0.1:%d" % c.local_port:
                    drops.append(f"the hub does not list link {links}: {entry}")
                c.close()
    finally:
        hub.stop()
    ok = links == 1 and not drops and first_link_s >= args.duration - 1
    frames = sum(ops.values())
    detail = ", ".join(f"{op}={n}" for op, n in sorted(ops.items()))
    print(f"soak_v1_keepalive: {'PASS' if ok else 'FAIL'} ran={time.monotonic() - started:.0f}s "
          f"silence_timeout={args.silence:g}s links={links} drops={len(drops)} frames={frames} "
          f"({detail or 'none'}) longest_silence={longest:.1f}s"
          + (f" first_drop={drops[0]!r}" if drops else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
