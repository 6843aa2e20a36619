#!/usr/bin/env bash
# Memory of the bot endpoint's guild cache (issue 14's target: at most 1/4 of discord.js's own
# cache for the same world) against discord.js 14 (pinned in bench/compare/peers).
#
# The same payloads for both: the simulator's READY and GUILD_CREATE for PROXY_CACHE_GUILDS
# guilds over 16 shards (sim::World, seed 1, every guild available; bench/proxy_cache_bench.cpp).
#   shardline: 16 GuildCaches (one per shard, default options: guild, channels, threads, roles,
#              emojis, stickers, the bot's own member) fed in-process; memory_bytes() (the
#              cache's own count) and VmRSS growth after malloc_trim.
#   discord.js: one Client with its default caches, fed the same payloads through its gateway
#              packet handler without a connection (bench/proxy_cache_discordjs.js); V8 heap-used
#              growth and RSS growth after full collections.
# The two take turns, PROXY_CACHE_RUNS times each; the table shows each figure's median.
#
# Builds nothing (make the proxy_cache_bench target first:
#   cmake --build build --target proxy_cache_bench).
#
# Environment (all optional):
#   SHARDLINE_BUILD_DIR   build tree holding bin/proxy_cache_bench (build)
#   PROXY_CACHE_GUILDS    (39000: 16 x ~2,500; at 40,000 some shards of the simulator's world
#                         would hold more than 2,500, see bench/gateway_run.sh)
#   PROXY_CACHE_RUNS      (3)
#   BENCH_RESULTS         JSON lines of every run ($SHARDLINE_BUILD_DIR/bench-proxy-cache-results.json)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${SHARDLINE_BUILD_DIR:-build}
BIN=$BUILD/bin/proxy_cache_bench
[ -x "$BIN" ] || { echo "bench-proxy-cache: $BIN is missing (cmake --build $BUILD --target proxy_cache_bench)" >&2; exit 2; }
command -v node >/dev/null || { echo "bench-proxy-cache: needs node (>= 20)" >&2; exit 2; }
GUILDS=${PROXY_CACHE_GUILDS:-39000}
RUNS=${PROXY_CACHE_RUNS:-3}
OUT=${BENCH_RESULTS:-$BUILD/bench-proxy-cache-results.json}
DJS_DIR=$(pwd)/bench/compare/peers

if [ ! -d "$DJS_DIR/node_modules/discord.js" ]; then
  echo "bench-proxy-cache: installing discord.js into bench/compare/peers (npm ci)" >&2
  (cd "$DJS_DIR" && timeout 300 npm ci --no-audit --no-fund >&2)
fi

work=$(mktemp -d -t shardline-bench-proxy-cache.XXXXXX)
trap 'rm -rf "$work"' EXIT
: >"$OUT"

echo "bench-proxy-cache: payloads of $GUILDS guilds over 16 shards" >&2
timeout 300 "$BIN" dump "$work/payloads.txt" --guilds "$GUILDS" --shards 16 >/dev/null
for run in $(seq "$RUNS"); do
  echo "bench-proxy-cache: run $run of $RUNS: shardline" >&2
  line=$(timeout 300 "$BIN" measure --guilds "$GUILDS" --shards 16)
  echo "{\"client\":\"shardline\",${line#\{}" >>"$OUT"
  echo "bench-proxy-cache: run $run of $RUNS: discord.js" >&2
  line=$(timeout 600 node --expose-gc --max-old-space-size=8192 bench/proxy_cache_discordjs.js "$work/payloads.txt")
  echo "{\"client\":\"discordjs\",${line#\{}" >>"$OUT"
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sl = [r for r in rows if r["client"] == "shardline"]
dj = [r for r in rows if r["client"] == "discordjs"]
med = lambda rs, k: statistics.median(r[k] for r in rs)
guilds = sl[0]["guilds"]
assert all(r["guilds"] == guilds for r in rows), "both sides must hold every guild"
mib = lambda kib: f"{kib / 1024:8.1f} MiB"
per = lambda kib: f"{kib * 1024 / guilds:7.0f} B"
sl_mem, sl_rss = med(sl, "memory_bytes_kib"), med(sl, "rss_growth_kib")
dj_heap, dj_rss = med(dj, "heap_used_growth_kib"), med(dj, "rss_growth_kib")
print(f"guild cache, {guilds} guilds over {sl[0]['shards']} shards (simulator world), median of {len(sl)} runs")
print(f"{'':34} {'total':>12} {'per guild':>10}")
print(f"{'shardline GuildCache memory_bytes':34} {mib(sl_mem)} {per(sl_mem)}")
print(f"{'shardline GuildCache RSS growth':34} {mib(sl_rss)} {per(sl_rss)}")
print(f"{'discord.js ' + dj[0]['discordjs'] + ' heap used growth':34} {mib(dj_heap)} {per(dj_heap)}")
print(f"{'discord.js ' + dj[0]['discordjs'] + ' RSS growth':34} {mib(dj_rss)} {per(dj_rss)}")
print(f"shardline / discord.js: {sl_rss / dj_rss:.3f} (RSS), {sl_mem / dj_heap:.3f} (memory_bytes vs heap used); target <= 0.25")
print(f"shardline apply {med(sl, 'apply_us_per_guild'):.1f} us per GUILD_CREATE, render {med(sl, 'render_us_per_guild'):.1f} us, "
      f"serialized {sl[0]['serialized_kib'] / 1024:.1f} MiB for all shards")
PY
