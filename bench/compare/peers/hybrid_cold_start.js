'use strict';
// The peer's cold start: discord-hybrid-sharding's ClusterManager with its defaults (spawn
// delay, queue), 64 shards in clusters of SHARDS_PER_CLUSTER. Prints one JSON line when every
// cluster's client is ready ({"all_ready_ms", "clusters"}), then stops its clusters and exits.
// Bounded by DEADLINE_S.
const { ClusterManager } = require('discord-hybrid-sharding');

const started = Date.now();
const total = Number(process.env.TOTAL_SHARDS || 64);
const perCluster = Number(process.env.SHARDS_PER_CLUSTER || 16);
const clusters = Math.ceil(total / perCluster);
const manager = new ClusterManager(`${__dirname}/hybrid_cluster.js`, {
  totalShards: total,
  shardsPerClusters: perCluster,
  mode: 'process',
  token: process.env.DISCORD_TOKEN,
});
const readyAt = {};
manager.on('clusterCreate', cluster => {
  cluster.on('ready', () => {
    readyAt[cluster.id] = Date.now() - started;
    process.stderr.write(`cluster ${cluster.id} ready after ${readyAt[cluster.id]} ms\n`);
    if (Object.keys(readyAt).length === clusters) {
      process.stdout.write(`${JSON.stringify({ all_ready_ms: Math.max(...Object.values(readyAt)), clusters: readyAt })}\n`);
      for (const c of manager.clusters.values()) c.kill({ force: true });
      setTimeout(() => process.exit(0), 200);
    }
  });
});
manager.spawn({ timeout: -1 }).catch(e => {
  process.stderr.write(`spawn failed: ${e}\n`);
  process.exit(1);
});
setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ error: 'deadline', ready: readyAt })}\n`);
  for (const c of manager.clusters.values()) c.kill({ force: true });
  setTimeout(() => process.exit(1), 200);
}, Number(process.env.DEADLINE_S || 900) * 1000);
