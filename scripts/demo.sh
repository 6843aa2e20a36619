#!/usr/bin/env bash
# `make demo`: a local Discord (`shardline sim`, 6,000 guilds and a stream of events), a hub,
# and three clusters running two gateway shards each; once every shard is READY, the operator
# commands. IDENTIFYs go through the hub's slots (1 s windows, as the simulator is told).
# DEMO_KEEP=1 keeps everything running until Ctrl-C.
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
trap cleanup EXIT INT TERM

export ENABLE_SHARD_MANAGER=true
export SHARD_IPC_SECRET="demo-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SHARD_IPC_HOST=127.0.0.1 SHARD_IPC_PORT=0 SHARD_COUNT=6
export SHARD_IPC_HEARTBEAT_S=5 SHARD_IPC_STATS_INTERVAL_S=5

"$BIN" sim --port 0 --port-file "$work/sim.port" --guilds 6000 --shards 6 --max-concurrency 2 \
  --identify-window-ms 1000 --heartbeat-ms 5000 --events-per-sec 500 --outage-ms 3000 >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/sim.port" ] && break; sleep 0.05; done
[ -s "$work/sim.port" ] || { echo "the simulator did not start:"; cat "$work/sim.log"; exit 1; }
SIM_PORT=$(cat "$work/sim.port")
echo "simulator on 127.0.0.1:$SIM_PORT: 6,000 guilds, 6 shards, max_concurrency 2"
export DISCORD_TOKEN=sim-token DISCORD_API_URL="http://127.0.0.1:$SIM_PORT/api/v10" DISCORD_IDENTIFY_WINDOW_MS=1000
export SHARD_DATA_DIR="$work/data"

"$BIN" hub --port-file "$work/port" >"$work/hub.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "the hub did not start:"; cat "$work/hub.log"; exit 1; }
export SHARD_IPC_PORT=$(cat "$work/port")
echo "hub listening on 127.0.0.1:$SHARD_IPC_PORT (logs in $work)"

for i in 0 1 2; do
  SHARD_IPC_MODE=client SHARD_CLUSTER_NAME="cluster-$i" SHARD_IDS="$((2 * i)),$((2 * i + 1))" \
    "$BIN" run >"$work/cluster-$i.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 600); do grep -q "all 2 shards ready" "$work/cluster-$i.log" && break; sleep 0.05; done
  grep -q "all 2 shards ready" "$work/cluster-$i.log" ||
    { echo "cluster-$i: shards not ready:"; tail -20 "$work/cluster-$i.log"; exit 1; }
done
sim_stat() { python3 -c "import json,sys,urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:$SIM_PORT/_sim/stats'))$1)"; }
echo "every shard READY; the simulator counted $(sim_stat "['identifies']['total']") IDENTIFYs and $(sim_stat "['violations_total']") violations"
# Guilds in the simulated outage come back after 3 s: wait until no shard has one left.
for _ in $(seq 100); do
  "$BIN" query shard_status --json 2>/dev/null | python3 -c "import json,sys
r = json.load(sys.stdin)['results'].values()
sys.exit(0 if all(isinstance(v, list) and all(s['unavailable_guilds'] == 0 for s in v) for v in r) else 1)" && break
  sleep 0.1
done

echo; echo "\$ shardline clusters"; "$BIN" clusters
echo; echo "\$ shardline ipc-status"; "$BIN" ipc-status
echo; echo "\$ shardline query shard_status --target guild:175928847299117063"
"$BIN" query shard_status --target guild:175928847299117063
echo; echo "\$ shardline broadcast 'Deploy at 18:00 UTC'"; "$BIN" broadcast "Deploy at 18:00 UTC"
for _ in $(seq 100); do grep -q "broadcast from" "$work/cluster-2.log" && break; sleep 0.05; done
echo "cluster-2 logged: $(grep -o 'broadcast from.*' "$work/cluster-2.log" | head -1)"

# The same data in Discord: slash commands from the application's owner, answered by the
# cluster whose shard holds the guild (registered at start by the cluster running shard 0).
for _ in $(seq 100); do grep -q "operator commands: registered\|already registered" "$work/cluster-0.log" && break; sleep 0.05; done
echo; python3 scripts/sim_invoke.py "$SIM_PORT" clusters ipcstatus "broadcastmsg=Hold restarts until 19:00"

if [ "${DEMO_KEEP:-0}" = "1" ]; then
  echo; echo "Running until Ctrl-C (SHARD_IPC_PORT=$SHARD_IPC_PORT SHARD_IPC_SECRET=<in this shell>)"
  wait
fi
