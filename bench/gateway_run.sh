#!/usr/bin/env bash
# Gateway ingest and cluster memory (docs/benchmarks.md): `shardline run` against @discordjs/ws
# 2.0.4 (bench/compare/peers/ws_ingest.js), each fed by its own `shardline sim` with the same flags.
# Builds nothing (make bench-gateway builds first): it copies $SHARDLINE_BUILD_DIR/bin/shardline
# as it is. The two clients take turns, run after run (shardline, discordjs, shardline, ...), so
# a change in the machine's load hits both alike.
#
#   stream: GATEWAY_STREAM_GUILDS guilds over 16 shards, zlib-stream (the simulator's default
#           engine), --events-per-sec GATEWAY_RATE, intents for every event kind of the stream.
#           Each client: every shard ready and every guild arrived, then caught up with the
#           stream (its dispatches within a tenth of a second of what the simulator wrote, so the
#           backlog of start-up is not counted), BENCH_WARMUP s, then BENCH_DURATION s measured:
#           dispatches per second, the client's CPU (utime+stime of every thread), events per
#           core = events/s / (CPU s / wall s), its VmRSS/VmHWM, and the simulator's CPU.
#   high:   the same at GATEWAY_HIGH_RATE (0 skips it), a stream that loads Shardline; far
#           beyond what @discordjs/ws ingests, so it is tried GATEWAY_HIGH_DISCORDJS_RUNS times only.
#   memory: for each count in GATEWAY_MEMORY_GUILDS, that many guilds over 16 shards, no stream:
#           VmRSS and VmHWM of each client once every GUILD_CREATE has arrived. Besides
#           @discordjs/ws (no cache), a discord.js Client with its default caches
#           (peers/djs_memory.js: what a discord-hybrid-sharding cluster holds) when
#           GATEWAY_MEMORY_CLIENTS names djsclient. Two counts give the cost per guild.
#
# Shardline's figures come from `shardline query shard_status --json` (the sum of "events" per
# shard, through the cluster's own hub) and /proc; @discordjs/ws measures itself (ws_ingest.js).
#
# Environment (all optional):
#   SHARDLINE_BUILD_DIR   build tree holding bin/shardline (build)
#   BENCH_RESULTS         where the JSON goes ($SHARDLINE_BUILD_DIR/bench-gateway-results.json)
#   GATEWAY_RUNS          runs of each client per scenario (3)
#   GATEWAY_RATE          events/s of the shared stream (0: no stream scenario; 15000: about what @discordjs/ws sustains
#                         here; at 20000 it falls further behind every second)
#   GATEWAY_HIGH_RATE     events/s of the high-rate stream (60000; 0: skipped). At 80000 the
#                         simulator and the cluster each need about a core, and the cluster is
#                         closed as a slow consumer now and then while the GUILD_CREATEs arrive
#   GATEWAY_HIGH_DISCORDJS_RUNS  runs of @discordjs/ws at that rate (1: it cannot keep up, and
#                         each attempt ends at its start-up bound or in a crash)
#   GATEWAY_STREAM_GUILDS (16000)   GATEWAY_MEMORY_GUILDS ("39000"; a list; 0: no memory scenario)
#   GATEWAY_MEMORY_CLIENTS ($GATEWAY_CLIENTS; "shardline discordjs djsclient" adds discord.js)
#   GATEWAY_COMPRESS      1: zlib-stream (both clients inflate with zlib); 0: plain JSON for both
#   GATEWAY_DEFLATE       the simulator's zlib-stream engine, --deflate: isal (default) or zlib
#   GATEWAY_CLIENTS       ("shardline discordjs")
#   BENCH_DURATION / BENCH_WARMUP   (10 / 2)
#   BENCH_KEEP_LOGS=1     keep the simulator, cluster and driver logs (their directory is printed)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${SHARDLINE_BUILD_DIR:-build}
[ -x "$BUILD/bin/shardline" ] || { echo "bench-gateway: $BUILD/bin/shardline is missing (run 'make bench-gateway')" >&2; exit 2; }
if ! command -v node >/dev/null || ! command -v python3 >/dev/null; then
  echo "bench-gateway: needs node (>= 20, for @discordjs/ws 2) and python3" >&2
  exit 2
fi
BUILD_ABS=$(cd "$BUILD" && pwd)
DJS_DIR=$(pwd)/bench/compare/peers
OUT=${BENCH_RESULTS:-$BUILD_ABS/bench-gateway-results.json}
RUNS=${GATEWAY_RUNS:-3}
RATE=${GATEWAY_RATE:-15000}
HIGH_RATE=${GATEWAY_HIGH_RATE:-60000}
HIGH_DJS_RUNS=${GATEWAY_HIGH_DISCORDJS_RUNS:-1}
STREAM_GUILDS=${GATEWAY_STREAM_GUILDS:-16000}
# 16 x 2,500 = 40,000 on average, but guilds go to shards by their snowflake's timestamp, so at
# 40,000 (and 39,500) some shards would hold more than 2,500 and the simulator refuses their
# IDENTIFY with 4011, as Discord would. At 39,000 the fullest shard holds 2,499.
MEMORY_GUILDS=${GATEWAY_MEMORY_GUILDS:-39000}
CLIENTS=${GATEWAY_CLIENTS:-shardline discordjs}
MEMORY_CLIENTS=${GATEWAY_MEMORY_CLIENTS:-$CLIENTS}
COMPRESS=${GATEWAY_COMPRESS:-1}
DEFLATE=${GATEWAY_DEFLATE:-isal}
case $COMPRESS in 1) SL_COMPRESS=true DJS_COMPRESS=zlib ;; 0) SL_COMPRESS=false DJS_COMPRESS=none ;;
  *) echo "bench-gateway: GATEWAY_COMPRESS is 1 or 0" >&2; exit 2 ;; esac
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
SHARDS=16
# GUILDS | GUILD_MEMBERS | GUILD_PRESENCES | GUILD_MESSAGES | GUILD_MESSAGE_TYPING: every event
# kind the simulator's stream sends (src/sim/event_generator.hpp); the same for both clients.
INTENTS=2819
WINDOW_MS=100
SECRET=gateway-bench-secret-0123456789abcdef
STARTUP_S=60 # bound on start-up: every guild arrived and caught up with the stream
CLK_TCK=$(getconf CLK_TCK)

if [ ! -d "$DJS_DIR/node_modules/@discordjs/ws" ]; then
  echo "bench-gateway: installing @discordjs/ws into bench/compare/peers (npm ci)" >&2
  (cd "$DJS_DIR" && timeout 300 npm ci --no-audit --no-fund >&2)
fi

work=$(mktemp -d -t shardline-bench-gateway.XXXXXX)
results=$work/results.jsonl
: >"$results"
CL_PID=0
failed=0

BENCH_TAG=bench-gateway
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap cleanup_cluster_and_sim EXIT
trap 'exit 130' INT TERM

# A copy of the binary, so that a rebuild during the run cannot mix two builds in one result.
SHARDLINE=$work/shardline
cp "$BUILD_ABS/bin/shardline" "$SHARDLINE"
binary="built $(date -u -r "$BUILD_ABS/bin/shardline" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$SHARDLINE" | cut -c1-12)"

# One simulator per client and run, with the same flags: TAG GUILDS RATE.
start_gateway_sim() {
  start_sim "$1" --guilds "$2" --shards $SHARDS --max-concurrency 16 --identify-window-ms $WINDOW_MS \
    --heartbeat-ms 41250 --outage-ms 1000 --events-per-sec "$3" --deflate "$DEFLATE"
}

# "guilds events_sent violations identifies resumes" of the simulator (all -1 if it does not answer).
sim_stats() {
  python3 - "$SIM_PORT" <<'EOF'
import json, sys, urllib.request
try:
    s = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_sim/stats", timeout=5))
    print(s["guilds"], s["events_sent"]["total"], s["violations_total"], s["identifies"]["total"], s["resumes"])
except Exception:
    print(-1, -1, -1, -1, -1)
EOF
}

# "ready stopped guilds unavailable events reconnects" of the cluster's shards (zeros and
# events -1 when the query fails).
HUB_PORT=0
shard_status() {
  (cd "$work" && env -i PATH="$PATH" ENABLE_SHARD_MANAGER=true SHARD_IPC_SECRET=$SECRET SHARD_IPC_PORT="$HUB_PORT" \
     timeout 10 "$SHARDLINE" query shard_status --target bench --json --timeout-ms 3000 2>>"$work/drivers.log") |
    python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["results"]["bench"]
    print(sum(s["status"] == "ready" for s in r), sum(s["status"] == "stopped" for s in r),
          sum(s["guilds"] for s in r), sum(s["unavailable_guilds"] for s in r), sum(s["events"] for s in r),
          sum(s["reconnects"] for s in r))
except Exception:
    print(0, 0, 0, 0, -1, 0)'
}

cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v t="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / t }'; }
mem_kib() { awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { print r, h }' "/proc/$1/status"; }
now() { date +%s.%N; }
# over T0 SECONDS: true once more than SECONDS have passed since T0.
over() { awk -v a="$(now)" -v b="$1" -v m="$2" 'BEGIN { exit !(a - b > m) }'; }
calc() { awk "BEGIN { printf \"%.3f\", ($1) }"; }

# shardline_client LABEL GUILDS RATE MEASURE(0/1): one `shardline run` with 16 shards against the
# running simulator; appends its JSON line (or an error row) to $results.
shardline_client() {
  local label=$1 guilds=$2 rate=$3 measure=$4
  local tag=${label//[^a-z0-9_]/_} err='' slack=$((rate / 1000)) lag_max=$((rate / 10 > 100 ? rate / 10 : 100))
  local ready=0 stopped=0 held=0 unavail=0 events=0 reconnects=0 world=0 sent=0 viol=0 idents=0 resumes=0
  local t_start ready_s='' caught_s='' rss_ready='' hwm_ready='' row
  echo "$BENCH_TAG: $label" >&2
  rm -f "$work/$tag.hub"
  (cd "$work" && exec env -i PATH="$PATH" ENABLE_SHARD_MANAGER=true SHARD_IPC_SECRET=$SECRET SHARD_IPC_MODE=server \
     SHARD_IPC_PORT=0 SHARD_CLUSTER_NAME=bench DISCORD_TOKEN=sim-token \
     DISCORD_API_URL="http://127.0.0.1:$SIM_PORT/api/v10" DISCORD_IDENTIFY_WINDOW_MS=$WINDOW_MS \
     SHARD_COUNT=$SHARDS DISCORD_INTENTS=$INTENTS DISCORD_GATEWAY_COMPRESS=$SL_COMPRESS SHARD_DATA_DIR="$work/$tag.data" \
     "$SHARDLINE" run --port-file "$work/$tag.hub" >"$work/$tag.cluster.log" 2>&1) &
  CL_PID=$!
  t_start=$(now)
  for _ in $(seq 100); do [ -s "$work/$tag.hub" ] && break; sleep 0.1; done
  if [ -s "$work/$tag.hub" ]; then HUB_PORT=$(cat "$work/$tag.hub"); else err="the cluster's hub did not start"; fi

  # Every shard ready and every guild arrived (none unavailable, the sum within `slack` of the
  # world: the stream's joins and leaves of about a second), bounded by STARTUP_S.
  if [ -z "$err" ]; then
    err="not every shard ready with every guild within ${STARTUP_S}s"
    for _ in $(seq $((STARTUP_S * 5))); do
      read -r ready stopped held unavail events reconnects < <(shard_status)
      read -r world sent viol idents resumes < <(sim_stats)
      if [ "$stopped" != 0 ]; then err="$stopped shard(s) stopped"; break; fi
      if [ "$ready" = $SHARDS ] && [ "$unavail" = 0 ] && [ $((held > world ? held - world : world - held)) -le $slack ]; then
        err='' ready_s=$(calc "$(now) - $t_start")
        read -r rss_ready hwm_ready < <(mem_kib "$CL_PID")
        break
      fi
      ! over "$t_start" $STARTUP_S || break
      sleep 0.2
    done
  fi
  # Caught up with the stream: dispatches handled within lag_max of those the simulator wrote.
  if [ -z "$err" ]; then
    err="not caught up with the stream within ${STARTUP_S}s"
    for _ in $(seq $((STARTUP_S * 5))); do
      # What the simulator had written before the question, less what the cluster had handled
      # when it answered (the query itself takes 50-250 ms).
      read -r world sent viol idents resumes < <(sim_stats)
      read -r ready stopped held unavail events reconnects < <(shard_status)
      if [ "$events" -ge 0 ] && [ "$sent" -ge 0 ] && [ $((sent - events)) -le $lag_max ]; then err='' caught_s=$(calc "$(now) - $t_start"); break; fi
      ! over "$t_start" $STARTUP_S || break
      sleep 0.2
    done
  fi

  if [ -n "$err" ]; then
    row="{\"client\":\"shardline\",\"error\":\"$err\",\"ready\":$ready,\"stopped\":$stopped,\"guilds\":$held,\"unavailable\":$unavail,\"world_guilds\":$world"
  else
    row="{\"client\":\"shardline\",\"shards\":$SHARDS,\"guilds\":$held,\"world_guilds\":$world,\"rate\":$rate,\"ready_s\":$ready_s,\"caught_up_s\":$caught_s,\"rss_ready_kib\":$rss_ready,\"hwm_ready_kib\":$hwm_ready"
    if [ "$measure" = 1 ]; then
      local e0 e1 t0 t1 ta c0 c1 s0 s1 r0 r1 rss hwm wall
      sleep "$WARMUP"
      # Each count is taken at the middle of its query; the CPU figures right after it.
      ta=$(now)
      read -r _ _ _ _ e0 r0 < <(shard_status)
      c0=$(cpu_s "$CL_PID") s0=$(cpu_s "$SIM_PID") t0=$(calc "($ta + $(now)) / 2")
      sleep "$DURATION"
      read -r world sent viol idents resumes < <(sim_stats)
      ta=$(now)
      read -r _ _ _ _ e1 r1 < <(shard_status)
      c1=$(cpu_s "$CL_PID") s1=$(cpu_s "$SIM_PID") t1=$(calc "($ta + $(now)) / 2")
      read -r rss hwm < <(mem_kib "$CL_PID")
      wall=$(calc "$t1 - $t0")
      if [ "$e0" -lt 0 ] || [ "$e1" -lt 0 ]; then
        row="$row,\"error\":\"shard_status failed during the measurement\""
      else
        row="$row,\"wall_s\":$wall,\"events\":$((e1 - e0)),\"events_per_sec\":$(calc "($e1 - $e0) / $wall"),\"cpu_s\":$(calc "$c1 - $c0")"
        row="$row,\"cpu_cores\":$(calc "($c1 - $c0) / $wall"),\"events_per_core\":$(calc "($c1 - $c0) > 0 ? ($e1 - $e0) / ($c1 - $c0) : 0")"
        row="$row,\"sim_cpu_cores\":$(calc "($s1 - $s0) / $wall"),\"rss_stream_kib\":$rss,\"hwm_kib\":$hwm"
        row="$row,\"closes_during\":$((r1 - r0)),\"lag_end\":$((sent - e1))"
      fi
    fi
    read -r world sent viol idents resumes < <(sim_stats)
    row="$row,\"sim_identifies\":$idents,\"sim_resumes\":$resumes,\"sim_violations\":$viol,\"closes\":$reconnects"
  fi
  # Stop it (SIGTERM; SIGKILL after 5 s) and say how long it took.
  local t_stop stop_s
  t_stop=$(now)
  stop_pid "$CL_PID"
  CL_PID=0
  stop_s=$(calc "$(now) - $t_stop")
  # Warnings and errors in its log, less the start-up race with its own hub ("waiting for an
  # IDENTIFY slot from the hub (not linked to the hub)").
  local warns errs
  warns=$(grep -c ' warning ' "$work/$tag.cluster.log" | tr -d '\n' || true)
  errs=$(grep -cE ' (error|critical) ' "$work/$tag.cluster.log" | tr -d '\n' || true)
  local other_warns
  other_warns=$(grep ' warning ' "$work/$tag.cluster.log" | grep -vc 'waiting for an IDENTIFY slot from the hub' | tr -d '\n' || true)
  if [ "${other_warns:-0}" != 0 ] || [ "${errs:-0}" != 0 ]; then
    { echo "$BENCH_TAG: $label: cluster log warnings/errors:"; grep -E ' (warning|error|critical) ' "$work/$tag.cluster.log" |
        grep -v 'waiting for an IDENTIFY slot from the hub' | head -n 5; } >&2
  fi
  row="$row,\"stop_s\":$stop_s,\"log_warnings\":${warns:-0},\"log_other_warnings\":${other_warns:-0},\"log_errors\":${errs:-0}"
  row="$row,\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"label\":\"$label\",\"exit\":$([ -z "$err" ] && echo 0 || echo 1)}"
  echo "$row" >>"$results"
  if [ -n "$err" ]; then
    echo "$BENCH_TAG: $label failed: $err; last cluster log lines:" >&2
    tail -n 5 "$work/$tag.cluster.log" >&2
    return 1
  fi
}

# discordjs_client LABEL GUILDS RATE MEASURE(0/1): ws_ingest.js against the running simulator.
discordjs_client() {
  local label=$1 guilds=$2 rate=$3 measure=$4 duration=0
  [ "$measure" = 0 ] || duration=$DURATION
  record_driver "$label" node "$DJS_DIR/ws_ingest.js" --port "$SIM_PORT" --rate "$rate" --shards $SHARDS \
    --intents $INTENTS --compress $DJS_COMPRESS --warmup "$WARMUP" --duration "$duration" --slack $((rate / 1000)) \
    --sim-pid "$SIM_PID" --clk-tck "$CLK_TCK" --startup $STARTUP_S --deadline $((STARTUP_S + WARMUP + DURATION + 30))
  # The load at the end of the run, as for Shardline's rows.
  sed -i '$ s/,"label":/,"load1":'"$(cut -d' ' -f1 /proc/loadavg)"',"label":/' "$results"
  [ "$DRIVER_RC" = 0 ]
}

# djsclient_client LABEL GUILDS RATE MEASURE: a discord.js Client with its default caches
# (peers/djs_memory.js), memory only.
djsclient_client() {
  local label=$1
  record_driver "$label" env SIM_PORT="$SIM_PORT" DISCORD_TOKEN=sim-token SHARDS=$SHARDS INTENTS=$INTENTS \
    DEADLINE_S=$STARTUP_S node "$DJS_DIR/djs_memory.js"
  # The same keys as the other clients' memory rows.
  sed -i '$ s/"rss_kib":/"rss_ready_kib":/; $ s/"hwm_kib":/"hwm_ready_kib":/; $ s/,"label":/,"client":"djsclient","load1":'"$(cut -d' ' -f1 /proc/loadavg)"',"label":/' "$results"
  [ "$DRIVER_RC" = 0 ]
}

# scenario NAME GUILDS RATE MEASURE [DJS_RUNS DJS_MAY_FAIL]: RUNS runs of every client, taking
# turns (@discordjs/ws only in the first DJS_RUNS of them; with DJS_MAY_FAIL=1 its failures are
# recorded but do not fail the benchmark).
scenario() {
  local name=$1 guilds=$2 rate=$3 measure=$4 djs_runs=${5:-$RUNS} djs_may_fail=${6:-0} run client clients=$CLIENTS
  [ "$rate" != 0 ] || clients=$MEMORY_CLIENTS
  for run in $(seq "$RUNS"); do
    for client in $clients; do
      [ "$client" != discordjs ] || [ "$run" -le "$djs_runs" ] || continue
      start_gateway_sim "$name-$client-$run" "$guilds" "$rate"
      if ! "${client}_client" "${name}_${client}_$run" "$guilds" "$rate" "$measure"; then
        [ "$client" = discordjs ] && [ "$djs_may_fail" = 1 ] || failed=1
      fi
      stop_sim
    done
  done
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
[ "$RATE" = 0 ] || scenario stream "$STREAM_GUILDS" "$RATE" 1
[ "$HIGH_RATE" = 0 ] || scenario high "$STREAM_GUILDS" "$HIGH_RATE" 1 "$HIGH_DJS_RUNS" 1
for g in $MEMORY_GUILDS; do
  # One scenario name per count ("memory" for the first, as before; then "memory39000"...).
  [ "$g" = 0 ] || scenario "$([ "$g" = "${MEMORY_GUILDS%% *}" ] && echo memory || echo "memory$g")" "$g" 0 0
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -q . && echo true || echo false)
{
  echo "{\"started\":\"$started\",\"load_before\":\"$load_before\",\"load_after\":\"$load_after\",\"commit\":\"$commit\",\"uncommitted_changes\":$dirty,\"shardline_binary\":\"$binary\",\"runs\":$RUNS,\"rate\":$RATE,\"high_rate\":$HIGH_RATE,\"stream_guilds\":$STREAM_GUILDS,\"memory_guilds\":[${MEMORY_GUILDS// /,}],\"shards\":$SHARDS,\"intents\":$INTENTS,\"zlib_stream\":$SL_COMPRESS,\"deflate\":\"$DEFLATE\",\"duration_s\":$DURATION,\"warmup_s\":$WARMUP,\"node\":\"$(node --version)\"}"
  cat "$results"
} >"$OUT"
cat "$OUT"

# Summary: median, min and max per figure and client; Shardline / @discordjs/ws run by run.
python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][1:]
figures = {
    "stream": ["events_per_sec", "cpu_cores", "events_per_core", "sim_cpu_cores", "rss_ready_kib", "rss_stream_kib", "hwm_kib"],
    "high": ["events_per_sec", "cpu_cores", "events_per_core", "sim_cpu_cores", "rss_ready_kib", "rss_stream_kib", "hwm_kib"],
    "memory": ["rss_ready_kib", "hwm_ready_kib", "ready_s"],
}
for r in rows:
    scen = r["label"].rsplit("_", 2)[0]
    if scen.startswith("memory") and scen != "memory":
        figures[scen] = figures["memory"]
def fmt(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3f}"
for scen, figs in figures.items():
    by = {}
    for r in rows:
        s, client, run = r["label"].rsplit("_", 2)
        if s == scen:
            by.setdefault(client, {})[int(run)] = r
    if not by:
        continue
    print(f"\n{scen}:")
    for client, runs in by.items():
        bad = [f"run {n}: {r.get('error', 'exit ' + str(r.get('exit')))}" for n, r in sorted(runs.items()) if "error" in r or r.get("exit")]
        # Sustained: no shard closed during the window, at least 97% of the stream received, and
        # at its end no more than a tenth of a second of the stream behind.
        meas = [r for r in runs.values() if "events_per_sec" in r]
        if meas:
            ok = sum(r.get("closes_during", 0) == 0 and r["events_per_sec"] >= 0.97 * r["rate"] and
                     r.get("lag_end", 0) <= max(100, r["rate"] / 10) for r in meas)
            print(f"  {client:10} sustained the stream in {ok} of {len(runs)} run(s)")
        for f in figs:
            vals = [r[f] for r in runs.values() if f in r and "error" not in r]
            if vals:
                print(f"  {client:10} {f:16} median {fmt(statistics.median(vals)):>12}  min {fmt(min(vals)):>12}  max {fmt(max(vals)):>12}  (n={len(vals)})")
        for b in bad:
            print(f"  {client:10} FAILED {b}")
    sl, dj = by.get("shardline", {}), by.get("discordjs", {})
    for f in ("events_per_core", "events_per_sec", "rss_ready_kib", "hwm_ready_kib"):
        pairs = [(n, sl[n].get(f), dj[n].get(f)) for n in sorted(sl) if n in dj]
        pairs = [(n, a, b) for n, a, b in pairs if a and b]
        if pairs:
            print(f"  shardline/discordjs {f}: " + ", ".join(f"run {n} {a / b:.2f}" for n, a, b in pairs))
EOF
echo "bench-gateway: results in $OUT" >&2
exit $failed
