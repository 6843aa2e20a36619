'use strict';
// The peer under a crash: TOTAL_SHARDS shards in clusters of SHARDS_PER_CLUSTER under a
// ClusterManager with the library's default respawn behaviour. Prints JSON lines:
//   {"event": "all_ready", "ms", "clusters": {"0": pid, ...}}  once every cluster is ready (ms
//                                                              since the script started);
//   {"event": "cluster_exit", "id", "pid", "t_ms"}            when a cluster's process dies;
//   {"event": "cluster_ready", "id", "pid", "t_ms"}           when a cluster is ready again;
// t_ms is Date.now() (epoch ms, as `date +%s%3N`). Runs until SIGTERM, SIGINT or EOF on stdin
// (keep stdin open: a background job of a script gets /dev/null and would stop at once), then
// stops every cluster and exits 0; exit 3 with an {"error": "deadline"} line after DEADLINE_S.
//
//   SIM_PORT=P [DISCORD_TOKEN=sim-token] [TOTAL_SHARDS=16] [SHARDS_PER_CLUSTER=4]
//   [SPAWN_DELAY_MS=7000] [INTENTS=1] [DEADLINE_S=600] node hybrid_recovery.js
//
// The default respawn (ClusterManager respawn: true, restarts {max: 3, interval: 1 h}): on the
// process's 'exit' Cluster._handleExit emits 'death' and calls this.spawn() at once, with no
// delay (respawnDelay and the 5500 ms `delay` belong to cluster.respawn() and respawnAll(),
// which an exit does not use), and without waiting for the process's shards to be free: the new
// process's discord.js has no session to RESUME, so each of its shards IDENTIFYs afresh, paced
// only against its own process: killed within 5 s of its IDENTIFYs (max_concurrency 16, 5 s
// window), a cluster's new IDENTIFYs were refused and it was ready again 6.9 s after the kill
// instead of 1-2 s. A cluster that dies a fourth time within the hour after it was last ready is
// not respawned.
const { log, emit, envNumber, deadline, stopOnSignals, stopOnStdinEof, startClusters, allReady } = require('./common');

const total = envNumber('TOTAL_SHARDS', 16);
const perCluster = envNumber('SHARDS_PER_CLUSTER', 4);
const clusters = Math.ceil(total / perCluster);

const readyAt = {};
stopOnSignals(0);
stopOnStdinEof(0);
deadline(envNumber('DEADLINE_S', 600), () => ({ ready: readyAt }));

const beenReady = new Set();
const pidOf = cluster => cluster.thread?.process?.pid;
log(`${clusters} clusters of ${perCluster} shards`);
const manager = startClusters({
  totalShards: total,
  shardsPerCluster: perCluster,
  on: {
    ready: cluster => {
      if (beenReady.has(cluster.id)) emit({ event: 'cluster_ready', id: cluster.id, pid: pidOf(cluster), t_ms: Date.now() });
      beenReady.add(cluster.id);
    },
    exit: (cluster, child) => {
      log(`cluster ${cluster.id} (pid ${child?.pid}) died: code ${child?.exitCode}, signal ${child?.signalCode}`);
      emit({ event: 'cluster_exit', id: cluster.id, pid: child?.pid, t_ms: Date.now() });
    },
  },
});
allReady(manager, clusters, readyAt).then(ms => {
  const pids = Object.fromEntries([...manager.clusters.values()].map(cluster => [cluster.id, pidOf(cluster)]));
  emit({ event: 'all_ready', ms, clusters: pids });
});
