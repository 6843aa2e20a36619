#!/usr/bin/env bash
# The cluster-wide query of `make compare`: the bot's guild count summed over 16 clusters.
#
#   Shardline: `shardline launch` with 64 shards in 16 clusters; `shardline query guild_count
#              --repeat N`: one admin connection, N queries in a row, each timed from its send
#              to the 16th answer (the hub fans the request out and gathers the answers).
#   The peer:  discord-hybrid-sharding 3.0.1, 64 shards in 16 discord.js clusters
#              (peers/hybrid_query.js): `client.cluster.broadcastEval(c => c.guilds.cache.size)`
#              from cluster 0, N in a row (how a bot's /stats command asks), and the same from
#              the manager (`manager.broadcastEval`).
#
# Each start gets a fresh `shardline sim` with the same flags; the two take turns, run after run.
# Both answers are checked against the simulator's world (GET /_sim/world?shards=64).
#
# Environment (all optional): SHARDLINE_BUILD_DIR (build), BENCH_RESULTS (JSON lines; default
# $SHARDLINE_BUILD_DIR/compare-query.jsonl), QUERY_RUNS (3), QUERY_COUNT (2000),
# QUERY_WARMUP (100), QUERY_GUILDS (16000), PEER_SPAWN_DELAY_MS (300), BENCH_KEEP_LOGS=1.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${SHARDLINE_BUILD_DIR:-build}
BUILD_ABS=$(cd "$BUILD" && pwd)
SHARDLINE=$BUILD_ABS/bin/shardline
OUT=${BENCH_RESULTS:-$BUILD_ABS/compare-query.jsonl}
RUNS=${QUERY_RUNS:-3}
COUNT=${QUERY_COUNT:-2000}
WARMUP=${QUERY_WARMUP:-100}
GUILDS=${QUERY_GUILDS:-16000}
# Each of the peer's clusters asks GET /gateway/bot once, a route that allows 5 per 5 s: its
# clusters must start more than a second apart (over 250 ms per shard) or the simulator counts
# rate-limit violations (with 100 ms: 29).
PEER_DELAY_MS=${PEER_SPAWN_DELAY_MS:-300}
SHARDS=64
CLUSTERS=16
PEERS=$(pwd)/bench/compare/peers

# shellcheck source=bench/lib.sh
source bench/lib.sh
scenario_workspace compare-query

# Short IDENTIFY windows: this scenario measures the query, not the start.
start_query_sim() {
  start_sim "$1" --guilds "$GUILDS" --shards $SHARDS --max-concurrency 16 --identify-window-ms 100 \
    --heartbeat-ms 41250 --outage-ms 0
}
world_guilds() { sim_get "/_sim/world?shards=$SHARDS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["guilds"])'; }
violations() { sim_get /_sim/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["violations_total"])'; }

shardline_run() {
  local run=$1 t0 ready_s=null line
  start_query_sim "shardline-$run"
  export SHARD_COUNT=$SHARDS SHARD_CLUSTERS=$CLUSTERS DISCORD_IDENTIFY_WINDOW_MS=100
  t0=$SECONDS
  start_launch "shardline-$run"
  pids+=("$LAUNCH_PID")
  if ! wait_shards_ready $SHARDS 120; then
    echo "{\"tool\":\"shardline\",\"run\":$run,\"error\":\"not every shard ready within 120 s\"}" >>"$results"
    stop_pid "$LAUNCH_PID"; stop_sim; return 1
  fi
  ready_s=$((SECONDS - t0))
  "$SHARDLINE" query guild_count --repeat "$WARMUP" --json >/dev/null
  line=$("$SHARDLINE" query guild_count --repeat "$COUNT" --json)
  python3 - "$line" "$run" "$(world_guilds)" "$(violations)" "$ready_s" >>"$results" <<'PY'
import json, sys
d, run, world, violations, ready_s = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
row = {"tool": "shardline", "run": run, "clusters": len(d["results"]), "guilds": sum(d["results"].values()),
       "world_guilds": world, "missing": len(d["missing"]), "violations": violations, "all_ready_s": float(ready_s)}
row.update(d["latency"])
if row["guilds"] != world or row["clusters"] != 16 or row["incomplete"]:
    row["error"] = "the answer does not match the simulator's world"
print(json.dumps(row))
PY
  tail -n 1 "$results" >&2
  stop_pid "$LAUNCH_PID"
  stop_sim
}

peer_run() {
  local run=$1 out
  start_query_sim "peer-$run"
  out=$(cd "$PEERS" && env SIM_PORT=$SIM_PORT DISCORD_TOKEN=sim-token TOTAL_SHARDS=$SHARDS CLUSTERS=$CLUSTERS \
        SPAWN_DELAY_MS="$PEER_DELAY_MS" COUNT="$COUNT" WARMUP="$WARMUP" DEADLINE_S=300 \
        timeout 330 node hybrid_query.js 2>"$work/peer-$run.log" | tail -n 1) || true
  python3 - "$out" "$run" "$(world_guilds)" "$(violations)" >>"$results" <<'PY'
import json, sys
out, run, world, violations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
try:
    d = json.loads(out)
except ValueError:
    d = {"error": "hybrid_query.js printed no result"}
row = {"tool": "discord-hybrid-sharding", "run": run, "world_guilds": world, "violations": violations}
row.update(d)
for side in ("from_cluster", "from_manager"):
    if side in d and d[side].get("guilds") != world:
        row["error"] = f"{side}: the answer does not match the simulator's world"
print(json.dumps(row))
PY
  tail -n 1 "$results" >&2
  stop_sim
}

if [ ! -d "$PEERS/node_modules/discord-hybrid-sharding" ]; then (cd "$PEERS" && npm ci --no-audit --no-fund >&2); fi
echo "$BENCH_TAG: $RUNS run(s) each, $COUNT queries after $WARMUP, $SHARDS shards in $CLUSTERS clusters, $GUILDS guilds" >&2
failed=0
for run in $(seq "$RUNS"); do
  row_of shardline "$run" shardline_run
  row_of discord-hybrid-sharding "$run" peer_run
done
cp "$results" "$OUT"
! grep -q '"error"' "$OUT" || failed=1
echo "$BENCH_TAG: results in $OUT" >&2
exit $failed
