'use strict';
// The peer's cold start: discord-hybrid-sharding's ClusterManager with its defaults (queue,
// spawn delay unless SPAWN_DELAY_MS), TOTAL_SHARDS shards in clusters of SHARDS_PER_CLUSTER.
// Prints one JSON line when every cluster's client is ready ({"all_ready_ms", "clusters": {id:
// ms}}, since the script started), then stops its clusters and exits 0. Exit 3 with an
// {"error": "deadline"} line after DEADLINE_S; SIGTERM/SIGINT stop the clusters too.
//
//   SIM_PORT=P [DISCORD_TOKEN=sim-token] [TOTAL_SHARDS=64] [SHARDS_PER_CLUSTER=16]
//   [SPAWN_DELAY_MS=7000] [INTENTS=1] [DEADLINE_S=900] node hybrid_cold_start.js
//
// SPAWN_DELAY_MS is spawn()'s `delay`, which is per shard: the manager waits delay x (shards of
// the cluster it just started) before starting the next (details in common.js). The smallest
// delay for 4 clusters x 16 shards at max_concurrency 16 follows from how discord.js paces: only
// inside its process, per bucket (shard id % max_concurrency), 5 s apart, the first IDENTIFY of
// each bucket at once. A cluster of 16 consecutive shards holds one shard of each bucket, so it
// sends its 16 IDENTIFYs together as soon as it is up (node start, GET /gateway/bot, HELLO), and
// the next cluster's 16 hit the same 16 buckets: they must come at least 5 s later, 16 x delay >=
// 5000 ms, so 313 ms at the least. That holds only if every process takes as long to come up;
// one that comes up faster than the one before it overruns the window by the difference. On the
// 2-core machine against the real 5 s window, 313 ms failed 1 start of 2 and 320 ms 2 of 5 (32
// and 48 refused IDENTIFYs; a later cluster came up as much as 0.82 s faster, while the machine
// was compiling), and 330, 340, 360 and 370 ms none in 2-3 starts each. Covering a 0.82 s spread
// takes (5000 + 820) / 16 = 364 ms, so 370 ms (all ready in 19-20 s); on a quiet machine 330 ms
// was enough (16.7 s).
const { log, emit, envNumber, finish, deadline, stopOnSignals, startClusters, allReady } = require('./common');

const total = envNumber('TOTAL_SHARDS', 64);
const perCluster = envNumber('SHARDS_PER_CLUSTER', 16);
const clusters = Math.ceil(total / perCluster);

stopOnSignals(1);
const readyAt = {};
deadline(envNumber('DEADLINE_S', 900), () => ({ ready: readyAt }));
log(`${clusters} clusters of ${perCluster} shards`);
const manager = startClusters({ totalShards: total, shardsPerCluster: perCluster });
allReady(manager, clusters, readyAt).then(ms => {
  emit({ all_ready_ms: ms, clusters: readyAt });
  finish(0);
});
