'use strict';
// What the discord-hybrid-sharding and discord.js peers of `make compare` share: environment,
// output (JSON lines on stdout, logs on stderr), the simulator's control API, one way to start
// and stop the clusters, and the bounds every script runs within (deadline, signals, stdin EOF).
const path = require('node:path');

const started = Date.now();
const script = path.basename(require.main ? require.main.filename : process.argv[1] || 'node');

const log = msg => process.stderr.write(`${script} ${((Date.now() - started) / 1000).toFixed(2)}s: ${msg}\n`);
const emit = obj => process.stdout.write(`${JSON.stringify(obj)}\n`);
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

// A number from the environment; unset or empty gives the default.
function envNumber(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, not "${raw}"`);
  return n;
}

const simPort = () => {
  const port = envNumber('SIM_PORT', 0);
  if (!port) throw new Error('SIM_PORT (the port of `shardline sim`) is required');
  return port;
};
const token = () => process.env.DISCORD_TOKEN || 'sim-token';

// GET on the simulator (JSON), bounded.
async function simGet(route) {
  const res = await fetch(`http://127.0.0.1:${simPort()}${route}`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${route} answered ${res.status}`);
  return res.json();
}

// ---- ending ---------------------------------------------------------------------------------

const cleanups = [];
let finishing = null;

// `fn` (async) runs when the script finishes, however it finishes but for a crash.
const atFinish = fn => cleanups.push(fn);

// Runs every registered clean-up once (bounded), then exits with `code`; later calls only wait.
function finish(code) {
  finishing ??= Promise.race([Promise.allSettled(cleanups.map(fn => Promise.resolve().then(fn))), sleep(5000)])
    .then(() => process.exit(code));
  return finishing;
}

// Whatever happens, the process ends by DEADLINE_S: an {"error": "deadline", ...} line, exit 3.
function deadline(seconds, detail = () => ({})) {
  setTimeout(() => {
    log(`deadline of ${seconds}s passed`);
    emit({ error: 'deadline', ...detail() });
    finish(3);
  }, seconds * 1000);
}

function stopOnSignals(code) {
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { log(`${sig}: stopping`); finish(code); });
}

// For a script that runs until told: its caller holds stdin open and closes it to stop it.
function stopOnStdinEof(code) {
  process.stdin.on('end', () => { log('stdin closed: stopping'); finish(code); });
  process.stdin.resume();
}

// ---- the clusters ---------------------------------------------------------------------------

const exited = child => child.exitCode !== null || child.signalCode !== null;

// A ClusterManager on hybrid_cluster.js, mode 'process', spawned with `spawn({timeout: -1,
// delay})` as the library's README does: it starts the next cluster without waiting for the
// previous one to be ready. `delay` (SPAWN_DELAY_MS; the library's default, 7000, when unset) is
// per shard: after starting a cluster of N shards the manager's queue waits delay x N before the
// next (ClusterManager.spawn: `timeout: delay * length` per queue item; Queue.start: `await
// next(); await delayFor(timeout)`), and once more after the last, before spawn() resolves. It is
// the library's only pacing across processes; inside one, discord.js paces IDENTIFYs per bucket.
// Each cluster is reported to `on.ready(cluster)` whenever it becomes ready (again, after a
// respawn) and to `on.exit(cluster, child)` when its process dies. Every child is stopped when
// the script finishes, and SIGKILLed on any exit that skipped that.
function startClusters({ totalShards, shardsPerCluster, on = {} }) {
  const { ClusterManager } = require('discord-hybrid-sharding'); // here: djs_memory.js does without
  const delay = process.env.SPAWN_DELAY_MS ? envNumber('SPAWN_DELAY_MS') : undefined;
  const manager = new ClusterManager(`${__dirname}/hybrid_cluster.js`, {
    totalShards,
    shardsPerClusters: shardsPerCluster,
    mode: 'process',
    token: token(),
  });
  const children = new Set();
  manager.on('clusterCreate', cluster => {
    cluster.on('spawn', child => children.add(child));
    cluster.on('ready', () => on.ready?.(cluster));
    cluster.on('death', (_, child) => on.exit?.(cluster, child));
  });
  manager.on('error', error => log(`manager error: ${error && error.message}`));

  atFinish(async () => {
    manager.respawn = false; // a cluster that dies now (e.g. of the same SIGINT) stays dead
    manager.queue.stop(); // no further cluster from a spawn still under way
    const alive = [...children].filter(child => !exited(child));
    // kill(): SIGTERM, and the library drops its exit listener, so it does not respawn them.
    for (const cluster of manager.clusters.values()) cluster.kill({ reason: 'peer script done' });
    await Promise.race([
      Promise.all(alive.map(child => exited(child) || new Promise(resolve => child.once('exit', resolve)))),
      sleep(3000),
    ]);
  });
  process.on('exit', () => {
    for (const child of children) if (!exited(child)) child.kill('SIGKILL');
  });

  manager.spawn({ timeout: -1, delay }).catch(error => {
    log(`spawn failed: ${error && error.stack}`);
    emit({ error: `spawn failed: ${error && error.message}` });
    finish(1);
  });
  return manager;
}

// Resolves, with the time since the script started (ms), once every one of `count` clusters has
// been ready at least once; `readyAt` gets each cluster's first ready time as it comes.
function allReady(manager, count, readyAt = {}) {
  return new Promise(resolve => {
    manager.on('clusterReady', cluster => {
      if (cluster.id in readyAt) return;
      readyAt[cluster.id] = Date.now() - started;
      log(`cluster ${cluster.id} ready after ${readyAt[cluster.id]} ms`);
      if (Object.keys(readyAt).length === count) resolve(Math.max(...Object.values(readyAt)));
    });
  });
}

// ---- the query loop -------------------------------------------------------------------------

// warmup + count sequential calls of `query` (a broadcastEval answering one number per cluster):
// the latencies of the last `count` in microseconds, and the summed answer of the last one.
async function timeQueries(query, count, warmup) {
  const samples = [];
  let last = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = process.hrtime.bigint();
    last = await query();
    const us = Number(process.hrtime.bigint() - t0) / 1e3;
    if (i >= warmup) samples.push(us);
  }
  return { samples_us: samples, guilds: last.reduce((sum, n) => sum + n, 0) };
}

// {count, p50_us, p99_us, mean_us, min_us, max_us, guilds}; percentiles by nearest rank.
function summarize({ samples_us: samples, guilds }) {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = p => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
  const round = x => Math.round(x * 10) / 10;
  return {
    count: sorted.length,
    p50_us: round(rank(50)),
    p99_us: round(rank(99)),
    mean_us: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    min_us: round(sorted[0]),
    max_us: round(sorted[sorted.length - 1]),
    guilds,
  };
}

module.exports = {
  log, emit, sleep, envNumber, simPort, token, simGet,
  atFinish, finish, deadline, stopOnSignals, stopOnStdinEof,
  startClusters, allReady, timeQueries, summarize,
};
