'use strict';
// The peer's cluster-wide query: TOTAL_SHARDS shards in CLUSTERS discord.js clusters under a
// ClusterManager (mode 'process'). Once every cluster is ready it times COUNT sequential
// broadcastEval(c => c.guilds.cache.size) after WARMUP unmeasured ones, twice:
//   from_cluster: asked of cluster 0 (hybrid_cluster.js), which calls client.cluster.broadcastEval
//                 as a bot's /stats command does: cluster 0 -> manager -> every cluster -> back;
//   from_manager: manager.broadcastEval, from the manager's own process.
// Prints one line {"all_ready_ms", "clusters", "from_cluster": {"count", "p50_us", "p99_us",
// "mean_us", "min_us", "max_us", "guilds"}, "from_manager": {...}} (guilds: the last answer
// summed over the clusters), then stops every cluster and exits 0. Exit 3 with an {"error":
// "deadline"} line after DEADLINE_S, 1 with {"error"} on a failure.
//
//   SIM_PORT=P [DISCORD_TOKEN=sim-token] [TOTAL_SHARDS=64] [CLUSTERS=16] [SPAWN_DELAY_MS=7000]
//   [COUNT=2000] [WARMUP=100] [INTENTS=1] [DEADLINE_S=300] node hybrid_query.js
//
// SPAWN_DELAY_MS (per shard, so clusters start 4 x delay apart): clusters of 4 consecutive shards
// at max_concurrency 16 never wait for a bucket inside their process; what limits the start is
// REST. Each cluster's discord.js sends one GET /gateway/bot and the simulator's route limit
// (default 5 per 5 s window) refuses a sixth, so any 6 consecutive clusters must span more than 5 s: 4 x delay > 1000 ms, delay >
// 250 ms, plus the spread of process start-up times. Measured with --identify-window-ms 100:
// 100 ms gave 14 429s and 13 refused IDENTIFYs (the retries bunch clusters k and k + 4, which
// share buckets), 260 ms 4 429s, 280 ms none in 1 start, 300 ms none in 4 (all ready in 18-19 s).
const {
  log, emit, envNumber, finish, deadline, stopOnSignals, startClusters, allReady, timeQueries, summarize,
} = require('./common');

const total = envNumber('TOTAL_SHARDS', 64);
const perCluster = Math.ceil(total / envNumber('CLUSTERS', 16));
const clusters = Math.ceil(total / perCluster);
const count = envNumber('COUNT', 2000);
const warmup = envNumber('WARMUP', 100);

let phase = 'starting';
const readyAt = {};
stopOnSignals(1);
deadline(envNumber('DEADLINE_S', 300), () => ({ phase, ready: readyAt }));

async function main() {
  log(`${clusters} clusters of ${perCluster} shards; ${count} queries after ${warmup}`);
  const manager = startClusters({ totalShards: total, shardsPerCluster: perCluster });
  const allReadyMs = await allReady(manager, clusters, readyAt);

  phase = 'from_cluster';
  // The library's request/reply: a CUSTOM_REQUEST the cluster answers with IPCMessage.reply.
  const fromCluster = await manager.clusters.get(0).request({ op: 'query_loop', count, warmup });
  if (fromCluster.error) throw new Error(`cluster 0: ${fromCluster.error}`);
  log(`from cluster 0: ${count} queries, ${fromCluster.guilds} guilds`);

  phase = 'from_manager';
  const fromManager = await timeQueries(() => manager.broadcastEval(c => c.guilds.cache.size), count, warmup);
  log(`from the manager: ${count} queries, ${fromManager.guilds} guilds`);

  emit({
    all_ready_ms: allReadyMs,
    clusters: manager.clusters.size,
    from_cluster: summarize(fromCluster),
    from_manager: summarize(fromManager),
  });
}

main().then(() => finish(0), error => {
  log(`failed: ${error && error.stack}`);
  emit({ error: String(error && error.message) });
  finish(1);
});
