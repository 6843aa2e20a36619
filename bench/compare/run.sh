#!/usr/bin/env bash
# `make compare`: Shardline side by side with the tools bot operators use today, measured in one
# run on this machine, on the same simulator, and written up as docs/benchmarks.md with PNG
# charts in docs/benchmarks/ (bench/compare/report.py).
#
# Installs the peers (Debian: nats-server, redis-server, and python3-matplotlib for the charts;
# npm: discord.js, discord-hybrid-sharding, @discordjs/ws, pinned by peers/package-lock.json),
# builds the binaries it needs (not the tests), then runs every scenario, COMPARE_RUNS times for
# Shardline and for each peer, taking turns run by run:
#
#   cold start     64 shards, max_concurrency 16, the real 5 s window    bench/cold_start.sh
#   memory         16 shards at 3,900 and 39,000 guilds                   bench/gateway_run.sh
#   IPC            routed throughput, round trip, fan-out, idle memory    bench/run.sh
#                  against nats-server and redis-server
#   simulator      zlib-stream rate and 64-shard scale (no peer)          bench/sim_run.sh
#   ingest         events per core against @discordjs/ws                  bench/gateway_run.sh
#   proxy          the bot endpoint: events per core, added latency        bench/proxy_endpoint_run.sh
#   proxycache     the endpoint's guild cache against discord.js's cache   bench/proxy_cache_run.sh
#                  against the same bot straight on the simulator
#   rest           Discord REST calls through the hub's coordinator at     bench/rest_coordinator_run.sh
#                  half the limits, against direct calls (no peer)
#   query          guild count over 16 clusters against broadcastEval    bench/compare/query.sh
#   recovery       kill -9 of a cluster; rolling restart                  bench/compare/recovery.sh
#
# The peer's cold start with its default spawn delay takes about six minutes of waiting, so it
# runs in the background during the cold-start and memory scenarios, whose figures are set by
# IDENTIFY windows and resident memory rather than by CPU time; every CPU-bound scenario runs
# after it, alone.
#
# Environment (all optional):
#   COMPARE_RUNS (3)         runs of each tool per scenario
#   COMPARE_SCENARIOS        a subset, e.g. "query recovery" (all: "coldstart memory ipc sim
#                            ingest proxy proxycache rest query recovery"); the report keeps what
#                            the others left in COMPARE_RESULTS
#   COMPARE_RESULTS          raw results folder (build/compare)
#   COMPARE_SKIP_SETUP=1     no package installation and no build (they must be done)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
RUNS=${COMPARE_RUNS:-3}
SCENARIOS=${COMPARE_SCENARIOS:-coldstart memory ipc sim ingest proxy proxycache rest query recovery}
RES=${COMPARE_RESULTS:-$ROOT/build/compare}
T0=$SECONDS
COMPARE_STARTED=$(date -u "+%Y-%m-%d %H:%M UTC")
export COMPARE_STARTED

say() { echo "compare [$(date -u +%H:%M:%S), $((SECONDS - T0)) s]: $*" >&2; }
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

if [ "${COMPARE_SKIP_SETUP:-0}" != 1 ]; then
  say "installing packages"
  bash scripts/install-deps.sh redis-server python3-matplotlib
  node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$node_major" -lt 20 ]; then
    echo "make compare: needs node 20 or newer (@discordjs/ws 2 requires it); this machine has $(node --version 2>/dev/null || echo none)" >&2
    exit 2
  fi
  (cd bench/compare/peers && npm ci --no-audit --no-fund --loglevel=error)
  say "building shardline and the load drivers"
  cmake --preset release >/dev/null
  cmake --build --preset release --target shardline shardline_ipc_bench sim_bench nats_bench redis_bench proxy_cache_bench \
    rest_bench
fi
mkdir -p "$RES"
setup_s=$((SECONDS - T0))
# Results of an earlier run must not pass for this run's: drop those of the scenarios run now.
for s in $SCENARIOS; do
  case $s in
  coldstart) rm -f "$RES/coldstart.jsonl" "$RES/coldstart-defaults.jsonl" ;;
  ipc | sim | ingest | memory | proxy | proxycache | rest) rm -f "$RES/$s.json" ;;
  *) rm -f "$RES/$s.jsonl" ;;
  esac
done

# The machine and the versions, for the report.
python3 - "$RES/meta.json" "$RUNS" "$setup_s" <<'PY'
import json, os, platform, subprocess, sys
def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip() or None
    except Exception:
        return None
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
lock = json.load(open("bench/compare/peers/package-lock.json"))["packages"]
meta = {
    "started": os.environ["COMPARE_STARTED"], "commit": out("git", "rev-parse", "--short", "HEAD"),
    "uncommitted_changes": bool(out("git", "status", "--porcelain", "--untracked-files=no")),
    "runs": int(sys.argv[2]), "setup_s": int(sys.argv[3]),
    "cpu": cpu, "nproc": os.cpu_count(), "mem_gib": round(mem / 1048576), "kernel": platform.release(),
    "os": next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release") if l.startswith("PRETTY_NAME")), "?"),
    "gxx": (out("g++", "--version") or "?").splitlines()[0], "node": out("node", "--version"),
    "nats_server": out("nats-server", "--version"), "redis_server": (out("redis-server", "--version") or "?").split(" sha=")[0],
    "peers": {k.split("node_modules/")[-1]: v["version"] for k, v in lock.items()
              if k in ("node_modules/discord.js", "node_modules/discord-hybrid-sharding", "node_modules/@discordjs/ws")},
    "load_after_setup": open("/proc/loadavg").read().split()[:3],
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
PY

failed=()
# step NAME CMD...: runs one scenario script, keeps its log, records its wall time; a failing
# scenario is reported and the others still run.
step() {
  local name=$1 t=$SECONDS rc=0
  shift
  say "$name"
  "$@" >"$RES/$name.log" 2>&1 || rc=$?
  echo "{\"step\":\"$name\",\"seconds\":$((SECONDS - t)),\"exit\":$rc}" >>"$RES/steps.jsonl"
  if [ "$rc" != 0 ]; then failed+=("$name"); say "$name failed (exit $rc); the end of its log:"; tail -n 15 "$RES/$name.log" >&2; fi
}
: >"$RES/steps.jsonl"

defaults_pid=0
# An interrupted run stops the background cold start too (its own EXIT trap stops its processes).
trap '[ "$defaults_pid" = 0 ] || kill -TERM "$defaults_pid" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
if want coldstart; then
  (exec env RUNS=0 PEER_RUNS=0 PEER_DEFAULT_RUNS=1 BENCH_RESULTS="$RES/coldstart-defaults.jsonl" \
     bash bench/cold_start.sh >"$RES/coldstart-defaults.log" 2>&1) &
  defaults_pid=$!
  say "coldstart-defaults started in the background (about 6 minutes)"
  step coldstart env RUNS="$RUNS" PEER_RUNS="$RUNS" PEER_DEFAULT_RUNS=0 BENCH_RESULTS="$RES/coldstart.jsonl" \
    bash bench/cold_start.sh
fi
if want memory; then
  step memory env GATEWAY_RUNS="$RUNS" GATEWAY_RATE=0 GATEWAY_HIGH_RATE=0 GATEWAY_MEMORY_GUILDS="3900 39000" \
    GATEWAY_MEMORY_CLIENTS="shardline discordjs djsclient" BENCH_RESULTS="$RES/memory.json" bash bench/gateway_run.sh
fi
if [ "$defaults_pid" != 0 ]; then
  say "waiting for coldstart-defaults"
  rc=0
  wait "$defaults_pid" || rc=$?
  defaults_pid=0
  echo "{\"step\":\"coldstart-defaults\",\"exit\":$rc}" >>"$RES/steps.jsonl"
  [ "$rc" = 0 ] || failed+=(coldstart-defaults)
fi
want ipc && step ipc env BENCH_RUNS="$RUNS" BENCH_RESULTS="$RES/ipc.json" bash bench/run.sh
want sim && step sim env SIM_RUNS="$RUNS" SIM_MODES=isal SIM_ISAL_RATES="100000 120000 140000" \
  BENCH_RESULTS="$RES/sim.json" bash bench/sim_run.sh
want ingest && step ingest env GATEWAY_RUNS="$RUNS" GATEWAY_HIGH_RATE=0 GATEWAY_MEMORY_GUILDS=0 \
  BENCH_RESULTS="$RES/ingest.json" bash bench/gateway_run.sh
want proxy && step proxy env PROXY_RUNS="$RUNS" BENCH_RESULTS="$RES/proxy.json" bash bench/proxy_endpoint_run.sh
want proxycache && step proxycache env PROXY_CACHE_RUNS="$RUNS" BENCH_RESULTS="$RES/proxycache.json" bash bench/proxy_cache_run.sh
want rest && step rest env REST_RUNS="$RUNS" BENCH_RESULTS="$RES/rest.json" bash bench/rest_coordinator_run.sh
want query && step query env QUERY_RUNS="$RUNS" BENCH_RESULTS="$RES/query.jsonl" bash bench/compare/query.sh
want recovery && step recovery env RECOVERY_RUNS="$RUNS" BENCH_RESULTS="$RES/recovery.jsonl" bash bench/compare/recovery.sh

python3 - "$RES/meta.json" "$((SECONDS - T0))" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["total_s"] = int(sys.argv[2])
m["load_after"] = open("/proc/loadavg").read().split()[:3]
json.dump(m, open(sys.argv[1], "w"), indent=1)
PY
say "writing docs/benchmarks.md and docs/benchmarks/*.png"
/usr/bin/python3 bench/compare/report.py "$RES" docs/benchmarks.md docs/benchmarks || failed+=(report)
say "done in $((SECONDS - T0)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "make compare: these scenarios failed (their logs are in $RES): ${failed[*]}" >&2
  exit 1
fi
