#!/usr/bin/env bash
# `make bench`: the IPC benchmarks of docs/benchmarks.md. Builds nothing (make bench builds
# first). Starts a real `shardline hub` (port 0, --port-file) per scenario, the clusters it
# needs, and a nats-server for the baseline; runs every scenario; stops everything; prints a
# table and writes the results as JSON.
#
# Environment (all optional):
#   SHARDLINE_BUILD_DIR  build tree holding bin/shardline, bin/shardline_ipc_bench, bin/nats_bench (build)
#   BENCH_RESULTS        where the JSON goes ($SHARDLINE_BUILD_DIR/bench-results.json)
#   BENCH_DURATION / BENCH_WARMUP   throughput measuring time and warm-up, seconds (5 / 1)
#   BENCH_RTT_COUNT / BENCH_FANOUT_COUNT / BENCH_IDLE_CONNS   (20000 / 2000 / 2000)
#   BENCH_SKIP_NATS=1    Shardline figures only
#   BENCH_PERF=1         also record a perf profile of the hub during a second throughput run
#                        ($SHARDLINE_BUILD_DIR/bench-hub-perf.txt); the headline run is never profiled
#   BENCH_KEEP_LOGS=1    keep the process logs (their directory is printed)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${SHARDLINE_BUILD_DIR:-build}
SHARDLINE=$BUILD/bin/shardline
IPC_BENCH=$BUILD/bin/shardline_ipc_bench
NATS_BENCH=$BUILD/bin/nats_bench
OUT=${BENCH_RESULTS:-$BUILD/bench-results.json}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
RTT_COUNT=${BENCH_RTT_COUNT:-20000}
FANOUT_COUNT=${BENCH_FANOUT_COUNT:-2000}
IDLE_CONNS=${BENCH_IDLE_CONNS:-2000}
FANOUT_CLUSTERS=16
# Flow control of the throughput drivers, the same for Shardline and NATS: at most WINDOW
# messages in flight per receiver (8192 x 459 bytes stays well under the hub's 8 MiB
# per-connection output cap), written in batches of BATCH.
WINDOW=8192
BATCH=256

for f in "$SHARDLINE" "$IPC_BENCH"; do
  [ -x "$f" ] || { echo "bench: $f is missing (run 'make bench', or set SHARDLINE_BUILD_DIR)" >&2; exit 2; }
done
RUN_NATS=1
if [ "${BENCH_SKIP_NATS:-0}" = "1" ]; then RUN_NATS=0
elif ! command -v nats-server >/dev/null || [ ! -x "$NATS_BENCH" ]; then
  echo "bench: nats-server or $NATS_BENCH missing: skipping the NATS baseline" >&2
  RUN_NATS=0
fi

# Thousands of idle connections need descriptors in the driver and in the hub.
need_fds=$((IDLE_CONNS + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
  ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi

BUILD_ABS=$(cd "$BUILD" && pwd)
SHARDLINE=$BUILD_ABS/bin/shardline
IPC_BENCH=$BUILD_ABS/bin/shardline_ipc_bench
NATS_BENCH=$BUILD_ABS/bin/nats_bench
mkdir -p "$(dirname "$OUT")"
OUT_ABS=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")

work=$(mktemp -d -t shardline-bench.XXXXXX)
results=$work/results.jsonl
: >"$results"
pids=()
failed=0
BENCH_TAG=bench
# shellcheck source=bench/lib.sh
source bench/lib.sh

stop_all() {
  local p
  for p in "${pids[@]}"; do stop_pid "$p"; done
  pids=()
}
cleanup() {
  stop_all
  if [ "${BENCH_KEEP_LOGS:-0}" = "1" ]; then echo "bench: logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every process runs in $work, so no ./.env or ./config.json of the caller is read.
export ENABLE_SHARD_MANAGER=true
export SHARD_IPC_SECRET="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SHARD_IPC_HOST=127.0.0.1 SHARD_IPC_PORT=0
export SHARD_IPC_MAX_PENDING=$((IDLE_CONNS + 256))
unset DISCORD_TOKEN SHARD_IPC_TLS_CERT SHARD_IPC_TLS_KEY SHARD_IPC_TLS_CA SHARD_IPC_LEGACY_AUTH || true

HUB_PID=0
HUB_PORT=0
start_hub() {
  local tag=$1
  rm -f "$work/$tag.port"
  (cd "$work" && exec "$SHARDLINE" hub --port-file "$work/$tag.port" >"$work/$tag.hub.log" 2>&1) &
  HUB_PID=$!
  pids+=("$HUB_PID")
  for _ in $(seq 100); do [ -s "$work/$tag.port" ] && break; sleep 0.1; done
  [ -s "$work/$tag.port" ] || { echo "bench: the hub did not start:"; cat "$work/$tag.hub.log"; exit 1; }
  HUB_PORT=$(cat "$work/$tag.port")
}

# An IPC-only cluster (`shardline run`, client mode) named $1.
start_cluster() {
  (cd "$work" && SHARD_IPC_MODE=client SHARD_IPC_PORT=$HUB_PORT SHARD_CLUSTER_NAME=$1 \
     exec "$SHARDLINE" run >"$work/$1.log" 2>&1) &
  pids+=($!)
}

# Runs one driver; a failure is recorded as an error row and the run goes on.
run_driver() {
  record_driver "$@"
  [ "$DRIVER_RC" = 0 ] || failed=1
}

common=(--secret "$SHARD_IPC_SECRET")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# 1. Routed throughput: 4 senders -> 4 receivers, 256-byte payloads.
start_hub throughput
run_driver shardline_throughput "$IPC_BENCH" throughput --port "$HUB_PORT" "${common[@]}" --hub-pid "$HUB_PID" \
  --senders 4 --receivers 4 --payload 256 --warmup "$WARMUP" --duration "$DURATION" --window $WINDOW --batch $BATCH
if [ "${BENCH_PERF:-0}" = "1" ] && command -v perf >/dev/null; then
  # A second, profiled run; its figure is kept apart from the headline.
  perf record -F 999 -g -p "$HUB_PID" -o "$work/hub.perf.data" -- sleep $((WARMUP + DURATION + 2)) \
    >/dev/null 2>&1 &
  perf_pid=$!
  sleep 0.5
  run_driver shardline_throughput_profiled "$IPC_BENCH" throughput --port "$HUB_PORT" "${common[@]}" \
    --hub-pid "$HUB_PID" --warmup "$WARMUP" --duration "$DURATION" --window $WINDOW --batch $BATCH
  wait "$perf_pid" || true
  perf report -i "$work/hub.perf.data" --no-children --percent-limit 0.7 --stdio 2>/dev/null \
    | grep -v '^$' | head -n 400 >"$BUILD_ABS/bench-hub-perf.txt" || true
  echo "bench: hub profile in $BUILD_ABS/bench-hub-perf.txt" >&2
fi
stop_all

# 2. Request/reply round trip: eval_request to one cluster, sequential. The answering cluster
#    is a real `shardline run` (the acceptance figure), then a minimal raw echo client (the
#    hub's own share).
start_hub rtt
start_cluster echo-0
(cd "$work" && exec "$IPC_BENCH" echo --port "$HUB_PORT" "${common[@]}" --name echo-raw --seconds 900 \
   2>"$work/echo-raw.log") &
pids+=($!)
run_driver shardline_rtt "$IPC_BENCH" rtt --port "$HUB_PORT" "${common[@]}" --target echo-0 \
  --count "$RTT_COUNT" --warmup 1000
run_driver shardline_rtt_raw_echo "$IPC_BENCH" rtt --port "$HUB_PORT" "${common[@]}" --target echo-raw \
  --count "$RTT_COUNT" --warmup 1000
stop_all

# 3. Fan-out: a request to "all" over 16 IPC-only clusters, waiting for every answer.
start_hub fanout
for i in $(seq 0 $((FANOUT_CLUSTERS - 1))); do start_cluster "$(printf 'fan-%02d' "$i")"; done
run_driver shardline_fanout "$IPC_BENCH" fanout --port "$HUB_PORT" "${common[@]}" --expect $FANOUT_CLUSTERS \
  --count "$FANOUT_COUNT" --warmup 100
stop_all

# 4. Memory per idle authenticated connection: clusters (they also receive every other
#    cluster's join notice) and admin connections (no notices), each on a fresh hub.
for role in cluster admin; do
  start_hub "idle-$role"
  run_driver "shardline_idle_$role" "$IPC_BENCH" idle --port "$HUB_PORT" "${common[@]}" --hub-pid "$HUB_PID" \
    --count "$IDLE_CONNS" --role "$role"
  stop_all
done

# 5. The NATS baseline: the same throughput and round trip through nats-server, with nats.c
#    (threads, buffered publish, SendAsap responder) and with raw single-threaded clients
#    built like the Shardline driver.
if [ "$RUN_NATS" = 1 ]; then
  mkdir -p "$work/nats"
  (cd "$work" && exec nats-server -a 127.0.0.1 -p -1 --ports_file_dir "$work/nats" >"$work/nats.log" 2>&1) &
  NATS_PID=$!
  pids+=("$NATS_PID")
  for _ in $(seq 100); do ls "$work"/nats/*.ports >/dev/null 2>&1 && break; sleep 0.1; done
  url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nats"][0])' "$work"/nats/*.ports)
  # Request bodies as large as the Shardline eval_request frame (without its 4-byte prefix).
  req_bytes=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l)
    if r.get("label")=="shardline_rtt" and "request_wire_bytes" in r: print(int(r["request_wire_bytes"])-4); break
else: print(206)' "$results")
  run_driver nats_throughput "$NATS_BENCH" throughput --url "$url" --server-pid "$NATS_PID" --publishers 4 \
    --subscribers 4 --payload 256 --warmup "$WARMUP" --duration "$DURATION" --window $WINDOW --batch $BATCH
  run_driver nats_throughput_raw "$NATS_BENCH" throughput-raw --url "$url" --server-pid "$NATS_PID" --publishers 4 \
    --subscribers 4 --payload 256 --warmup "$WARMUP" --duration "$DURATION" --window $WINDOW --batch $BATCH
  (cd "$work" && exec "$NATS_BENCH" responder --url "$url" --subject bench.echo --seconds 900 \
     2>"$work/nats-responder.log") &
  pids+=($!)
  (cd "$work" && exec "$NATS_BENCH" responder-raw --url "$url" --subject bench.echo-raw --seconds 900 \
     2>"$work/nats-responder-raw.log") &
  pids+=($!)
  run_driver nats_rtt "$NATS_BENCH" rtt --url "$url" --subject bench.echo --count "$RTT_COUNT" --warmup 1000 \
    --request-bytes "$req_bytes"
  run_driver nats_rtt_raw "$NATS_BENCH" rtt-raw --url "$url" --subject bench.echo-raw --count "$RTT_COUNT" \
    --warmup 1000 --request-bytes "$req_bytes"
  stop_all
fi

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false)

python3 - "$results" "$OUT_ABS" "$started" "$load_before" "$load_after" "$commit" "$dirty" <<'PY'
import json, os, platform, sys

results_path, out_path, started, load_before, load_after, commit, dirty = sys.argv[1:8]
rows = [json.loads(l) for l in open(results_path) if l.strip()]
by = {r["label"]: r for r in rows}

def cpu_model():
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            return l.split(":", 1)[1].strip()
    return "?"

def mem_kib():
    for l in open("/proc/meminfo"):
        if l.startswith("MemTotal"):
            return int(l.split()[1])
    return 0

def get(label, key):
    v = by.get(label, {}).get(key)
    return v if isinstance(v, (int, float)) else None

# (figure, unit, shardline label/key, target op, target, nats label/key, raw nats label/key, better)
figures = [
    ("routed throughput, 4x4, 256 B", "msg/s", ("shardline_throughput", "msgs_per_s"), ">=", 500000,
     ("nats_throughput", "msgs_per_s"), ("nats_throughput_raw", "msgs_per_s"), "higher"),
    ("request/reply RTT p50 (shardline run)", "us", ("shardline_rtt", "p50_us"), None, None,
     ("nats_rtt", "p50_us"), None, "lower"),
    ("request/reply RTT p99 (shardline run)", "us", ("shardline_rtt", "p99_us"), "<", 200,
     ("nats_rtt", "p99_us"), None, "lower"),
    ("request/reply RTT p50 (raw echo)", "us", ("shardline_rtt_raw_echo", "p50_us"), None, None,
     None, ("nats_rtt_raw", "p50_us"), "lower"),
    ("request/reply RTT p99 (raw echo)", "us", ("shardline_rtt_raw_echo", "p99_us"), None, None,
     None, ("nats_rtt_raw", "p99_us"), "lower"),
    ("fan-out over 16 clusters p50", "us", ("shardline_fanout", "p50_us"), None, None, None, None, "lower"),
    ("fan-out over 16 clusters p99", "us", ("shardline_fanout", "p99_us"), "<", 1000, None, None, "lower"),
    ("memory per idle connection (cluster)", "KiB", ("shardline_idle_cluster", "kib_per_connection"), "<=", 32,
     None, None, "lower"),
    ("memory per idle connection (admin)", "KiB", ("shardline_idle_admin", "kib_per_connection"), None, None,
     None, None, "lower"),
]

summary = []
for name, unit, (sl, sk), op, target, nats, raw, better in figures:
    v = get(sl, sk)
    met = None
    if op and v is not None:
        met = {">=": v >= target, "<": v < target, "<=": v <= target}[op]
    entry = {"figure": name, "unit": unit, "shardline": v, "target": f"{op} {target}" if op else None, "met": met}
    for tag, ref in (("nats", nats), ("nats_raw", raw)):
        if ref:
            n = get(*ref)
            entry[tag] = n
            if n and v:
                # Shardline relative to NATS, > 1 means Shardline is better.
                entry[tag + "_ratio"] = round(v / n if better == "higher" else n / v, 3)
    summary.append(entry)

doc = {
    "started": started,
    "commit": commit,
    "dirty_tree": dirty == "true",
    "machine": {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "mem_total_kib": mem_kib(),
        "kernel": platform.release(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    },
    "summary": summary,
    "results": rows,
}
with open(out_path, "w") as f:
    json.dump(doc, f, indent=2)

def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "msg/s":
        return f"{v:,.0f}"
    return f"{v:,.1f}"

print()
print(f"Shardline IPC benchmarks  ({doc['machine']['nproc']} CPU {doc['machine']['cpu']}, kernel "
      f"{doc['machine']['kernel']}, load {load_before} -> {load_after}, commit {commit}"
      f"{' +changes' if dirty == 'true' else ''})")
hdr = f"{'figure':40} {'unit':5} {'shardline':>11} {'target':>10} {'met':>4} {'nats.c':>11} {'ratio':>6} {'nats raw':>11} {'ratio':>6}"
print(hdr)
print("-" * len(hdr))
for e in summary:
    met = "-" if e["met"] is None else ("yes" if e["met"] else "NO")
    print(f"{e['figure']:40} {e['unit']:5} {fmt(e['shardline'], e['unit']):>11} {e['target'] or '':>10} {met:>4} "
          f"{fmt(e.get('nats'), e['unit']):>11} {str(e.get('nats_ratio', '-')):>6} "
          f"{fmt(e.get('nats_raw'), e['unit']):>11} {str(e.get('nats_raw_ratio', '-')):>6}")
print("ratio: Shardline relative to NATS, above 1 means Shardline is better.")
errors = [r for r in rows if r.get("error") or r.get("exit")]
for r in errors:
    print(f"failed: {r['label']}: {r.get('error') or r.get('first_failure') or r.get('first_error') or 'see the row'}")
print(f"results: {out_path}")
PY
exit $failed
