#!/usr/bin/env bash
# `make demo`: a local Discord (`shardline sim`, 20,000 guilds and a stream of events) and the
# supervisor (`shardline launch`) running 16 shards in 4 cluster processes. Once every shard is
# READY: `shardline clusters`, the operator commands as Discord shows them, then a one-line
# status every 5 s until Ctrl-C (DEMO_SECONDS=N stops after N seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SHARDLINE_BIN:-build/bin/shardline}
work=$(mktemp -d -t shardline-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "stopping: the supervisor stops every cluster (sessions saved)"; exit 0' INT TERM

export ENABLE_SHARD_MANAGER=true
export SHARD_IPC_SECRET="demo-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SHARD_IPC_HOST=127.0.0.1 SHARD_IPC_PORT=0 SHARD_COUNT=16 SHARD_CLUSTERS=4
export SHARD_IPC_HEARTBEAT_S=2 SHARD_IPC_STATS_INTERVAL_S=2

"$BIN" sim --port 0 --port-file "$work/sim.port" --guilds 20000 --shards 16 --max-concurrency 4 \
  --identify-window-ms 1000 --heartbeat-ms 5000 --events-per-sec 1000 --outage-ms 3000 >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/sim.port" ] && break; sleep 0.05; done
[ -s "$work/sim.port" ] || { echo "the simulator did not start:"; cat "$work/sim.log"; exit 1; }
SIM_PORT=$(cat "$work/sim.port")
echo "simulator on 127.0.0.1:$SIM_PORT: 20,000 guilds, 16 shards, max_concurrency 4 (1 s IDENTIFY windows)"
export DISCORD_TOKEN=sim-token DISCORD_API_URL="http://127.0.0.1:$SIM_PORT/api/v10" DISCORD_IDENTIFY_WINDOW_MS=1000
export SHARD_DATA_DIR="$work/data"

started=$(date +%s.%N)
"$BIN" launch --port-file "$work/port" >"$work/launch.log" 2>&1 &
launch_pid=$!
pids+=($launch_pid)
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "the supervisor did not start:"; cat "$work/launch.log"; exit 1; }
export SHARD_IPC_PORT=$(cat "$work/port")
echo "supervisor: hub on 127.0.0.1:$SHARD_IPC_PORT, 4 clusters of 4 shards (logs in $work/launch.log)"

# Every shard READY and no guild left in the simulated outage (it ends after 3 s).
ready() {
  "$BIN" query shard_status --json --timeout-ms 2000 2>/dev/null | python3 -c "import json,sys
r = json.load(sys.stdin)['results'].values()
shards = [s for v in r if isinstance(v, list) for s in v]
sys.exit(0 if len(shards) == 16 and all(s['status'] == 'ready' and s['unavailable_guilds'] == 0 for s in shards) else 1)"
}
for _ in $(seq 300); do ready && break; sleep 0.1; done
ready || { echo "shards not ready:"; tail -30 "$work/launch.log"; exit 1; }
sim_stat() { python3 -c "import json,sys,urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:$SIM_PORT/_sim/stats'))$1)"; }
echo "every shard READY after $(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')") s; the simulator counted" \
  "$(sim_stat "['identifies']['total']") IDENTIFYs and $(sim_stat "['violations_total']") violations"

echo; echo "\$ shardline clusters"; "$BIN" clusters

# The same data in Discord: slash commands from the application's owner, answered by the
# cluster whose shard holds the guild (registered at start by the cluster running shard 0).
for _ in $(seq 100); do grep -q "operator commands: registered\\|already registered" "$work/launch.log" && break; sleep 0.05; done
echo; python3 scripts/sim_invoke.py "$SIM_PORT" clusters "broadcastmsg=Hold restarts until 19:00"

# The settings another shell needs to talk to this network (the secret is this demo's own).
umask 077
printf 'export ENABLE_SHARD_MANAGER=true SHARD_IPC_HOST=127.0.0.1 SHARD_IPC_PORT=%s SHARD_IPC_SECRET=%s\n' \
  "$SHARD_IPC_PORT" "$SHARD_IPC_SECRET" >"$work/demo.env"
echo; echo "Running; a status line every 5 s. In another shell, after 'source $work/demo.env':"
echo "  $BIN restart --rolling     (one cluster at a time, sessions resumed)"
echo "  kill -9 <a cluster pid from $work/launch.log>     (respawned, shards resumed)"
end=$(( $(date +%s) + ${DEMO_SECONDS:-31536000} ))
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 5
  "$BIN" clusters --json --timeout-ms 2000 2>/dev/null | python3 -c "import json,sys,urllib.request
r = json.load(sys.stdin)
s = json.load(urllib.request.urlopen('http://127.0.0.1:$SIM_PORT/_sim/stats'))
up = sum(1 for c in r['clusters'] if c['answered'])
print(f\"$(date +%H:%M:%S) {up}/{len(r['clusters'])} clusters · {r['totals']['shards']} shards · {r['totals']['guilds']:,} guilds · \"
      f\"{s['events_sent']['total']:,} events sent · {s['identifies']['total']} IDENTIFYs · {s['resumes']} resumes · \"
      f\"{s['violations_total']} violations\")" || echo "$(date +%H:%M:%S) the hub did not answer"
done
