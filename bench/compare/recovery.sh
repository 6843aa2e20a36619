#!/usr/bin/env bash
# Recovery after `kill -9` of a cluster, for `make compare`.
#
# 16 shards in 4 clusters of 4, max_concurrency 16, Discord's real 5 s IDENTIFY window, and a
# light event stream (RECOVERY_RATE events/s) so that events missed while a cluster is down show.
#
#   Shardline: `shardline launch` (SHARD_COUNT=16, SHARD_CLUSTERS=4), its default restart policy.
#   The peer:  discord-hybrid-sharding 3.0.1 (peers/hybrid_recovery.js), 4 clusters of 4 shards,
#              its default respawn.
#
# Six seconds after every shard is ready (past the start's IDENTIFY window, so that a tool that
# IDENTIFYs again is not held back by its own start), the process holding shards 4-7 gets SIGKILL, and the
# simulator (the same observer for both) is polled every 20 ms until each of those shards has a
# connection again that took its session back (RESUME) or started a new one (IDENTIFY). Recovery
# time is from the kill to the last of the four. Also recorded: IDENTIFYs spent by the recovery,
# and events the bot never got: a resumed session replays what it missed (its gaps are counted a
# second later); a session abandoned for a new IDENTIFY keeps what it was given while nobody read
# it (counted when the new session is attached).
#
# Before the kill, Shardline's run also times a rolling restart of its 4 clusters (see
# rolling_restart). Each run gets a fresh simulator; Shardline and the peer take turns, run after run.
# Environment (all optional): SHARDLINE_BUILD_DIR (build), BENCH_RESULTS (JSON lines; default
# $SHARDLINE_BUILD_DIR/compare-recovery.jsonl), RECOVERY_RUNS (3), RECOVERY_RATE (200),
# PEER_SPAWN_DELAY_MS (100), BENCH_KEEP_LOGS=1.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${SHARDLINE_BUILD_DIR:-build}
BUILD_ABS=$(cd "$BUILD" && pwd)
SHARDLINE=$BUILD_ABS/bin/shardline
OUT=${BENCH_RESULTS:-$BUILD_ABS/compare-recovery.jsonl}
RUNS=${RECOVERY_RUNS:-3}
RATE=${RECOVERY_RATE:-200}
PEER_DELAY_MS=${PEER_SPAWN_DELAY_MS:-100}
SHARDS=16
VICTIM_SHARDS="4 5 6 7"
# Every event kind of the simulator's stream, for both (the stream is per intent).
INTENTS=2819
PEERS=$(pwd)/bench/compare/peers

# shellcheck source=bench/lib.sh
source bench/lib.sh
scenario_workspace compare-recovery

start_recovery_sim() {
  start_sim "$1" --guilds 4000 --shards $SHARDS --max-concurrency 16 --identify-window-ms 5000 \
    --heartbeat-ms 41250 --outage-ms 0 --events-per-sec "$RATE"
}

# kill_and_watch TOOL RUN PID: SIGKILL to PID, then the simulator's view of the victim shards
# until all four are back (bounded by 120 s); appends the row.
kill_and_watch() {
  python3 - "$1" "$2" "$3" "$SIM_PORT" "$VICTIM_SHARDS" >>"$results" <<'PY'
import json, os, signal, sys, time, urllib.request
tool, run, pid, port, shards = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], [int(s) for s in sys.argv[5].split()]
def get(path):
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5))
def sessions(shard):
    return get(f"/_sim/sessions?shard={shard}")["sessions"]
time.sleep(6)  # past the start's IDENTIFY window (5 s), so a new IDENTIFY may go out at once
before = {s: {x["session_id"]: x["resumes"] for x in sessions(s)} for s in shards}
ids_before = get("/_sim/stats")["identifies"]["total"]
t0 = time.monotonic()
os.kill(pid, signal.SIGKILL)
def abandoned_gap(x):
    """Sequences an old session was given after the last it delivered, while nobody read them."""
    return max(0, x["last_seq"] - max((r[1] for r in x["delivered"]), default=0))
back, abandoned = {}, 0
while len(back) < len(shards) and time.monotonic() - t0 < 120:
    for s in shards:
        if s in back:
            continue
        now = sessions(s)
        for x in now:
            new = x["session_id"] not in before[s]
            if x["attached"] and (new or x["resumes"] > before[s][x["session_id"]]):
                back[s] = (time.monotonic() - t0, "identify" if new else "resume")
                # Events of the down time that a new session will never get: what the old
                # session (resumable, but never resumed) holds beyond what it delivered.
                if new:
                    abandoned += sum(abandoned_gap(y) for y in now if y["session_id"] in before[s])
    time.sleep(0.02)
row = {"tool": tool, "run": run, "shards": len(shards)}
if len(back) < len(shards):
    row["error"] = f"shards {sorted(set(shards) - set(back))} not back within 120 s"
else:
    row["recovery_s"] = round(max(t for t, _ in back.values()), 3)
    row["first_back_s"] = round(min(t for t, _ in back.values()), 3)
    row["how"] = sorted({h for _, h in back.values()})
time.sleep(1)  # let a resumed session's replay finish before looking for gaps
def holes(x):
    """Sequences skipped below the last one written: a tail past it is only still on its way."""
    top = max((r[1] for r in x["delivered"]), default=0)
    return sum(min(r[1], top) - r[0] + 1 for r in x["undelivered"] if r[0] <= top)
gaps = sum(holes(x) for s in shards for x in sessions(s) if x["session_id"] in before[s] and x["attached"])
lost = abandoned + gaps
stats = get("/_sim/stats")
row.update({"identifies": stats["identifies"]["total"] - ids_before, "events_never_delivered": lost,
            "violations": stats["violations_total"]})
print(json.dumps(row))
PY
  tail -n 1 "$results" >&2
}

# rolling_restart RUN: `shardline restart --rolling` of the 4 clusters (issue 6: every shard's
# downtime under 2 s, no IDENTIFY); the downtime is the simulator's longest_detached_ms per
# session, taken before the kill so that only the restart counts. No peer row: hybrid-sharding's
# rolling re-clustering is not measured here.
rolling_restart() {
  local run=$1 ids0 rc=0
  ids0=$(sim_get /_sim/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["identifies"]["total"])')
  "$SHARDLINE" restart --rolling --timeout-s 120 >"$work/shardline-$run.restart.log" 2>&1 || rc=$?
  python3 - "$SIM_PORT" "$run" "$ids0" "$rc" >>"$results" <<'PY'
import json, sys, urllib.request
port, run, ids0, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
get = lambda p: json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}{p}", timeout=5))
longest = [max((x["longest_detached_ms"] for x in get(f"/_sim/sessions?shard={s}")["sessions"] if x["attached"]), default=None)
           for s in range(16)]
row = {"tool": "shardline", "scenario": "rolling_restart", "run": run, "clusters": 4,
       "identifies": get("/_sim/stats")["identifies"]["total"] - ids0}
if rc or None in longest:
    row["error"] = f"restart --rolling exited {rc}" if rc else "a shard has no attached session after the restart"
else:
    row["longest_detached_ms"] = max(longest)
print(json.dumps(row))
PY
  tail -n 1 "$results" >&2
}

shardline_run() {
  local run=$1 victim
  start_recovery_sim "shardline-$run"
  export SHARD_COUNT=$SHARDS SHARD_CLUSTERS=4 DISCORD_INTENTS=$INTENTS
  start_launch "shardline-$run"
  pids+=("$LAUNCH_PID")
  if ! wait_shards_ready $SHARDS 60; then
    echo "{\"tool\":\"shardline\",\"run\":$run,\"error\":\"not every shard ready within 60 s\"}" >>"$results"
    stop_pid "$LAUNCH_PID"; stop_sim; return 1
  fi
  rolling_restart "$run"
  victim=$(sed -n 's/.*started cluster-1 (pid \([0-9]*\),.*/\1/p' "$work/shardline-$run.launch.log" | tail -n 1)
  kill_and_watch shardline "$run" "$victim"
  stop_pid "$LAUNCH_PID"
  stop_sim
}

peer_run() {
  local run=$1 peer victim=''
  start_recovery_sim "peer-$run"
  # The script ends on EOF of its stdin (or SIGTERM): a fifo we hold open until we stop it.
  rm -f "$work/peer.in" && mkfifo "$work/peer.in"
  (cd "$PEERS" && exec env SIM_PORT=$SIM_PORT DISCORD_TOKEN=sim-token TOTAL_SHARDS=$SHARDS SHARDS_PER_CLUSTER=4 \
     SPAWN_DELAY_MS="$PEER_DELAY_MS" INTENTS=$INTENTS DEADLINE_S=300 node hybrid_recovery.js <"$work/peer.in" \
     >"$work/peer-$run.out" 2>"$work/peer-$run.log") &
  peer=$!
  pids+=("$peer")
  exec 9>"$work/peer.in"
  for _ in $(seq 1200); do  # at most 60 s
    victim=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("event") == "all_ready": print(d["clusters"]["1"]); break' "$work/peer-$run.out" 2>/dev/null || true)
    [ -z "$victim" ] || break
    sleep 0.05
  done
  if [ -z "$victim" ]; then
    echo "{\"tool\":\"discord-hybrid-sharding\",\"run\":$run,\"error\":\"not every cluster ready within 60 s\"}" >>"$results"
    exec 9>&-; stop_pid "$peer"; stop_sim; return 1
  fi
  kill_and_watch discord-hybrid-sharding "$run" "$victim"
  exec 9>&-
  stop_pid "$peer"
  stop_sim
}

if [ ! -d "$PEERS/node_modules/discord-hybrid-sharding" ]; then (cd "$PEERS" && npm ci --no-audit --no-fund >&2); fi
echo "$BENCH_TAG: $RUNS run(s) each: kill -9 of the cluster holding shards $VICTIM_SHARDS of $SHARDS" >&2
failed=0
for run in $(seq "$RUNS"); do
  row_of shardline "$run" shardline_run
  row_of discord-hybrid-sharding "$run" peer_run
done
cp "$results" "$OUT"
! grep -q '"error"' "$OUT" || failed=1
echo "$BENCH_TAG: results in $OUT" >&2
exit $failed
