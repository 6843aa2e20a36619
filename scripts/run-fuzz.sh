#!/usr/bin/env bash
# `make fuzz FUZZ_SECONDS=N` (after the fuzz build): runs the libFuzzer target
# build-fuzz/bin/frame_envelope_fuzz for N seconds (default 60) and prints a summary.
# Exit status: 0 when the run ends cleanly, non-zero on any finding (crash, broken invariant,
# sanitizer report, leak, timeout, out of memory) or if the fuzzer cannot run.
#
# Needs no terminal and no stdin; fine as root and under CI=true. Environment:
#   FUZZ_FRESH=1     start from the seeds only (empties the working corpus first)
#   FUZZ_MAX_LEN=n   largest input libFuzzer generates (default 65536, see below)
#   FUZZ_BIN=path    another fuzzer binary
#   FUZZ_ARGS="..."  extra libFuzzer flags, e.g. "-seed=1"
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 SECONDS   (a positive whole number of seconds)" >&2
  exit 2
fi
bin=${FUZZ_BIN:-build-fuzz/bin/frame_envelope_fuzz}
if [ ! -x "$bin" ]; then
  echo "run-fuzz: $bin not found; build it first: make fuzz (or cmake --preset fuzz && cmake --build --preset fuzz)" >&2
  exit 2
fi

seeds=fuzz/corpus     # checked in, read only: libFuzzer writes new inputs to the first dir only
work=fuzz/corpus-work # scratch, gitignored: grows across runs unless FUZZ_FRESH=1
stamp=$(date -u +%Y%m%dT%H%M%SZ)
artifacts=build-fuzz/fuzz-artifacts/$stamp
logdir=build-fuzz/fuzz-logs
log=$logdir/$stamp.log
if [ "${FUZZ_FRESH:-0}" = 1 ]; then rm -rf "$work"; fi
mkdir -p "$work" "$artifacts" "$logdir"

# -max_len: the contract allows frames of up to 1,000,004 bytes on the wire, but libFuzzer's
# time per input grows with its length (the target feeds each input five times, once byte by
# byte, and parses every body twice), mutating megabyte inputs is slow, and large inputs add
# nothing: what depends on the length is the 4-byte prefix, which the fuzzer sets freely (a
# prefix of 1,000,000 with a short body already makes the decoder grow its buffer to the
# maximum), and the target also uses small frame limits so `too_large` is reached with short
# inputs. 65,536 is the hub's pre-authentication limit, so whole auth-sized frames still fit.
max_len=${FUZZ_MAX_LEN:-65536}

# Sanitizers: stop at the first report, with a stack trace.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:symbolize=1}

dict=()
if [ -f fuzz/ipc.dict ]; then dict=(-dict=fuzz/ipc.dict); fi
# shellcheck disable=SC2206
extra=(${FUZZ_ARGS:-})

echo "run-fuzz: $bin for ${secs}s, -max_len=$max_len, corpus $work (+ seeds $seeds: $(find "$seeds" -type f | wc -l) files), log $log"
fuzz_pid=
cleanup() { if [ -n "$fuzz_pid" ]; then kill "$fuzz_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "${extra[@]}" \
  "$work" "$seeds" </dev/null >"$log" 2>&1 &
fuzz_pid=$!

# A progress line every 30 s, so a long run is not silent.
start=$(date +%s)
last=$start
while kill -0 "$fuzz_pid" 2>/dev/null; do
  sleep 1
  now=$(date +%s)
  if [ $((now - last)) -ge 30 ]; then
    last=$now
    line=$(grep -a -E '^#[0-9]+' "$log" | tail -n 1 || true)
    echo "  [$((now - start))s] ${line:-starting}"
  fi
done
rc=0
wait "$fuzz_pid" || rc=$?
fuzz_pid=
elapsed=$(($(date +%s) - start))

stat() { local v; v=$(grep -a -E "^stat::$1:" "$log" | tail -n 1 | awk '{print $2}'); echo "${v:--}"; }
status=$(grep -a -E '^#[0-9]+' "$log" | tail -n 1 || true)
field() { local v; v=$(sed -n -E "s/.* $1: ([^ ]+).*/\1/p" <<<"$status"); echo "${v:--}"; }
findings=$(find "$artifacts" -type f | wc -l)

echo "run-fuzz summary ($elapsed s wall, fuzzer exit $rc)"
echo "  executions      $(stat number_of_executed_units)"
echo "  exec/s          $(stat average_exec_per_sec)"
echo "  coverage        cov: $(field cov) edges, ft: $(field ft) features"
echo "  corpus          $(field corp) (entries/bytes); $(find "$work" -type f | wc -l) files in $work"
echo "  new units       $(stat new_units_added)"
echo "  peak RSS        $(stat peak_rss_mb) MB"
if [ "$findings" -eq 0 ]; then echo "  findings        0"; else echo "  findings        $findings (inputs in $artifacts)"; fi

if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
  echo
  echo "run-fuzz: FAILED. The report (full log: $log):"
  # From the first sanitizer / libFuzzer / invariant report to the end, at most 120 lines.
  first=$(grep -a -n -m 1 -E 'INVARIANT FAILED|==[0-9]+==ERROR|runtime error|ERROR: libFuzzer|ALARM: working on the last Unit|out-of-memory|LeakSanitizer' "$log" | cut -d: -f1 || true)
  if [ -n "$first" ]; then tail -n +"$first" "$log" | head -n 120; else tail -n 60 "$log"; fi
  for f in "$artifacts"/*; do
    [ -f "$f" ] || continue
    echo
    echo "input $f ($(wc -c <"$f") bytes; first 512 shown):"
    head -c 512 "$f" | od -A d -t x1z -v
    echo "reproduce: $bin $f"
  done
  exit 1
fi
rmdir "$artifacts" 2>/dev/null || true
echo "run-fuzz: OK, no findings"
