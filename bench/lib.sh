# Helpers shared by the bench/*.sh scripts (sourced, not run). The caller sets
# $work (scratch folder, drivers.log goes there), $results (JSON lines) and $BENCH_TAG (the
# prefix of its messages).

# Stops one process we started: TERM, up to 5 s, then KILL.
stop_pid() {
  local p=$1
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

# record_driver LABEL CMD...: runs one load driver (bounded by `timeout`) and appends its last
# stdout line, one JSON object, to $results with the label and exit code; a failing or silent
# driver is recorded as an error row. Sets DRIVER_RC and DRIVER_LINE (empty on failure).
record_driver() {
  local label=$1
  shift
  DRIVER_RC=0
  echo "$BENCH_TAG: $label" >&2
  DRIVER_LINE=$(timeout 600 "$@" 2>>"$work/drivers.log" | tail -n 1) || DRIVER_RC=$?
  if [ -n "$DRIVER_LINE" ] && [ "${DRIVER_LINE:0:1}" = "{" ]; then
    echo "${DRIVER_LINE%\}},\"label\":\"$label\",\"exit\":$DRIVER_RC}" >>"$results"
  else
    echo "{\"label\":\"$label\",\"error\":\"driver failed (exit $DRIVER_RC)\",\"exit\":$DRIVER_RC}" >>"$results"
  fi
  if [ "$DRIVER_RC" != 0 ]; then
    DRIVER_LINE=
    echo "$BENCH_TAG: $label failed (exit $DRIVER_RC); last driver messages:" >&2
    tail -n 3 "$work/drivers.log" >&2
  fi
}

# start_sim TAG FLAGS...: starts `$SHARDLINE sim` on a free loopback port with FLAGS (its log in
# $work/TAG.sim.log); sets SIM_PID and SIM_PORT, or stops the benchmark if it does not start.
SIM_PID=0
SIM_PORT=0
start_sim() {
  local tag=$1
  shift
  rm -f "$work/$tag.port"
  (cd "$work" && exec "$SHARDLINE" sim --port 0 --port-file "$work/$tag.port" "$@" >"$work/$tag.sim.log" 2>&1) &
  SIM_PID=$!
  for _ in $(seq 300); do [ -s "$work/$tag.port" ] && break; sleep 0.1; done
  [ -s "$work/$tag.port" ] || { echo "$BENCH_TAG: the simulator did not start:" >&2; cat "$work/$tag.sim.log" >&2; exit 1; }
  SIM_PORT=$(cat "$work/$tag.port")
}

stop_sim() {
  [ "$SIM_PID" != 0 ] || return 0
  stop_pid "$SIM_PID"
  SIM_PID=0
}

# The EXIT trap of a benchmark running one cluster ($CL_PID, 0 when none) against the
# simulator: stops both, then removes $work unless BENCH_KEEP_LOGS=1.
cleanup_cluster_and_sim() {
  [ "${CL_PID:-0}" = 0 ] || stop_pid "$CL_PID"
  CL_PID=0
  stop_sim
  if [ "${BENCH_KEEP_LOGS:-0}" = "1" ]; then echo "$BENCH_TAG: logs kept in $work" >&2; else rm -rf "$work"; fi
}

# start_launch TAG: `$SHARDLINE launch` hosting its hub on a free loopback port, against the
# running simulator, with the caller's SHARD_* settings exported beforehand (SHARD_COUNT,
# SHARD_CLUSTERS, ...); its log in $work/TAG.launch.log. Sets LAUNCH_PID and exports
# SHARD_IPC_PORT and the rest the admin tools need, or stops the benchmark if it does not start.
LAUNCH_PID=0
start_launch() {
  local tag=$1
  export ENABLE_SHARD_MANAGER=true SHARD_IPC_HOST=127.0.0.1 SHARD_IPC_PORT=0
  export SHARD_IPC_SECRET="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export DISCORD_TOKEN=sim-token DISCORD_API_URL="http://127.0.0.1:$SIM_PORT/api/v10" SHARD_DATA_DIR="$work/$tag.data"
  rm -f "$work/$tag.port"
  (cd "$work" && exec "$SHARDLINE" launch --port-file "$work/$tag.port" >"$work/$tag.launch.log" 2>&1) &
  LAUNCH_PID=$!
  for _ in $(seq 100); do [ -s "$work/$tag.port" ] && break; sleep 0.05; done
  [ -s "$work/$tag.port" ] || { echo "$BENCH_TAG: shardline launch did not start:" >&2; cat "$work/$tag.launch.log" >&2; exit 1; }
  SHARD_IPC_PORT=$(cat "$work/$tag.port")
}

# wait_shards_ready N BOUND_S: true once `shardline query shard_status` shows N shards, every one
# ready with no unavailable guild; false after BOUND_S seconds. Polls every quarter second.
wait_shards_ready() {
  local n=$1 bound=$2 t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$bound" ]; do
    if "$SHARDLINE" query shard_status --json --timeout-ms 2000 2>/dev/null | python3 -c "import json,sys
r = json.load(sys.stdin)['results'].values()
s = [x for v in r if isinstance(v, list) for x in v]
sys.exit(0 if len(s) == $n and all(x['status'] == 'ready' and x['unavailable_guilds'] == 0 for x in s) else 1)"; then
      return 0
    fi
    sleep 0.25
  done
  return 1
}

# sim_get PATH: the simulator's JSON answer to GET PATH (its control API).
sim_get() { python3 -c "import sys,urllib.request; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$SIM_PORT' + sys.argv[1], timeout=10).read().decode())" "$1"; }

# row_of TOOL RUN FN: runs FN RUN (a scenario's run of one tool); a run that wrote no row of its
# own to $results gets an error row, so a failure is never silent.
row_of() {
  local tool=$1 run=$2 before
  before=$(wc -l <"$results")
  "$3" "$run" || true
  if [ "$(wc -l <"$results")" = "$before" ]; then
    echo "{\"tool\":\"$tool\",\"run\":$run,\"error\":\"the run failed before it wrote a result (see its logs)\"}" >>"$results"
  fi
}

# scenario_workspace TAG: the set-up of a scenario script (bench/compare/query.sh, recovery.sh):
# a scratch folder $work with an empty $results, $BENCH_TAG, and an exit trap that stops every
# process in $pids and the simulator, then removes $work (kept with BENCH_KEEP_LOGS=1).
scenario_workspace() {
  BENCH_TAG=$1
  work=$(mktemp -d -t "shardline-$1.XXXXXX")
  results=$work/results.jsonl
  : >"$results"
  pids=()
  trap scenario_cleanup EXIT
  trap 'exit 130' INT TERM
}
scenario_cleanup() {
  local p
  for p in "${pids[@]}"; do stop_pid "$p"; done
  stop_sim
  if [ "${BENCH_KEEP_LOGS:-0}" = "1" ]; then echo "$BENCH_TAG: logs kept in $work" >&2; else rm -rf "$work"; fi
}
