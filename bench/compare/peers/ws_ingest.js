#!/usr/bin/env node
// The @discordjs/ws baseline of bench/gateway_run.sh (docs/benchmarks.md, "Gateway ingest and
// cluster memory"): one process, one WebSocketManager (its default SimpleShardingStrategy, every
// shard on the main thread, as one Shardline cluster runs them), zlib-stream inflated by node's own
// zlib (CompressionMethod.ZlibNative), a no-op dispatch handler that only counts.
//
//   node ws_ingest.js --port SIMPORT [--rate 0] [--shards 16] [--intents 2819] [--compress zlib|none]
//                  [--warmup 2] [--duration 10] [--slack 0] [--sim-pid PID] [--clk-tck 100]
//                  [--startup 60] [--deadline 120] [--token sim-token]
//
// It waits until every shard is ready and every guild has arrived: no guild listed in READY
// (or announced unavailable) is still waiting for its GUILD_CREATE, and the guilds held are
// within --slack of the simulator's world (GET /_sim/stats "guilds"; 0 without a stream, about a
// second of the stream's joins and leaves with one). Then it waits until it has caught up with
// the stream (--rate, the simulator's --events-per-sec): the dispatches it has handled are within
// a tenth of a second of the stream (at least 100) of those the simulator wrote
// (events_sent.total), so what piled up during start-up is not counted as throughput. Then,
// unless --duration is 0, it waits --warmup s and counts dispatches over --duration s, with its
// own CPU (process.cpuUsage: every thread, so the libuv pool's inflate work too), its RSS and,
// with --sim-pid, the simulator's CPU over the same interval. Prints one JSON line on stdout;
// diagnostics go to stderr. Exits 1 if it has not caught up within --startup s (or on any other
// failure), 3 if it is not done within --deadline s.
'use strict';

const fs = require('node:fs');
const { REST } = require('@discordjs/rest');
const { WebSocketManager, WebSocketShardEvents, CompressionMethod, version: wsVersion } = require('@discordjs/ws');

function parseArgs(argv) {
  const o = {
    port: 0, rate: 0, shards: 16, intents: 2819, compress: 'zlib', warmup: 2, duration: 10, slack: 0,
    simPid: 0, clkTck: 100, startup: 60, deadline: 120, token: 'sim-token',
  };
  const names = {
    '--port': 'port', '--rate': 'rate', '--shards': 'shards', '--intents': 'intents', '--compress': 'compress',
    '--warmup': 'warmup', '--duration': 'duration', '--slack': 'slack', '--sim-pid': 'simPid',
    '--clk-tck': 'clkTck', '--startup': 'startup', '--deadline': 'deadline', '--token': 'token',
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) throw new Error(`usage: unknown or incomplete option ${argv[i]}`);
    o[key] = typeof o[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
    if (typeof o[key] === 'number' && !Number.isFinite(o[key])) throw new Error(`usage: ${argv[i]} needs a number`);
  }
  if (!o.port) throw new Error('usage: --port SIMPORT is required');
  if (o.compress !== 'zlib' && o.compress !== 'none') throw new Error('usage: --compress zlib|none');
  return o;
}

const opts = parseArgs(process.argv);
const started = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
const log = (msg) => process.stderr.write(`ws_ingest.js ${elapsed().toFixed(2)}s: ${msg}\n`);

// The deadline: whatever happens, the process ends.
const deadline = setTimeout(() => {
  log(`deadline of ${opts.deadline}s passed (${state()})`);
  process.stdout.write(`${JSON.stringify({ client: 'discordjs', error: 'deadline', detail: state() })}\n`);
  process.exit(3);
}, opts.deadline * 1000);

// /proc readers (Linux): VmRSS/VmHWM in KiB, utime+stime in seconds.
function procStatus(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number((text.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm')) || [0, 0])[1]);
  return { rss_kib: field('VmRSS'), hwm_kib: field('VmHWM') };
}
function procCpu(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return (Number(fields[11]) + Number(fields[12])) / opts.clkTck; // utime (14), stime (15)
}

// What has arrived.
let events = 0;
let closes = 0;
let errors = 0;
const readyShards = new Set();
const guilds = new Set(); // guilds held
const pending = new Set(); // listed in READY or unavailable, GUILD_CREATE not yet seen
let world = -1;
const state = () => `ready shards ${readyShards.size}/${opts.shards}, guilds ${guilds.size}, ` +
  `waiting for ${pending.size} GUILD_CREATE, world ${world}, events ${events}, closes ${closes}`;

const rest = new REST({ api: `http://127.0.0.1:${opts.port}/api`, version: '10' }).setToken(opts.token);
const manager = new WebSocketManager({
  token: opts.token,
  intents: opts.intents,
  rest,
  shardCount: opts.shards,
  compression: opts.compress === 'zlib' ? CompressionMethod.ZlibNative : null,
});

// The no-op handler: counts every dispatch, and looks only at what readiness needs.
manager.on(WebSocketShardEvents.Dispatch, (payload, shardId) => {
  events++;
  switch (payload.t) {
    case 'READY':
      readyShards.add(shardId);
      for (const g of payload.d.guilds) if (!guilds.has(g.id)) pending.add(g.id);
      break;
    case 'GUILD_CREATE':
      guilds.add(payload.d.id);
      pending.delete(payload.d.id);
      break;
    case 'GUILD_DELETE':
      if (payload.d.unavailable) {
        pending.add(payload.d.id);
      } else {
        guilds.delete(payload.d.id);
        pending.delete(payload.d.id);
      }
      break;
    default:
      break;
  }
});
manager.on(WebSocketShardEvents.Closed, (code, shardId) => {
  closes++;
  log(`shard ${shardId} closed with ${code}`);
});
manager.on(WebSocketShardEvents.Error, (error, shardId) => {
  errors++;
  log(`shard ${shardId} error: ${error && error.message}`);
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function simStats() {
  const res = await fetch(`http://127.0.0.1:${opts.port}/_sim/stats`);
  if (!res.ok) throw new Error(`/_sim/stats answered ${res.status}`);
  return res.json();
}

async function main() {
  await manager.connect(); // resolves once every shard has READY
  log(`every shard connected (${state()})`);
  for (;;) {
    world = (await simStats()).guilds;
    if (readyShards.size === opts.shards && pending.size === 0 && Math.abs(guilds.size - world) <= opts.slack) break;
    if (elapsed() > opts.startup) throw new Error(`not every guild arrived within ${opts.startup}s (${state()})`);
    await sleep(100);
  }
  const readyS = elapsed();
  const memReady = procStatus('self');
  log(`every guild arrived (${state()})`);
  // Caught up with the stream: what the simulator wrote, less what was handled (by then).
  const lagMax = Math.max(100, Math.round(opts.rate / 10));
  let lag = 0;
  for (let i = 1; ; i++) {
    // What the simulator had written before the question, less what was handled after the answer.
    lag = (await simStats()).events_sent.total - events;
    if (lag <= lagMax) break;
    if (elapsed() > opts.startup) throw new Error(`not caught up with the stream within ${opts.startup}s: ${lag} dispatches behind (${state()})`);
    if (i % 20 === 0) log(`catching up: ${lag} dispatches behind`);
    await sleep(100);
  }
  const caughtUpS = elapsed();
  log(`caught up with the stream, ${lag} dispatches behind (${state()})`);

  const out = {
    client: 'discordjs',
    ws_version: wsVersion,
    node: process.version,
    compress: opts.compress === 'zlib' ? 'zlib-stream (node:zlib, CompressionMethod.ZlibNative)' : 'none',
    shards: opts.shards,
    guilds: guilds.size,
    world_guilds: world,
    rate: opts.rate,
    ready_s: Number(readyS.toFixed(3)),
    caught_up_s: Number(caughtUpS.toFixed(3)),
    rss_ready_kib: memReady.rss_kib,
    hwm_ready_kib: memReady.hwm_kib,
  };

  if (opts.duration > 0) {
    await sleep(opts.warmup * 1000);
    const closesBefore = closes;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const s0 = opts.simPid ? procCpu(opts.simPid) : 0;
    const e0 = events;
    await sleep(opts.duration * 1000);
    const e1 = events;
    const t1 = process.hrtime.bigint();
    const c1 = process.cpuUsage(c0);
    const s1 = opts.simPid ? procCpu(opts.simPid) : 0;
    const mem = procStatus('self');
    const wall = Number(t1 - t0) / 1e9;
    const cpu = (c1.user + c1.system) / 1e6;
    out.wall_s = Number(wall.toFixed(3));
    out.events = e1 - e0;
    out.events_per_sec = Number(((e1 - e0) / wall).toFixed(1));
    out.cpu_s = Number(cpu.toFixed(3));
    out.cpu_cores = Number((cpu / wall).toFixed(3));
    out.events_per_core = Number(((e1 - e0) / cpu).toFixed(1));
    if (opts.simPid) out.sim_cpu_cores = Number(((s1 - s0) / wall).toFixed(3));
    out.rss_stream_kib = mem.rss_kib;
    out.hwm_kib = mem.hwm_kib;
    out.closes_during = closes - closesBefore;
  }
  const end = await simStats();
  if (opts.duration > 0) out.lag_end = end.events_sent.total - events;
  out.sim_identifies = end.identifies.total;
  out.sim_resumes = end.resumes;
  out.sim_violations = end.violations_total;
  out.closes = closes;
  out.errors = errors;

  clearTimeout(deadline);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  // Close with 1000 (the sessions end); bounded, the result is already out.
  await Promise.race([manager.destroy({ code: 1000, reason: 'benchmark done' }), sleep(3000)]);
  process.exit(0);
}

main().catch((error) => {
  log(`failed: ${error && error.stack}`);
  process.stdout.write(`${JSON.stringify({ client: 'discordjs', error: String(error && error.message) })}\n`);
  process.exit(1);
});
