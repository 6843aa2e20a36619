#!/usr/bin/env bash
# `make demo`: a hub and three IPC-only clusters on loopback, then `shardline clusters`.
# Until the Discord simulator lands the clusters run no gateway shards. DEMO_KEEP=1 keeps
# the network running until Ctrl-C.
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
export SHARD_IPC_HEARTBEAT_S=5 SHARD_IPC_STATS_INTERVAL_S=10

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
  for _ in $(seq 200); do grep -q "linked to hub" "$work/cluster-$i.log" && break; sleep 0.05; done
  grep -q "linked to hub" "$work/cluster-$i.log" || { echo "cluster-$i did not link:"; cat "$work/cluster-$i.log"; exit 1; }
done

echo; echo "\$ shardline clusters"; "$BIN" clusters
echo; echo "\$ shardline ipc-status"; "$BIN" ipc-status
echo; echo "\$ shardline query shard_status --target guild:175928847299117063"
"$BIN" query shard_status --target guild:175928847299117063
echo; echo "\$ shardline broadcast 'Deploy at 18:00 UTC'"; "$BIN" broadcast "Deploy at 18:00 UTC"
for _ in $(seq 100); do grep -q "broadcast from" "$work/cluster-2.log" && break; sleep 0.05; done
echo "cluster-2 logged: $(grep -o 'broadcast from.*' "$work/cluster-2.log" | head -1)"

if [ "${DEMO_KEEP:-0}" = "1" ]; then
  echo; echo "Running until Ctrl-C (SHARD_IPC_PORT=$SHARD_IPC_PORT SHARD_IPC_SECRET=<in this shell>)"
  wait
fi
