#!/usr/bin/env bash
# `make bench-sim`: the Discord simulator benchmark of docs/benchmarks.md. Builds nothing
# (make bench-sim builds first). Starts `shardline sim` (port 0, --port-file) per scenario,
# runs bench/sim_bench.cpp against it, stops everything, prints the JSON lines and writes them.
#
#   stream (zlib-stream with the default ISA-L engine, zlib-stream with --deflate zlib, then
#          plain): 16 shards, SIM_STREAM_GUILDS guilds, one simulator per
#          rate of --events-per-sec, rising through SIM_ZLIB_RATES / SIM_PLAIN_RATES until the
#          simulator cannot keep up (its generator then outruns its writer, and it closes the
#          shards as slow consumers, 4000, as it must). A rate is sustained when every shard
#          stays connected, no sequence has a gap and the shards receive at least 97% of it.
#          events/s received over BENCH_DURATION s after BENCH_WARMUP s.
#   scale: 64 shards x SIM_SCALE_GUILDS guilds (zlib-stream, default 41,250 ms heartbeat); time
#          to every GUILD_CREATE and the simulator's VmRSS/VmHWM.
#
# Environment (all optional):
#   SHARDLINE_BUILD_DIR  build tree holding bin/shardline and bin/sim_bench (build)
#   BENCH_RESULTS        where the JSON goes ($SHARDLINE_BUILD_DIR/bench-sim-results.json)
#   BENCH_DURATION / BENCH_WARMUP   (4 / 1)
#   SIM_ISAL_RATES ("60000 80000 100000 120000 140000 160000 180000")
#   SIM_ZLIB_RATES ("20000 30000 40000 50000 60000 70000 80000")
#   SIM_PLAIN_RATES ("80000 110000 140000 170000 200000 230000")
#   SIM_STREAM_GUILDS (16000)  SIM_SCALE_GUILDS (150000)
#   SIM_MODES ("isal zlib plain")  the streams swept, in that order
#   SIM_RUNS (1)         repeat every sweep and the scale run; each row gets its "run" (1-based)
#   BENCH_KEEP_LOGS=1    keep the simulator logs (their directory is printed)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${SHARDLINE_BUILD_DIR:-build}
[ -x "$BUILD/bin/shardline" ] && [ -x "$BUILD/bin/sim_bench" ] ||
  { echo "bench-sim: $BUILD/bin/shardline or $BUILD/bin/sim_bench is missing (run 'make bench-sim')" >&2; exit 2; }
BUILD_ABS=$(cd "$BUILD" && pwd)
SHARDLINE=$BUILD_ABS/bin/shardline
SIM_BENCH=$BUILD_ABS/bin/sim_bench
OUT=${BENCH_RESULTS:-$BUILD_ABS/bench-sim-results.json}
DURATION=${BENCH_DURATION:-4}
WARMUP=${BENCH_WARMUP:-1}
ISAL_RATES=${SIM_ISAL_RATES:-60000 80000 100000 120000 140000 160000 180000}
ZLIB_RATES=${SIM_ZLIB_RATES:-20000 30000 40000 50000 60000 70000 80000}
PLAIN_RATES=${SIM_PLAIN_RATES:-80000 110000 140000 170000 200000 230000}
STREAM_GUILDS=${SIM_STREAM_GUILDS:-16000}
# 64 x 2,500 = 160,000 on average, but guilds spread over shards by snowflake time (about
# +-4% between shards), so with 160,000 (or 155,000) some shards would hold more than 2,500
# and be refused with 4011 (sharding required), as Discord would. 150,000 keeps every shard
# under 2,500 (about 2,450 at most).
SCALE_GUILDS=${SIM_SCALE_GUILDS:-150000}
WINDOW_MS=100
MODES=${SIM_MODES:-isal zlib plain}
RUNS=${SIM_RUNS:-1}

work=$(mktemp -d -t shardline-bench-sim.XXXXXX)
results=$work/results.jsonl
: >"$results"
failed=0

BENCH_TAG=bench-sim
# shellcheck source=bench/lib.sh
source bench/lib.sh
cleanup() {
  stop_sim
  if [ "${BENCH_KEEP_LOGS:-0}" = "1" ]; then echo "bench-sim: logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every simulator of this benchmark: 16 buckets, short windows, a 1 s outage, then FLAGS.
start_bench_sim() {
  local tag=$1
  shift
  start_sim "$tag" --max-concurrency 16 --identify-window-ms $WINDOW_MS --outage-ms 1000 "$@"
}

# run_driver LABEL SWEEP CMD...: runs one driver; its JSON line goes to the results. With
# SWEEP=1 a failing driver (the top of a rate sweep) does not fail the run.
LAST_LINE=
run_driver() {
  local label=$1 sweep=$2
  shift 2
  record_driver "$label" "$@"
  sed -i '$ s/}$/,"run":'"$run"'}/' "$results"
  LAST_LINE=$DRIVER_LINE
  [ "$DRIVER_RC" = 0 ] || [ "$sweep" = 1 ] || failed=1
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
common=(--max-concurrency 16 --identify-window-ms $WINDOW_MS)

# events/s of a JSON line.
eps_of() { sed -n 's/.*"events_per_sec":\([0-9.]*\).*/\1/p' <<<"$1"; }

summary=()
for run in $(seq "$RUNS"); do
for mode in $MODES; do
  case $mode in
  isal) z=1 rates=$ISAL_RATES engine=isal ;;
  zlib) z=1 rates=$ZLIB_RATES engine=zlib ;;
  plain) z=0 rates=$PLAIN_RATES engine=isal ;;
  esac
  best=0 best_line=
  for rate in $rates; do
    start_bench_sim "stream-$mode-$rate" --guilds "$STREAM_GUILDS" --events-per-sec "$rate" --heartbeat-ms 5000 \
      --deflate $engine
    run_driver "sim_stream_${mode}_$rate" 1 "$SIM_BENCH" stream --port "$SIM_PORT" --sim-pid "$SIM_PID" --shards 16 \
      --zlib $z --warmup "$WARMUP" --duration "$DURATION" "${common[@]}"
    stop_sim
    got=$(eps_of "$LAST_LINE")
    if [ -z "$got" ] || ! awk -v g="$got" -v r="$rate" 'BEGIN { exit !(g >= 0.97 * r) }'; then break; fi
    best=$rate best_line=$LAST_LINE
  done
  summary+=("run $run: stream $mode: highest rate sustained $best events/s: ${best_line:-none}")
  # Not even the lowest rate sustained is a result (the summary says so), not a failure of the run.
  [ "$best" != 0 ] || echo "bench-sim: run $run: stream $mode: not even ${rates%% *} events/s sustained" >&2
done

start_bench_sim scale --guilds "$SCALE_GUILDS" --shards 64
run_driver sim_scale 0 "$SIM_BENCH" scale --port "$SIM_PORT" --sim-pid "$SIM_PID" --shards 64 --zlib 1 "${common[@]}"
summary+=("run $run: scale: ${LAST_LINE:-failed}")
stop_sim
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "{\"started\":\"$started\",\"load_before\":\"$load_before\",\"load_after\":\"$load_after\",\"commit\":\"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\"}"
  cat "$results"
} >"$OUT"
cat "$OUT"
printf '%s\n' "${summary[@]}"
echo "bench-sim: results in $OUT" >&2
exit $failed
