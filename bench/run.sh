#!/usr/bin/env bash
# `make bench`: the IPC benchmarks of docs/benchmarks.md. Builds nothing (make bench builds
# first). Starts a real `shardline hub` (port 0, --port-file) per scenario, the clusters it
# needs, and a fresh nats-server and redis-server per scenario for the baselines; runs every
# scenario; stops everything; prints a table and writes the results as JSON.
#
# With BENCH_RUNS=N the whole set of scenarios runs N times. Within a run each scenario shape
# is measured Shardline, then NATS, then Redis, so the systems alternate and a slow spell of
# the machine hits all of them; every row carries its "run", the summary gives the median
# with min and max over the runs, and the ratios to each peer are computed run by run.
#
# Environment (all optional):
#   SHARDLINE_BUILD_DIR  build tree holding bin/shardline, bin/shardline_ipc_bench, bin/nats_bench,
#                        bin/redis_bench (build)
#   BENCH_RESULTS        where the JSON goes ($SHARDLINE_BUILD_DIR/bench-results.json)
#   BENCH_RUNS           how many times to run every scenario (1)
#   BENCH_DURATION / BENCH_WARMUP   throughput measuring time and warm-up, seconds (5 / 1)
#   BENCH_RTT_COUNT / BENCH_FANOUT_COUNT / BENCH_IDLE_CONNS   (20000 / 2000 / 2000)
#   BENCH_SKIP_NATS=1    no NATS baseline
#   BENCH_SKIP_REDIS=1   no Redis baseline (also skipped when redis-server is not installed)
#   BENCH_PERF=1         also record a perf profile of the hub during a second throughput run in
#                        run 1 ($SHARDLINE_BUILD_DIR/bench-hub-perf.txt); the headline runs are
#                        never profiled
#   BENCH_KEEP_LOGS=1    keep the process logs (their directory is printed)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${SHARDLINE_BUILD_DIR:-build}
SHARDLINE=$BUILD/bin/shardline
IPC_BENCH=$BUILD/bin/shardline_ipc_bench
NATS_BENCH=$BUILD/bin/nats_bench
REDIS_BENCH=$BUILD/bin/redis_bench
OUT=${BENCH_RESULTS:-$BUILD/bench-results.json}
RUNS=${BENCH_RUNS:-1}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
RTT_COUNT=${BENCH_RTT_COUNT:-20000}
FANOUT_COUNT=${BENCH_FANOUT_COUNT:-2000}
IDLE_CONNS=${BENCH_IDLE_CONNS:-2000}
FANOUT_CLUSTERS=16
# Flow control of the throughput drivers, the same for Shardline, NATS and Redis: at most
# WINDOW messages in flight per receiver (8192 x 459 bytes stays well under the hub's 8 MiB
# per-connection output cap), written in batches of BATCH.
WINDOW=8192
BATCH=256

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_RUNS must be a positive integer, not '$RUNS'" >&2; exit 2; }
for f in "$SHARDLINE" "$IPC_BENCH"; do
  [ -x "$f" ] || { echo "bench: $f is missing (run 'make bench', or set SHARDLINE_BUILD_DIR)" >&2; exit 2; }
done
RUN_NATS=1
if [ "${BENCH_SKIP_NATS:-0}" = "1" ]; then RUN_NATS=0
elif ! command -v nats-server >/dev/null || [ ! -x "$NATS_BENCH" ]; then
  echo "bench: nats-server or $NATS_BENCH missing: skipping the NATS baseline" >&2
  RUN_NATS=0
fi
RUN_REDIS=1
if [ "${BENCH_SKIP_REDIS:-0}" = "1" ]; then RUN_REDIS=0
elif ! command -v redis-server >/dev/null || [ ! -x "$REDIS_BENCH" ]; then
  echo "bench: redis-server or $REDIS_BENCH missing: skipping the Redis baseline" >&2
  RUN_REDIS=0
fi

# Thousands of idle connections need descriptors in the driver and in the servers.
need_fds=$((IDLE_CONNS + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
  ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi

BUILD_ABS=$(cd "$BUILD" && pwd)
SHARDLINE=$BUILD_ABS/bin/shardline
IPC_BENCH=$BUILD_ABS/bin/shardline_ipc_bench
NATS_BENCH=$BUILD_ABS/bin/nats_bench
REDIS_BENCH=$BUILD_ABS/bin/redis_bench
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

RUN=1 # the run in progress, 1-based; every row gets it

HUB_PID=0
HUB_PORT=0
start_hub() {
  local tag=r$RUN.$1
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
     exec "$SHARDLINE" run >"$work/r$RUN.$1.log" 2>&1) &
  pids+=($!)
}

# A fresh nats-server on a free loopback port; sets NATS_PID and NATS_URL.
NATS_PID=0
NATS_URL=
start_nats() {
  local tag=r$RUN.$1
  local dir=$work/$tag.nats
  mkdir -p "$dir"
  (cd "$work" && exec nats-server -a 127.0.0.1 -p -1 --ports_file_dir "$dir" >"$work/$tag.nats.log" 2>&1) &
  NATS_PID=$!
  pids+=("$NATS_PID")
  for _ in $(seq 100); do ls "$dir"/*.ports >/dev/null 2>&1 && break; sleep 0.1; done
  ls "$dir"/*.ports >/dev/null 2>&1 || { echo "bench: nats-server did not start:" >&2; cat "$work/$tag.nats.log" >&2; exit 1; }
  NATS_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nats"][0])' "$dir"/*.ports)
}

# True while process $1 runs (a child that exited stays a zombie until waited for, and
# `kill -0` still succeeds on a zombie).
alive() {
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${s:0:1}" != Z ]
}

# True once the Redis server on loopback port $1 answers PING.
redis_ready() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "PING\r\n" >&3 &&
    IFS= read -r -t 1 line <&3 && [ "${line%$'"'"'\r'"'"'}" = +PONG ]' _ "$1" 2>/dev/null
}

# A fresh redis-server on a free loopback port, no persistence; sets REDIS_PID and REDIS_PORT.
# Redis cannot listen on port 0, so it gets a port the kernel has just handed out and given
# back; another process may take it first, hence the retries.
REDIS_PID=0
REDIS_PORT=0
start_redis() {
  local tag=r$RUN.$1 attempt
  # Enough clients for the idle scenario (Redis's default is 10,000).
  local maxclients=$((IDLE_CONNS + 128 > 10000 ? IDLE_CONNS + 128 : 10000))
  for attempt in 1 2 3 4 5; do
    REDIS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (cd "$work" && exec redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
       --protected-mode no --daemonize no --maxclients "$maxclients" >"$work/$tag.redis.$attempt.log" 2>&1) &
    REDIS_PID=$!
    pids+=("$REDIS_PID")
    for _ in $(seq 100); do
      alive "$REDIS_PID" || break # most likely the port was taken
      redis_ready "$REDIS_PORT" && return 0
      sleep 0.1
    done
    stop_pid "$REDIS_PID"
    unset 'pids[-1]'
  done
  echo "bench: redis-server did not start:" >&2
  cat "$work/$tag.redis.$attempt.log" >&2
  exit 1
}

# Runs one driver; a failure is recorded as an error row and the run goes on. record_driver
# has just appended exactly one row: it gets the run number.
run_driver() {
  record_driver "$@"
  sed -i '$ s/}$/,"run":'"$RUN"'}/' "$results"
  [ "$DRIVER_RC" = 0 ] || failed=1
}

# Prints how long the scenario that just ended took.
section_t0=$SECONDS
section_done() {
  echo "$BENCH_TAG: $1 took $((SECONDS - section_t0)) s" >&2
  section_t0=$SECONDS
}

common=(--secret "$SHARD_IPC_SECRET")
throughput_load=(--payload 256 --warmup "$WARMUP" --duration "$DURATION" --window "$WINDOW" --batch "$BATCH")

# 1. Routed throughput: 4 senders -> 4 receivers, 256-byte payloads; for NATS with nats.c
#    (threads, buffered publish) and with raw single-threaded clients built like the Shardline
#    driver; for Redis with raw RESP clients.
scenario_throughput() {
  start_hub throughput
  run_driver shardline_throughput "$IPC_BENCH" throughput --port "$HUB_PORT" "${common[@]}" --hub-pid "$HUB_PID" \
    --senders 4 --receivers 4 "${throughput_load[@]}"
  if [ "$RUN" = 1 ] && [ "${BENCH_PERF:-0}" = "1" ] && command -v perf >/dev/null; then
    # A second, profiled run; its figure is kept apart from the headline.
    perf record -F 999 -g -p "$HUB_PID" -o "$work/hub.perf.data" -- sleep $((WARMUP + DURATION + 2)) \
      >/dev/null 2>&1 &
    local perf_pid=$!
    sleep 0.5
    run_driver shardline_throughput_profiled "$IPC_BENCH" throughput --port "$HUB_PORT" "${common[@]}" \
      --hub-pid "$HUB_PID" --warmup "$WARMUP" --duration "$DURATION" --window $WINDOW --batch $BATCH
    wait "$perf_pid" || true
    perf report -i "$work/hub.perf.data" --no-children --percent-limit 0.7 --stdio 2>/dev/null \
      | grep -v '^$' | head -n 400 >"$BUILD_ABS/bench-hub-perf.txt" || true
    echo "bench: hub profile in $BUILD_ABS/bench-hub-perf.txt" >&2
  fi
  stop_all
  if [ "$RUN_NATS" = 1 ]; then
    start_nats throughput
    run_driver nats_throughput "$NATS_BENCH" throughput --url "$NATS_URL" --server-pid "$NATS_PID" --publishers 4 \
      --subscribers 4 "${throughput_load[@]}"
    run_driver nats_throughput_raw "$NATS_BENCH" throughput-raw --url "$NATS_URL" --server-pid "$NATS_PID" \
      --publishers 4 --subscribers 4 "${throughput_load[@]}"
    stop_all
  fi
  if [ "$RUN_REDIS" = 1 ]; then
    start_redis throughput
    run_driver redis_throughput "$REDIS_BENCH" throughput --port "$REDIS_PORT" --server-pid "$REDIS_PID" \
      --publishers 4 --subscribers 4 "${throughput_load[@]}"
    stop_all
  fi
}

# 2. Request/reply round trip: eval_request to one cluster, sequential. The answering cluster
#    is a real `shardline run` (the acceptance figure), then a minimal raw echo client (the
#    hub's own share). NATS answers with a nats.c responder (SendAsap) and a raw one; Redis
#    with a raw responder (redis_bench responder).
scenario_rtt() {
  start_hub rtt
  start_cluster echo-0
  (cd "$work" && exec "$IPC_BENCH" echo --port "$HUB_PORT" "${common[@]}" --name echo-raw --seconds 900 \
     2>"$work/r$RUN.echo-raw.log") &
  pids+=($!)
  run_driver shardline_rtt "$IPC_BENCH" rtt --port "$HUB_PORT" "${common[@]}" --target echo-0 \
    --count "$RTT_COUNT" --warmup 1000
  run_driver shardline_rtt_raw_echo "$IPC_BENCH" rtt --port "$HUB_PORT" "${common[@]}" --target echo-raw \
    --count "$RTT_COUNT" --warmup 1000
  stop_all
  # Request bodies as large as the Shardline eval_request frame (without its 4-byte prefix).
  local req_bytes
  req_bytes=$(python3 -c 'import json,sys
size = 206
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("label") == "shardline_rtt" and "request_wire_bytes" in r: size = int(r["request_wire_bytes"]) - 4
print(size)' "$results")
  if [ "$RUN_NATS" = 1 ]; then
    start_nats rtt
    (cd "$work" && exec "$NATS_BENCH" responder --url "$NATS_URL" --subject bench.echo --seconds 900 \
       2>"$work/r$RUN.nats-responder.log") &
    pids+=($!)
    (cd "$work" && exec "$NATS_BENCH" responder-raw --url "$NATS_URL" --subject bench.echo-raw --seconds 900 \
       2>"$work/r$RUN.nats-responder-raw.log") &
    pids+=($!)
    run_driver nats_rtt "$NATS_BENCH" rtt --url "$NATS_URL" --subject bench.echo --count "$RTT_COUNT" --warmup 1000 \
      --request-bytes "$req_bytes"
    run_driver nats_rtt_raw "$NATS_BENCH" rtt-raw --url "$NATS_URL" --subject bench.echo-raw --count "$RTT_COUNT" \
      --warmup 1000 --request-bytes "$req_bytes"
    stop_all
  fi
  if [ "$RUN_REDIS" = 1 ]; then
    start_redis rtt
    (cd "$work" && exec "$REDIS_BENCH" responder --port "$REDIS_PORT" --channel bench.echo --seconds 900 \
       2>"$work/r$RUN.redis-responder.log") &
    pids+=($!)
    run_driver redis_rtt "$REDIS_BENCH" rtt --port "$REDIS_PORT" --channel bench.echo --count "$RTT_COUNT" \
      --warmup 1000 --request-bytes "$req_bytes"
    stop_all
  fi
}

# 3. Fan-out: a request to "all" over 16 IPC-only clusters, waiting for every answer.
scenario_fanout() {
  start_hub fanout
  local i
  for i in $(seq 0 $((FANOUT_CLUSTERS - 1))); do start_cluster "$(printf 'fan-%02d' "$i")"; done
  run_driver shardline_fanout "$IPC_BENCH" fanout --port "$HUB_PORT" "${common[@]}" --expect $FANOUT_CLUSTERS \
    --count "$FANOUT_COUNT" --warmup 100
  stop_all
}

# 4. Memory per idle connection, each on a fresh server: Shardline clusters (they also receive
#    every other cluster's join notice) against NATS and Redis connections subscribed to a
#    subject/channel of their own (addressable, like a cluster), then Shardline admin
#    connections (no notices) against plain NATS and Redis connections.
scenario_idle() {
  local role peer_role suffix
  for role in cluster admin; do
    if [ "$role" = cluster ]; then peer_role=subscriber suffix=_subscriber; else peer_role=client suffix=; fi
    start_hub "idle-$role"
    run_driver "shardline_idle_$role" "$IPC_BENCH" idle --port "$HUB_PORT" "${common[@]}" --hub-pid "$HUB_PID" \
      --count "$IDLE_CONNS" --role "$role"
    stop_all
    if [ "$RUN_NATS" = 1 ]; then
      start_nats "idle-$peer_role"
      run_driver "nats_idle$suffix" "$NATS_BENCH" idle --url "$NATS_URL" --server-pid "$NATS_PID" \
        --count "$IDLE_CONNS" --role "$peer_role"
      stop_all
    fi
    if [ "$RUN_REDIS" = 1 ]; then
      start_redis "idle-$peer_role"
      run_driver "redis_idle$suffix" "$REDIS_BENCH" idle --port "$REDIS_PORT" --server-pid "$REDIS_PID" \
        --count "$IDLE_CONNS" --role "$peer_role"
      stop_all
    fi
  done
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
bench_t0=$SECONDS
for RUN in $(seq "$RUNS"); do
  [ "$RUNS" = 1 ] || BENCH_TAG="bench [run $RUN/$RUNS]"
  section_t0=$SECONDS
  scenario_throughput
  section_done throughput
  scenario_rtt
  section_done "round trip"
  scenario_fanout
  section_done fan-out
  scenario_idle
  section_done "idle memory"
done
BENCH_TAG=bench
echo "bench: every scenario done in $((SECONDS - bench_t0)) s" >&2

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false)

python3 - "$results" "$OUT_ABS" "$started" "$load_before" "$load_after" "$commit" "$dirty" "$RUNS" <<'PY'
import json, os, platform, statistics, sys

results_path, out_path, started, load_before, load_after, commit, dirty, runs = sys.argv[1:9]
runs = int(runs)
rows = [json.loads(l) for l in open(results_path) if l.strip()]
by = {(r.get("run", 1), r["label"]): r for r in rows}
run_ids = list(range(1, runs + 1))

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

def get(run, label, key):
    v = by.get((run, label), {}).get(key)
    return v if isinstance(v, (int, float)) else None

def median(values):
    # Rounded: the median of an even number of runs is a mean, with float noise.
    return round(statistics.median(values), 3) if values else None

# The peers, as (summary key, column title).
PEERS = (("nats", "nats.c"), ("nats_raw", "nats raw"), ("redis", "redis"))

# (figure, unit, shardline label/key, target op, target, {peer: label/key}, better)
figures = [
    ("routed throughput, 4x4, 256 B", "msg/s", ("shardline_throughput", "msgs_per_s"), ">=", 500000,
     {"nats": ("nats_throughput", "msgs_per_s"), "nats_raw": ("nats_throughput_raw", "msgs_per_s"),
      "redis": ("redis_throughput", "msgs_per_s")}, "higher"),
    ("request/reply RTT p50 (shardline run)", "us", ("shardline_rtt", "p50_us"), None, None,
     {"nats": ("nats_rtt", "p50_us")}, "lower"),
    ("request/reply RTT p99 (shardline run)", "us", ("shardline_rtt", "p99_us"), "<", 200,
     {"nats": ("nats_rtt", "p99_us")}, "lower"),
    ("request/reply RTT p50 (raw echo)", "us", ("shardline_rtt_raw_echo", "p50_us"), None, None,
     {"nats_raw": ("nats_rtt_raw", "p50_us"), "redis": ("redis_rtt", "p50_us")}, "lower"),
    ("request/reply RTT p99 (raw echo)", "us", ("shardline_rtt_raw_echo", "p99_us"), None, None,
     {"nats_raw": ("nats_rtt_raw", "p99_us"), "redis": ("redis_rtt", "p99_us")}, "lower"),
    ("fan-out over 16 clusters p50", "us", ("shardline_fanout", "p50_us"), None, None, {}, "lower"),
    ("fan-out over 16 clusters p99", "us", ("shardline_fanout", "p99_us"), "<", 1000, {}, "lower"),
    # Idle connections of the peers are opened by raw protocol clients (the nats raw column);
    # as clusters they subscribe to a subject/channel of their own.
    ("memory per idle connection (cluster)", "KiB", ("shardline_idle_cluster", "kib_per_connection"), "<=", 32,
     {"nats_raw": ("nats_idle_subscriber", "kib_per_connection"),
      "redis": ("redis_idle_subscriber", "kib_per_connection")}, "lower"),
    ("memory per idle connection (admin)", "KiB", ("shardline_idle_admin", "kib_per_connection"), None, None,
     {"nats_raw": ("nats_idle", "kib_per_connection"), "redis": ("redis_idle", "kib_per_connection")}, "lower"),
]

# Each figure: the median over the runs with min and max, for Shardline and each peer. The
# ratios are taken pair by pair within a run (the systems ran one after the other there), and
# their median is the headline ratio.
summary = []
for name, unit, (sl, sk), op, target, peers, better in figures:
    per_run = [get(i, sl, sk) for i in run_ids]
    measured = [x for x in per_run if x is not None]
    v = median(measured)
    met = None
    if op and v is not None:
        met = {">=": v >= target, "<": v < target, "<=": v <= target}[op]
    entry = {"figure": name, "unit": unit, "shardline": v, "runs": len(measured),
             "min": min(measured) if measured else None, "max": max(measured) if measured else None,
             "target": f"{op} {target}" if op else None, "met": met}
    for tag, _ in PEERS:
        ref = peers.get(tag)
        if not ref:
            continue
        peer_run = [get(i, *ref) for i in run_ids]
        peer_measured = [x for x in peer_run if x is not None]
        entry[tag] = median(peer_measured)
        entry[tag + "_min"] = min(peer_measured) if peer_measured else None
        entry[tag + "_max"] = max(peer_measured) if peer_measured else None
        # Shardline relative to the peer, > 1 means Shardline is better; None for a run that
        # lacks either figure.
        ratios = [round(s / p if better == "higher" else p / s, 3) if s and p and s > 0 and p > 0 else None
                  for s, p in zip(per_run, peer_run)]
        entry[tag + "_ratios"] = ratios
        if any(r is not None for r in ratios):
            entry[tag + "_ratio"] = round(median([r for r in ratios if r is not None]), 3)
    summary.append(entry)

doc = {
    "started": started,
    "commit": commit,
    "dirty_tree": dirty == "true",
    "runs": runs,
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

multi = runs > 1
print()
print(f"Shardline IPC benchmarks  ({doc['machine']['nproc']} CPU {doc['machine']['cpu']}, kernel "
      f"{doc['machine']['kernel']}, load {load_before} -> {load_after}, commit {commit}"
      f"{' +changes' if dirty == 'true' else ''})")
if multi:
    print(f"Medians of {runs} runs; range is Shardline's min..max; each ratio is the median of the per-run ratios.")
hdr = f"{'figure':40} {'unit':5} {'shardline':>11}"
if multi:
    hdr += f" {'range':>23}"
hdr += f" {'target':>10} {'met':>4}" + "".join(f" {title:>11} {'ratio':>6}" for _, title in PEERS)
print(hdr)
print("-" * len(hdr))
for e in summary:
    met = "-" if e["met"] is None else ("yes" if e["met"] else "NO")
    line = f"{e['figure']:40} {e['unit']:5} {fmt(e['shardline'], e['unit']):>11}"
    if multi:
        line += f" {fmt(e['min'], e['unit']) + '..' + fmt(e['max'], e['unit']):>23}"
    line += f" {e['target'] or '':>10} {met:>4}"
    for tag, _ in PEERS:
        line += f" {fmt(e.get(tag), e['unit']):>11} {str(e.get(tag + '_ratio', '-')):>6}"
    print(line)
print("ratio: Shardline relative to the peer, above 1 means Shardline is better.")
if multi:
    print(f"ratios run by run (runs 1 to {runs}):")
    for e in summary:
        parts = [f"{title} " + " ".join("-" if r is None else f"{r:.2f}" for r in e[tag + "_ratios"])
                 for tag, title in PEERS if tag + "_ratios" in e]
        if parts:
            print(f"  {e['figure']:40} " + " | ".join(parts))
errors = [r for r in rows if r.get("error") or r.get("exit")]
for r in errors:
    print(f"failed: run {r.get('run', 1)}: {r['label']}: "
          f"{r.get('error') or r.get('first_failure') or r.get('first_error') or 'see the row'}")
print(f"results: {out_path}")
PY
exit $failed
