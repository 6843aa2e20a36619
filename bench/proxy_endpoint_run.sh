#!/usr/bin/env bash
# `make bench-proxy`: the bot endpoint of `shardline run` (issue 14) against the same bot
# connected straight to the simulator. Builds nothing (make bench-proxy builds first): it copies
# $SHARDLINE_BUILD_DIR/bin/shardline and bin/sim_bench as they are.
#
# The bot is bench/sim_bench.cpp's raw gateway client (`sim_bench latency`): 16 shards,
# zlib-stream, one thread, each MESSAGE_CREATE's latency from the simulator's send stamp
# (`shardline sim --stamp-events`: the nonce is CLOCK_REALTIME in microseconds, taken when the
# simulator hands the event to the session) to the moment the client has it inflated. A C++
# client rather than @discordjs/ws: what is measured is the difference of two latency
# distributions, and node's own event-loop batching and garbage collection spread its p99 over
# milliseconds, more than the 1 ms to be measured; a client whose own cost is small and steady
# leaves that difference to the endpoint (and leaves the CPU to the cluster on a 2-core machine).
#
# Each run, in turn, one fresh simulator per mode with the same flags (PROXY_GUILDS guilds over
# 16 shards, --events-per-sec PROXY_RATE, --stamp-events):
#   direct   the bot on the simulator, one connection per shard.
#   through  one `shardline run` cluster holding the 16 shards (SHARD_PROXY_PORT=auto); once
#            every shard is ready and caught up with the stream, the bot on the cluster's
#            endpoint. The cluster's CPU (every thread, /proc) over the bot's measured window.
#   nobot    the same cluster, its endpoint on, no bot attached: its CPU over BENCH_DURATION.
#   noproxy  the same cluster without the endpoint (SHARD_PROXY_PORT=0).
# 16 shards as in the gateway ingest benchmark (bench/gateway_run.sh): one cluster holds them
# all, so `through` is one process between the simulator and the bot, and the bot opens the
# same 16 connections on both paths.
#
# Figures (medians of the runs, min-max): events/s delivered to the bot; endpoint events per
# core = events delivered / CPU seconds of the cluster process (its own Discord-side shards
# included), and per core of the endpoint's own share (cluster CPU with the bot − without);
# latency p50/p99 direct and through, and the added p50/p99 (through − direct, run by run).
# Target (issue 14): added p99 ≤ 1 ms at 10,000 events/s.
#
# Environment (all optional):
#   SHARDLINE_BUILD_DIR   build tree holding bin/shardline and bin/sim_bench (build)
#   BENCH_RESULTS         where the JSON goes ($SHARDLINE_BUILD_DIR/bench-proxy-results.json)
#   PROXY_RUNS            runs of every mode (3)
#   PROXY_RATE            events/s of the stream (10000, the issue's setting)
#   PROXY_GUILDS          guilds of the world (16000, as the ingest benchmark)
#   PROXY_TICK_MS         the simulator's --event-tick-ms (1): the stream comes in bursts of
#                         rate x tick events, and each event waits for those ahead of it in its
#                         burst at every hop (10, the simulator's old pacing: bursts of 100)
#   PROXY_COMPRESS        1: zlib-stream on every connection (default); 0: plain JSON
#   PROXY_MODES           ("direct through nobot noproxy"), taken in that order each run
#   BENCH_DURATION / BENCH_WARMUP   (10 / 2)
#   BENCH_KEEP_LOGS=1     keep the simulator, cluster and driver logs (their directory is printed)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${SHARDLINE_BUILD_DIR:-build}
[ -x "$BUILD/bin/shardline" ] && [ -x "$BUILD/bin/sim_bench" ] ||
  { echo "bench-proxy: $BUILD/bin/shardline or $BUILD/bin/sim_bench is missing (run 'make bench-proxy')" >&2; exit 2; }
BUILD_ABS=$(cd "$BUILD" && pwd)
OUT=${BENCH_RESULTS:-$BUILD_ABS/bench-proxy-results.json}
RUNS=${PROXY_RUNS:-3}
RATE=${PROXY_RATE:-10000}
TICK_MS=${PROXY_TICK_MS:-1}
GUILDS=${PROXY_GUILDS:-16000}
COMPRESS=${PROXY_COMPRESS:-1}
case $COMPRESS in 1) SL_COMPRESS=true ;; 0) SL_COMPRESS=false ;;
  *) echo "bench-proxy: PROXY_COMPRESS is 1 or 0" >&2; exit 2 ;; esac
MODES=${PROXY_MODES:-direct through nobot noproxy}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
SHARDS=16
# GUILDS | GUILD_MEMBERS | GUILD_PRESENCES | GUILD_MESSAGES | GUILD_MESSAGE_TYPING, as
# sim_bench asks for: every event kind of the stream.
INTENTS=2819
WINDOW_MS=100
SECRET=proxy-bench-secret-0123456789abcdef
STARTUP_S=60 # bound on a cluster's start-up: every shard ready with every guild, caught up
CLK_TCK=$(getconf CLK_TCK)
TARGET_ADDED_P99_US=1000

work=$(mktemp -d -t shardline-bench-proxy.XXXXXX)
results=$work/results.jsonl
: >"$results"
CL_PID=0
failed=0

BENCH_TAG=bench-proxy
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap cleanup_cluster_and_sim EXIT
trap 'exit 130' INT TERM

# Copies, so that a rebuild during the run cannot mix two builds in one result.
SHARDLINE=$work/shardline
SIM_BENCH=$work/sim_bench
cp "$BUILD_ABS/bin/shardline" "$SHARDLINE"
cp "$BUILD_ABS/bin/sim_bench" "$SIM_BENCH"
binary="built $(date -u -r "$BUILD_ABS/bin/shardline" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$SHARDLINE" | cut -c1-12)"

now() { date +%s.%N; }
over() { awk -v a="$(now)" -v b="$1" -v m="$2" 'BEGIN { exit !(a - b > m) }'; }
calc() { awk "BEGIN { printf \"%.3f\", ($1) }"; }
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v t="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / t }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# "guilds events_sent" of the simulator (-1 -1 if it does not answer).
sim_stats() {
  python3 - "$SIM_PORT" <<'EOF'
import json, sys, urllib.request
try:
    s = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_sim/stats", timeout=5))
    print(s["guilds"], s["events_sent"]["total"])
except Exception:
    print(-1, -1)
EOF
}

# "ready stopped guilds unavailable events" of the cluster's shards (events -1 when the query fails).
HUB_PORT=0
shard_status() {
  (cd "$work" && env -i PATH="$PATH" ENABLE_SHARD_MANAGER=true SHARD_IPC_SECRET=$SECRET SHARD_IPC_PORT="$HUB_PORT" \
     timeout 10 "$SHARDLINE" query shard_status --target bench --json --timeout-ms 3000 2>>"$work/drivers.log") |
    python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["results"]["bench"]
    print(sum(s["status"] == "ready" for s in r), sum(s["status"] == "stopped" for s in r),
          sum(s["guilds"] for s in r), sum(s["unavailable_guilds"] for s in r), sum(s["events"] for s in r))
except Exception:
    print(0, 0, 0, 0, -1)'
}

# start_cluster TAG PROXY(1/0): one `shardline run` with the 16 shards against the running
# simulator, its endpoint on a free port when PROXY is 1; then waits until every shard is ready
# with every guild and the cluster is caught up with the stream. Sets CL_PID, HUB_PORT,
# PROXY_PORT; on failure returns 1 with CLUSTER_ERR set.
PROXY_PORT=0
CLUSTER_ERR=''
start_cluster() {
  local tag=$1 proxy=$2 t0 ready stopped held unavail events world sent slack=$((RATE / 1000))
  local lag_max=$((RATE / 10 > 100 ? RATE / 10 : 100)) proxy_env=(SHARD_PROXY_PORT=0) proxy_args=()
  if [ "$proxy" = 1 ]; then
    proxy_env=(SHARD_PROXY_PORT=auto)
    proxy_args=(--proxy-port-file "$work/$tag.proxy")
  fi
  rm -f "$work/$tag.hub" "$work/$tag.proxy"
  (cd "$work" && exec env -i PATH="$PATH" ENABLE_SHARD_MANAGER=true SHARD_IPC_SECRET=$SECRET SHARD_IPC_MODE=server \
     SHARD_IPC_PORT=0 SHARD_CLUSTER_NAME=bench DISCORD_TOKEN=sim-token \
     DISCORD_API_URL="http://127.0.0.1:$SIM_PORT/api/v10" DISCORD_IDENTIFY_WINDOW_MS=$WINDOW_MS \
     SHARD_COUNT=$SHARDS DISCORD_INTENTS=$INTENTS DISCORD_GATEWAY_COMPRESS=$SL_COMPRESS SHARD_DATA_DIR="$work/$tag.data" \
     "${proxy_env[@]}" "$SHARDLINE" run --port-file "$work/$tag.hub" "${proxy_args[@]}" >"$work/$tag.cluster.log" 2>&1) &
  CL_PID=$!
  t0=$(now)
  for _ in $(seq 100); do [ -s "$work/$tag.hub" ] && { [ "$proxy" = 0 ] || [ -s "$work/$tag.proxy" ]; } && break; sleep 0.1; done
  if [ ! -s "$work/$tag.hub" ]; then CLUSTER_ERR="the cluster's hub did not start"; return 1; fi
  HUB_PORT=$(cat "$work/$tag.hub")
  if [ "$proxy" = 1 ]; then
    if [ ! -s "$work/$tag.proxy" ]; then CLUSTER_ERR="the cluster's endpoint did not start"; return 1; fi
    PROXY_PORT=$(cat "$work/$tag.proxy")
  fi
  CLUSTER_ERR="not every shard ready with every guild within ${STARTUP_S}s"
  for _ in $(seq $((STARTUP_S * 5))); do
    read -r ready stopped held unavail events < <(shard_status)
    read -r world sent < <(sim_stats)
    if [ "$stopped" != 0 ]; then CLUSTER_ERR="$stopped shard(s) stopped"; return 1; fi
    if [ "$ready" = $SHARDS ] && [ "$unavail" = 0 ] && [ $((held > world ? held - world : world - held)) -le $slack ]; then
      CLUSTER_ERR=''
      break
    fi
    ! over "$t0" $STARTUP_S || return 1
    sleep 0.2
  done
  [ -z "$CLUSTER_ERR" ] || return 1
  CLUSTER_ERR="not caught up with the stream within ${STARTUP_S}s"
  for _ in $(seq $((STARTUP_S * 5))); do
    read -r world sent < <(sim_stats)
    read -r ready stopped held unavail events < <(shard_status)
    if [ "$events" -ge 0 ] && [ "$sent" -ge 0 ] && [ $((sent - events)) -le $lag_max ]; then CLUSTER_ERR=''; return 0; fi
    ! over "$t0" $STARTUP_S || return 1
    sleep 0.2
  done
  return 1
}

# stop_cluster TAG: stops it; counts its log's warnings and errors (LOG_COUNTS, JSON text)
# and shows the first errors.
LOG_COUNTS=''
stop_cluster() {
  local tag=$1 warns errs
  stop_pid "$CL_PID"
  CL_PID=0
  warns=$(grep -c ' warning ' "$work/$tag.cluster.log" | tr -d '\n' || true)
  errs=$(grep -cE ' (error|critical) ' "$work/$tag.cluster.log" | tr -d '\n' || true)
  if [ "${errs:-0}" != 0 ]; then
    { echo "$BENCH_TAG: $tag: cluster log errors:"; grep -E ' (error|critical) ' "$work/$tag.cluster.log" | head -n 5; } >&2
  fi
  LOG_COUNTS="\"log_warnings\":${warns:-0},\"log_errors\":${errs:-0}"
}

# The bot on PORT (the simulator or the endpoint); EXTRA: further sim_bench options.
bot() {
  local label=$1 port=$2
  shift 2
  record_driver "$label" "$SIM_BENCH" latency --port "$port" --shards $SHARDS --zlib "$COMPRESS" \
    --max-concurrency 16 --identify-window-ms $WINDOW_MS --warmup "$WARMUP" --duration "$DURATION" \
    --timeout $STARTUP_S --sim-pid "$SIM_PID" "$@"
  [ "$DRIVER_RC" = 0 ]
}

# Appends KEY:VALUE pairs (JSON text) to the last row of $results.
annotate() { sed -i '$ s/}$/,'"$1"'}/' "$results"; }

run_direct() {
  local label=$1 rc=0
  bot "$label" "$SIM_PORT" || rc=1
  annotate "\"mode\":\"direct\",\"run\":$2,\"rate\":$RATE,\"load1\":$(load1)"
  return $rc
}

run_through() {
  local label=$1 rc=0
  if ! start_cluster "$label" 1; then
    echo "{\"label\":\"$label\",\"error\":\"$CLUSTER_ERR\",\"exit\":1}" >>"$results"
    echo "$BENCH_TAG: $label failed: $CLUSTER_ERR; last cluster log lines:" >&2
    tail -n 5 "$work/$label.cluster.log" >&2
    rc=1
  else
    bot "$label" "$PROXY_PORT" --cluster-pid "$CL_PID" || rc=1
  fi
  stop_cluster "$label"
  annotate "\"mode\":\"through\",\"run\":$2,\"rate\":$RATE,$LOG_COUNTS,\"load1\":$(load1)"
  return $rc
}

# The cluster alone (MODE nobot: endpoint on; noproxy: off): its CPU and events over DURATION.
run_cluster_only() {
  local label=$1 run=$2 mode=$3 proxy=1 row e0 e1 c0 c1 t0 t1 ta wall rc=0
  [ "$mode" = nobot ] || proxy=0
  echo "$BENCH_TAG: $label" >&2
  if ! start_cluster "$label" "$proxy"; then
    row="{\"label\":\"$label\",\"error\":\"$CLUSTER_ERR\""
    rc=1
  else
    sleep "$WARMUP"
    ta=$(now)
    read -r _ _ _ _ e0 < <(shard_status)
    c0=$(cpu_s "$CL_PID") t0=$(calc "($ta + $(now)) / 2")
    sleep "$DURATION"
    ta=$(now)
    read -r _ _ _ _ e1 < <(shard_status)
    c1=$(cpu_s "$CL_PID") t1=$(calc "($ta + $(now)) / 2")
    wall=$(calc "$t1 - $t0")
    if [ "$e0" -lt 0 ] || [ "$e1" -lt 0 ]; then
      row="{\"label\":\"$label\",\"error\":\"shard_status failed during the measurement\""
      rc=1
    else
      row="{\"label\":\"$label\",\"seconds\":$wall,\"cluster_events\":$((e1 - e0)),\"cluster_events_per_sec\":$(calc "($e1 - $e0) / $wall")"
      row="$row,\"cluster_cpu_s\":$(calc "$c1 - $c0"),\"cluster_cpu_cores\":$(calc "($c1 - $c0) / $wall")"
    fi
  fi
  stop_cluster "$label"
  echo "$row,\"mode\":\"$mode\",\"run\":$run,\"rate\":$RATE,$LOG_COUNTS,\"load1\":$(load1),\"exit\":$rc}" >>"$results"
  return $rc
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for run in $(seq "$RUNS"); do
  for mode in $MODES; do
    label="${mode}_$run"
    start_sim "$label" --guilds "$GUILDS" --shards $SHARDS --max-concurrency 16 --identify-window-ms $WINDOW_MS \
      --heartbeat-ms 41250 --outage-ms 1000 --events-per-sec "$RATE" --event-tick-ms "$TICK_MS" --stamp-events
    case $mode in
    direct) run_direct "$label" "$run" || failed=1 ;;
    through) run_through "$label" "$run" || failed=1 ;;
    nobot | noproxy) run_cluster_only "$label" "$run" "$mode" || failed=1 ;;
    *) echo "bench-proxy: unknown mode '$mode' in PROXY_MODES" >&2; exit 2 ;;
    esac
    stop_sim
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false)
{
  echo "{\"started\":\"$started\",\"load_before\":\"$load_before\",\"load_after\":\"$load_after\",\"nproc\":$(nproc),\"commit\":\"$commit\",\"uncommitted_changes\":$dirty,\"shardline_binary\":\"$binary\",\"runs\":$RUNS,\"rate\":$RATE,\"guilds\":$GUILDS,\"shards\":$SHARDS,\"intents\":$INTENTS,\"zlib_stream\":$SL_COMPRESS,\"modes\":\"$MODES\",\"duration_s\":$DURATION,\"warmup_s\":$WARMUP,\"target_added_p99_us\":$TARGET_ADDED_P99_US,\"event_tick_ms\":$TICK_MS}"
  cat "$results"
} >"$OUT"
cat "$OUT"

# Summary: median (min-max) per figure; the added latency and the endpoint's share run by run.
python3 - "$OUT" <<'EOF'
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta, rows = lines[0], lines[1:]
ok = lambda r: "error" not in r and not r.get("exit")
by = {}
for r in rows:
    by.setdefault(r.get("mode", r["label"].rsplit("_", 1)[0]), {})[int(r["label"].rsplit("_", 1)[1])] = r
def runs(mode, key):
    return {n: r[key] for n, r in by.get(mode, {}).items() if ok(r) and isinstance(r.get(key), (int, float)) and r[key] >= 0}
def show(name, vals, unit="", digits=0):
    if not vals:
        print(f"  {name:46} not measured")
        return
    v = list(vals.values())
    f = lambda x: f"{x:,.{digits}f}"
    print(f"  {name:46} median {f(statistics.median(v)):>10}{unit}  min {f(min(v))}  max {f(max(v))}  (n={len(v)}; "
          + ", ".join(f"run {n} {f(x)}" for n, x in sorted(vals.items())) + ")")
def diff(a, b):
    return {n: a[n] - b[n] for n in a if n in b}
print(f"\nbot endpoint at {meta['rate']:,} events/s, {meta['shards']} shards, {meta['guilds']:,} guilds, "
      f"{'zlib-stream' if meta['zlib_stream'] else 'plain JSON'}, {meta['runs']} run(s); load {meta['load_before']} -> {meta['load_after']} "
      f"on {meta['nproc']} cores")
for mode, rs in by.items():
    for n, r in sorted(rs.items()):
        if not ok(r):
            print(f"  FAILED {mode} run {n}: {r.get('error', 'exit ' + str(r.get('exit')))}")
eps = runs("through", "events_per_sec")
show("events/s delivered to the bot (through)", eps, "")
show("events/s delivered to the bot (direct)", runs("direct", "events_per_sec"), "")
show("endpoint events per core (cluster CPU-s)", runs("through", "events_per_cluster_core"), "")
cpu_t, cpu_n, cpu_p = runs("through", "cluster_cpu_cores"), runs("nobot", "cluster_cpu_cores"), runs("noproxy", "cluster_cpu_cores")
show("cluster CPU, bot attached (cores)", cpu_t, "", 3)
show("cluster CPU, endpoint on, no bot (cores)", cpu_n, "", 3)
show("cluster CPU, no endpoint (cores)", cpu_p, "", 3)
share = diff(cpu_t, cpu_n)
show("endpoint's share: with bot - without (cores)", share, "", 3)
show("events per core of that share", {n: eps[n] / s for n, s in share.items() if n in eps and s > 0}, "")
show("endpoint on, no bot - no endpoint (cores)", diff(cpu_n, cpu_p), "", 3)
for p in ("p50_us", "p99_us"):
    show(f"latency {p[:3]} direct (µs)", runs("direct", p), "")
    show(f"latency {p[:3]} through the endpoint (µs)", runs("through", p), "")
added50, added99 = diff(runs("through", "p50_us"), runs("direct", "p50_us")), diff(runs("through", "p99_us"), runs("direct", "p99_us"))
show("added p50, through - direct (µs)", added50, "")
show("added p99, through - direct (µs)", added99, "")
target = meta["target_added_p99_us"]
attempted = len(by.get("through", {}))
met = [n for n, v in added99.items() if v <= target]
if not added99:
    verdict = "not measured"
elif len(met) == attempted:
    verdict = f"met in every run ({len(met)}/{attempted})"
elif statistics.median(added99.values()) <= target:
    verdict = f"met by the median, NO in {attempted - len(met)} of {attempted} runs"
else:
    verdict = f"NO ({len(met)} of {attempted} runs met it)"
print(f"  target: added p99 <= {target / 1000:g} ms at {meta['rate']:,} events/s: {verdict}")
gaps = {n: r.get("seq_gaps") for m in ("direct", "through") for n, r in by.get(m, {}).items() if r.get("seq_gaps")}
unstamped = {n: r.get("unstamped") for n, r in by.get("through", {}).items() if r.get("unstamped")}
if gaps:
    print(f"  sequence gaps seen by the bot: {gaps}")
if unstamped:
    print(f"  MESSAGE_CREATEs through the endpoint without their stamp: {unstamped}")
EOF
echo "bench-proxy: results in $OUT" >&2
exit $failed
