#!/usr/bin/env bash
# `make bench-rest`: Discord REST calls through the bot endpoints of two `shardline run`
# clusters, the bot's REST limits coordinated by the hub (issue 15), against the same calls
# straight to the simulator. Builds nothing (make bench-rest builds first): it copies
# $SHARDLINE_BUILD_DIR/bin/shardline and bin/rest_bench as they are.
#
# The load is bench/rest_bench.cpp: open loop (request k leaves at k / REST_RATE seconds
# whatever the answers do, and its latency runs from that scheduled time to the end of its
# answer), keep-alive connections, REST_THREADS threads, a mix of message creates and reactions
# in REST_KEYS channels and member edits and bans (a ban, then its lifting) in REST_KEYS guilds.
# Each route's keys are taken in turn, so every bucket (route group and channel or guild) gets
# its share of the rate evenly spaced.
#
# One simulator for the whole run, its limits raised so that the offered load is HALF of every
# limit the mix touches: the global limit is 2 x REST_RATE, and each group's bucket allows twice
# what the mix sends to one of its channels or guilds per REST_WINDOW_MS (computed and printed
# at the start). At half the limits, nothing should have to wait: what the coordinated path adds
# is its own cost, not queueing.
#
# Modes, in turn each run, measured alike at the same offered rate (the simulator's REST state
# and counters reset before each: POST /_sim/rest/reset):
#   direct       the load straight at the simulator's /api/v10.
#   local        through the endpoints of two clusters started with SHARD_REST_COORDINATION=local:
#                each endpoint and a limiter of its own process, no hub round trip.
#   coordinated  through the endpoints of two clusters with the default SHARD_REST_COORDINATION=hub:
#                every call waits for the hub's grant (rest_acquire / rest_grant) and reports its
#                answer (rest_report).
# The clusters: one hosting the hub (SHARD_IPC_MODE=server) and one client-mode cluster, each with
# one shard of 2 and its bot endpoint (SHARD_PROXY_PORT=auto), both with
# SHARD_REST_GLOBAL_PER_SEC equal to the simulator's; fresh ones for each mode. The load's
# connections are spread over both endpoints.
#
# Figures per mode (median, min-max over the runs): requests/s completed, latency p50/p99/p99.9,
# added p50/p99 against direct (run by run), the simulator's 429s by scope (must be 0 for
# coordinated at half the limits: the run fails otherwise), the clusters' CPU over the load and
# per call, and the gates' own counts (requests, waited over 1 ms, answered locally; the hub's
# grants, which must cover every call in coordinated mode and none in local mode).
#
# Environment (all optional):
#   SHARDLINE_BUILD_DIR   build tree holding bin/shardline and bin/rest_bench (build)
#   BENCH_RESULTS         where the JSON goes ($SHARDLINE_BUILD_DIR/bench-rest-results.json)
#   REST_RUNS             runs of every mode (1)
#   REST_RATE             offered requests/s (1000); the simulator's global limit is twice this
#   REST_KEYS             channels and guilds the mix is spread over (100)
#   REST_MIX              weights of the routes (message=4,reaction=2,member=2,ban=2)
#   REST_WINDOW_MS        the window of every bucket the mix touches (1000)
#   REST_THREADS          the load client's threads (2)
#   REST_MODES            ("direct local coordinated"), taken in that order each run
#   BENCH_DURATION / BENCH_WARMUP   seconds measured / not counted before them (5 / 2)
#   BENCH_KEEP_LOGS=1     keep the simulator, cluster and driver logs and each load's latency by
#                         100 ms of its timetable (MODE_RUN.timeline); their directory is printed
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${SHARDLINE_BUILD_DIR:-build}
[ -x "$BUILD/bin/shardline" ] && [ -x "$BUILD/bin/rest_bench" ] ||
  { echo "bench-rest: $BUILD/bin/shardline or $BUILD/bin/rest_bench is missing (run 'make bench-rest')" >&2; exit 2; }
BUILD_ABS=$(cd "$BUILD" && pwd)
OUT=${BENCH_RESULTS:-$BUILD_ABS/bench-rest-results.json}
RUNS=${REST_RUNS:-1}
RATE=${REST_RATE:-1000}
KEYS=${REST_KEYS:-100}
MIX=${REST_MIX:-message=4,reaction=2,member=2,ban=2}
WINDOW_MS=${REST_WINDOW_MS:-1000}
THREADS=${REST_THREADS:-2}
MODES=${REST_MODES:-direct local coordinated}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-2}
GLOBAL=$((2 * RATE))
SIM_GUILDS=$((KEYS > 1000 ? KEYS : 1000))
SECRET="rest-bench-secret-0123456789abcdef"
STARTUP_S=30 # bound on the clusters' start-up: both endpoints up, every shard ready, both linked
CLK_TCK=$(getconf CLK_TCK)

work=$(mktemp -d -t shardline-bench-rest.XXXXXX)
results=$work/results.jsonl
: >"$results"
CL_PIDS=()
failed=0

BENCH_TAG=bench-rest
# shellcheck source=bench/lib.sh
source bench/lib.sh
# The client-mode cluster first: it would otherwise log the hub's departure.
stop_clusters() {
  local i
  for ((i = ${#CL_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${CL_PIDS[$i]}"; done
  CL_PIDS=()
}
cleanup() {
  stop_clusters
  CL_PID=0 cleanup_cluster_and_sim
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Copies, so that a rebuild during the run cannot mix two builds in one result.
SHARDLINE=$work/shardline
REST_BENCH=$work/rest_bench
cp "$BUILD_ABS/bin/shardline" "$SHARDLINE"
cp "$BUILD_ABS/bin/rest_bench" "$REST_BENCH"
binary="built $(date -u -r "$BUILD_ABS/bin/shardline" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$SHARDLINE" | cut -c1-12)"

now() { date +%s.%N; }
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v t="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / t }'; }

# The limits: half of each is what the mix offers. Prints them, and the --rest-bucket flags
# (SIM_BUCKETS) and the table for the results' meta line (LIMITS_JSON).
read -r SIM_BUCKETS LIMITS_JSON < <(python3 - "$RATE" "$KEYS" "$MIX" "$WINDOW_MS" "$GLOBAL" <<'EOF'
import json, sys
rate, keys, mix, window_ms, glob = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
group = {"message": "messages", "reaction": "reactions", "member": "member", "ban": "bans"}
major = {"message": "channel", "reaction": "channel", "member": "guild", "ban": "guild"}
weights = {k: int(v) for k, v in (i.split("=") for i in mix.split(","))}
total = sum(weights.values())
flags, table = [], []
print(f"bench-rest: {rate:,.0f} requests/s offered over {keys} channels and {keys} guilds; the simulator's limits "
      f"at twice what the mix sends (half of every limit in use):", file=sys.stderr)
print(f"  global: {glob:,}/s, offered {rate:,.0f}/s ({rate / glob:.0%})", file=sys.stderr)
for route, w in weights.items():
    if w == 0:
        continue
    per_key = rate * w / total / keys                 # requests/s to one bucket
    per_window = per_key * window_ms / 1000
    limit = round(2 * per_window)
    if abs(limit - 2 * per_window) > 1e-9 or limit < 2:
        sys.exit(f"bench-rest: {route} sends {per_window:g} requests per {window_ms} ms window to each {major[route]}; "
                 "choose REST_RATE, REST_KEYS, REST_MIX and REST_WINDOW_MS so that twice that is a whole number of at least 2")
    flags.append(f"{group[route]}={limit}/{window_ms}")
    table.append({"route": route, "group": group[route], "major": major[route], "share": w / total,
                  "per_bucket_per_sec": per_key, "limit": limit, "window_ms": window_ms,
                  "offered_per_window": per_window})
    print(f"  {group[route]:9} {limit}/{window_ms} ms per {major[route]}: {w / total:.0%} of the mix, "
          f"{per_window:g} per window offered to each of {keys} ({per_window / limit:.0%})", file=sys.stderr)
print(",".join(flags), json.dumps(table, separators=(",", ":")))
EOF
)
[ -n "$SIM_BUCKETS" ] || exit 2
bucket_args=()
for b in ${SIM_BUCKETS//,/ }; do bucket_args+=(--rest-bucket "$b"); done

# The simulator's REST counters: "requests ok user global shared banned" (-1s if it does not answer).
sim_rest() {
  python3 - "$SIM_PORT" <<'EOF'
import json, sys, urllib.request
try:
    r = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_sim/stats", timeout=5))["rest"]
    l = r["rate_limited"]
    print(r["requests"], r["ok"], l["user"], l["global"], l["shared"], l["banned"])
except Exception:
    print(-1, -1, -1, -1, -1, -1)
EOF
}
sim_reset() {
  python3 -c "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(
    'http://127.0.0.1:$SIM_PORT/_sim/rest/reset', data=b'{}', method='POST'), timeout=5).read()"
}

# The clusters' REST gate counters, summed, and the hub coordinator's: "requests waited
# answered_locally hub_granted hub_waited" (-1s until both clusters have reported their stats).
HUB_PORT=0
gate_stats() {
  (cd "$work" && env -i PATH="$PATH" ENABLE_SHARD_MANAGER=true SHARD_IPC_SECRET=$SECRET SHARD_IPC_PORT="$HUB_PORT" \
     timeout 10 "$SHARDLINE" clusters --json --timeout-ms 3000 2>>"$work/drivers.log") |
    python3 -c '
import json, sys
try:
    hub = json.load(sys.stdin)["hub"]
    cl = [c["stats"]["rest"] for c in hub["clients"] if c["role"] == "cluster" and "rest" in c.get("stats", {})]
    if len(cl) != 2:
        raise ValueError
    print(*(sum(c[k] for c in cl) for k in ("requests", "waited", "answered_locally")), hub["rest"]["granted"],
          hub["rest"]["waited"])
except Exception:
    print(-1, -1, -1, -1, -1)'
}

# "up ready" of an endpoint: 1 1 once it answers and its shard is ready.
endpoint_ready() {
  python3 - "$1" <<'EOF'
import json, sys, urllib.request
try:
    s = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_shardline/status", timeout=2))
    sh = s["shards"]
    print(1, int(bool(sh) and all(x["status"] == "ready" and x["ready"] for x in sh)))
except Exception:
    print(0, 0)
EOF
}

# start_clusters TAG COORDINATION: the hub-hosting cluster (shard 0) and a client-mode one
# (shard 1), each with its endpoint; waits until both endpoints have their shard ready and both
# clusters report to the hub. Sets CL_PIDS, HUB_PORT, ENDPOINTS; on failure returns 1 with
# CLUSTER_ERR set.
ENDPOINTS=()
CLUSTER_ERR=''
start_clusters() {
  local tag=$1 coord=$2 t0=$SECONDS i name mode port ready all r rest
  ENDPOINTS=()
  CL_PIDS=()
  rm -f "$work/$tag".*.hub "$work/$tag".*.proxy
  for i in 0 1; do
    name=rest-$i
    if [ "$i" = 0 ]; then mode=server port=0; else mode=client port=$HUB_PORT; fi
    (cd "$work" && exec env -i PATH="$PATH" ENABLE_SHARD_MANAGER=true SHARD_IPC_SECRET=$SECRET SHARD_IPC_MODE=$mode \
       SHARD_IPC_PORT="$port" SHARD_CLUSTER_NAME=$name DISCORD_TOKEN=sim-token \
       DISCORD_API_URL="http://127.0.0.1:$SIM_PORT/api/v10" DISCORD_IDENTIFY_WINDOW_MS=100 \
       SHARD_COUNT=2 SHARD_IDS=$i DISCORD_INTENTS=1 SHARD_DATA_DIR="$work/$tag.$name.data" SHARD_COMMANDS=false \
       SHARD_IPC_STATS_INTERVAL_S=1 SHARD_PROXY_PORT=auto SHARD_REST_GLOBAL_PER_SEC=$GLOBAL \
       SHARD_REST_COORDINATION="$coord" \
       "$SHARDLINE" run --port-file "$work/$tag.$name.hub" --proxy-port-file "$work/$tag.$name.proxy" \
       >"$work/$tag.$name.cluster.log" 2>&1) &
    CL_PIDS+=($!)
    for _ in $(seq 100); do [ -s "$work/$tag.$name.proxy" ] && { [ "$i" = 1 ] || [ -s "$work/$tag.$name.hub" ]; } && break; sleep 0.1; done
    if [ ! -s "$work/$tag.$name.proxy" ]; then CLUSTER_ERR="$name's endpoint did not start"; return 1; fi
    if [ "$i" = 0 ]; then
      if [ ! -s "$work/$tag.$name.hub" ]; then CLUSTER_ERR="$name's hub did not start"; return 1; fi
      HUB_PORT=$(cat "$work/$tag.$name.hub")
    fi
    ENDPOINTS+=("$(cat "$work/$tag.$name.proxy")")
  done
  CLUSTER_ERR="the endpoints' shards were not ready within ${STARTUP_S}s"
  while [ $((SECONDS - t0)) -lt $STARTUP_S ]; do
    all=1
    for port in "${ENDPOINTS[@]}"; do
      read -r _ ready < <(endpoint_ready "$port")
      [ "$ready" = 1 ] || all=0
    done
    if [ "$all" = 1 ]; then
      read -r r rest < <(gate_stats)
      if [ "$r" != -1 ]; then CLUSTER_ERR=''; return 0; fi
      CLUSTER_ERR="the clusters did not both report to the hub within ${STARTUP_S}s"
    fi
    sleep 0.2
  done
  return 1
}

# measure LABEL RUN MODE TARGETS: one load at the simulator's or the endpoints' /api/v10, its
# row in $results with the simulator's counters (reset before), the clusters' CPU over the load
# and their gates' counts.
measure() {
  local label=$1 run=$2 mode=$3 targets=$4 line rc=0 t0 t1 cpu0=0 cpu1=0 p g0 g1
  sim_reset
  g0="-1 -1 -1 -1 -1"
  if [ ${#CL_PIDS[@]} -gt 0 ]; then
    g0=$(gate_stats)
    for p in "${CL_PIDS[@]}"; do cpu0=$(awk -v a="$cpu0" -v b="$(cpu_s "$p")" 'BEGIN { print a + b }'); done
  fi
  echo "$BENCH_TAG: $label ($mode)" >&2
  t0=$(now)
  line=$(timeout 120 "$REST_BENCH" --targets "$targets" --guilds-file "$work/guilds" --rate "$RATE" --keys "$KEYS" \
           --mix "$MIX" --duration "$DURATION" --warmup "$WARMUP" --threads "$THREADS" --timeline "$work/$label.timeline" \
           2>>"$work/drivers.log" | tail -n 1) || rc=$?
  t1=$(now)
  g1="-1 -1 -1 -1 -1"
  if [ ${#CL_PIDS[@]} -gt 0 ]; then
    for p in "${CL_PIDS[@]}"; do cpu1=$(awk -v a="$cpu1" -v b="$(cpu_s "$p")" 'BEGIN { print a + b }'); done
    sleep 1.2 # a stats interval: the gates' counts reach the hub
    g1=$(gate_stats)
  fi
  python3 - "$results" "$label" "$run" "$mode" "$rc" "$line" "$(sim_rest)" "$cpu0" "$cpu1" "$t0" "$t1" "$g0" "$g1" <<'EOF'
import json, sys
out, label, run, mode, rc, line, sim, cpu0, cpu1, t0, t1, g0, g1 = sys.argv[1:]
row = {}
if line.startswith("{"):
    row = json.loads(line)
else:
    row["error"] = f"driver failed (exit {rc})"
req, ok, user, glob, shared, banned = map(int, sim.split())
row.update(label=label, run=int(run), mode=mode, exit=int(rc), sim_requests=req, sim_ok=ok,
           sim_429_user=user, sim_429_global=glob, sim_429_shared=shared, sim_429_banned=banned,
           sim_429=user + glob + shared + banned if req >= 0 else -1)
if float(cpu1) > 0:
    row["clusters_cpu_cores"] = round((float(cpu1) - float(cpu0)) / (float(t1) - float(t0)), 3)
a, b = list(map(int, g0.split())), list(map(int, g1.split()))
if min(a + b) >= 0:
    row.update(gate_requests=b[0] - a[0], gate_waited=b[1] - a[1], gate_answered_locally=b[2] - a[2],
               hub_granted=b[3] - a[3], hub_waited=b[4] - a[4])
    if float(cpu1) > 0 and row["gate_requests"] > 0:
        # Both processes' CPU over the load, per call it forwarded (the shards' idle upkeep included).
        row["clusters_cpu_us_per_call"] = round((float(cpu1) - float(cpu0)) / row["gate_requests"] * 1e6, 1)
open(out, "a").write(json.dumps(row, separators=(",", ":")) + "\n")
print(f"bench-rest: {label}: " + (f"{row.get('completed_per_sec', 0):,.0f} req/s, p50 {row.get('p50_us', 0):,.0f} µs, "
      f"p99 {row.get('p99_us', 0):,.0f} µs, simulator 429s {row['sim_429']}" if "error" not in row else row["error"]),
      file=sys.stderr)
EOF
  if [ "$rc" != 0 ]; then
    echo "$BENCH_TAG: $label: the load client failed (exit $rc); last messages:" >&2
    tail -n 3 "$work/drivers.log" >&2
    return 1
  fi
}

run_mode() {
  local run=$1 mode=$2 label="${2}_$1" targets='' port
  case $mode in
  direct) measure "$label" "$run" direct "http://127.0.0.1:$SIM_PORT/api/v10" ;;
  local | coordinated)
    local coord=local
    [ "$mode" = coordinated ] && coord=hub
    if ! start_clusters "$label" "$coord"; then
      echo "{\"label\":\"$label\",\"run\":$run,\"mode\":\"$mode\",\"error\":\"$CLUSTER_ERR\"}" >>"$results"
      echo "$BENCH_TAG: $label: $CLUSTER_ERR" >&2
      stop_clusters
      return 1
    fi
    for port in "${ENDPOINTS[@]}"; do targets+="${targets:+,}http://127.0.0.1:$port/api/v10"; done
    local rc=0
    measure "$label" "$run" "$mode" "$targets" || rc=$?
    stop_clusters
    return $rc
    ;;
  *) echo "bench-rest: unknown mode '$mode' in REST_MODES" >&2; exit 2 ;;
  esac
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start_sim rest --guilds "$SIM_GUILDS" --max-concurrency 2 --identify-window-ms 100 \
  --rest-global-per-sec "$GLOBAL" "${bucket_args[@]}"
# The keys: guild ids of the simulator's world (the first five of each of 4,096 shards: every
# guild of a world this size).
sim_get "/_sim/world?shards=4096" | python3 -c '
import json, sys
w = json.load(sys.stdin)
print("\n".join(sorted({g for s in w["per_shard"].values() for g in s["guild_ids"]}, key=int)))' >"$work/guilds"
[ "$(wc -l <"$work/guilds")" -ge "$KEYS" ] || { echo "bench-rest: the simulator's world has fewer than $KEYS guilds" >&2; exit 1; }

for run in $(seq "$RUNS"); do
  for mode in $MODES; do
    run_mode "$run" "$mode" || failed=1
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false)
{
  echo "{\"started\":\"$started\",\"load_before\":\"$load_before\",\"load_after\":\"$load_after\",\"nproc\":$(nproc),\"commit\":\"$commit\",\"uncommitted_changes\":$dirty,\"shardline_binary\":\"$binary\",\"runs\":$RUNS,\"rate\":$RATE,\"global_per_sec\":$GLOBAL,\"keys\":$KEYS,\"mix\":\"$MIX\",\"window_ms\":$WINDOW_MS,\"threads\":$THREADS,\"modes\":\"$MODES\",\"duration_s\":$DURATION,\"warmup_s\":$WARMUP,\"limits\":$LIMITS_JSON}"
  cat "$results"
} >"$OUT"

# Summary: median (min-max) per figure; the added latency run by run against direct.
python3 - "$OUT" <<'EOF' || failed=1
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta, rows = lines[0], lines[1:]
ok = lambda r: "error" not in r and not r.get("exit")
by = {}
for r in rows:
    by.setdefault(r["mode"], {})[r["run"]] = r
def runs(mode, key):
    return {n: r[key] for n, r in by.get(mode, {}).items() if ok(r) and isinstance(r.get(key), (int, float))}
def show(name, vals, unit="", digits=0):
    if not vals:
        print(f"  {name:44} not measured")
        return
    v = list(vals.values())
    f = lambda x: f"{x:,.{digits}f}"
    print(f"  {name:44} median {f(statistics.median(v)):>9}{unit}  min {f(min(v))}  max {f(max(v))}  (n={len(v)}; "
          + ", ".join(f"run {n} {f(x)}" for n, x in sorted(vals.items())) + ")")
def diff(a, b):
    return {n: a[n] - b[n] for n in a if n in b}
print(f"\nREST at {meta['rate']:,} requests/s offered, half of every limit (global {meta['global_per_sec']:,}/s), "
      f"{meta['keys']} channels and guilds, mix {meta['mix']}, {meta['runs']} run(s) of {meta['duration_s']} s; "
      f"load {meta['load_before']} -> {meta['load_after']} on {meta['nproc']} cores")
for mode, rs in by.items():
    for n, r in sorted(rs.items()):
        if not ok(r):
            print(f"  FAILED {mode} run {n}: {r.get('error', 'exit ' + str(r.get('exit')))}")
direct = {p: runs("direct", f"{p}_us") for p in ("p50", "p99")}
bad = False
for mode in by:
    print(f" {mode}:")
    show("completed requests/s", runs(mode, "completed_per_sec"))
    show("latency p50 (µs)", runs(mode, "p50_us"))
    show("latency p99 (µs)", runs(mode, "p99_us"))
    show("latency p99.9 (µs)", runs(mode, "p999_us"))
    if mode != "direct":
        show("added p50 against direct (µs)", diff(runs(mode, "p50_us"), direct["p50"]))
        show("added p99 against direct (µs)", diff(runs(mode, "p99_us"), direct["p99"]))
        show("clusters' CPU over the load (cores)", runs(mode, "clusters_cpu_cores"), "", 3)
        show("clusters' CPU per call (µs)", runs(mode, "clusters_cpu_us_per_call"))
        show("gates: requests waited over 1 ms", runs(mode, "gate_waited"))
    show("client woke late, p99 (µs; a busy machine)", runs(mode, "timer_lag_p99_us"))
    show("send lag p99 (µs; that and connection waits)", runs(mode, "send_lag_p99_us"))
    show("answers not 2xx", {n: r["status_429"] + r["status_other"] for n, r in by[mode].items() if ok(r)})
    limited = {n: r.get("sim_429", -1) for n, r in by[mode].items() if "sim_429" in r}
    show("simulator 429s (user+global+shared+banned)", limited)
    if mode == "coordinated" and any(v != 0 for v in limited.values()):
        bad = True
        print("  COORDINATED PATH GOT 429s FROM THE SIMULATOR at half the limits")
    # The mode is what it says: every call of the load through the gates, and through the hub
    # exactly when coordinated.
    for n, r in sorted(by[mode].items()):
        if not ok(r) or mode == "direct" or "gate_requests" not in r:
            continue
        through_hub = r["hub_granted"] >= r["sent"] if mode == "coordinated" else r["hub_granted"] == 0
        if r["gate_requests"] < r["sent"] or not through_hub:
            bad = True
            print(f"  {mode} run {n}: the gates saw {r['gate_requests']} calls and the hub granted {r['hub_granted']}, "
                  f"for {r['sent']} sent: not the mode's path")
sys.exit(1 if bad else 0)
EOF
echo "bench-rest: results in $OUT" >&2
exit $failed
