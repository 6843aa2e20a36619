'use strict';
// What one discord-hybrid-sharding cluster holds: one discord.js Client in one process running
// all SHARDS shards with its default caches, against `shardline sim`. It logs in, waits until
// every shard is ready and every guild of the simulator's world (GET /_sim/world) is in
// client.guilds.cache and available, waits 2 s more, and prints one line {"guilds", "ready_ms"
// (from login() until then), "rss_kib", "hwm_kib" (VmRSS, VmHWM of /proc/self/status),
// "heap_used_kib"}, then exits 0. Exit 3 with an {"error": "deadline"} line after DEADLINE_S,
// 1 with {"error"} on a failure.
//
//   SIM_PORT=P [DISCORD_TOKEN=sim-token] [SHARDS=16] [INTENTS=2819] [DEADLINE_S=300] node djs_memory.js
//
// INTENTS 2819 = GUILDS | GUILD_MEMBERS | GUILD_PRESENCES | GUILD_MESSAGES | GUILD_MESSAGE_TYPING,
// the intents of Shardline's memory benchmark.
const fs = require('node:fs');
const { Client, Status } = require('discord.js');
const { log, emit, sleep, envNumber, simPort, token, simGet, atFinish, finish, deadline, stopOnSignals } = require('./common');

const shards = envNumber('SHARDS', 16);
const client = new Client({
  shards: [...Array(shards).keys()],
  shardCount: shards,
  intents: envNumber('INTENTS', 2819),
  rest: { api: `http://127.0.0.1:${simPort()}/api` },
});
const readyShards = () => client.ws.shards.filter(shard => shard.status === Status.Ready).size;
const availableGuilds = () => client.guilds.cache.filter(guild => guild.available).size;

let world = -1;
stopOnSignals(1);
deadline(envNumber('DEADLINE_S', 300), () => ({ ready_shards: readyShards(), guilds: availableGuilds(), world }));
atFinish(() => client.destroy());

// VmRSS and VmHWM in KiB.
function memory() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const field = name => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))[1]);
  return { rss_kib: field('VmRSS'), hwm_kib: field('VmHWM') };
}

async function main() {
  world = (await simGet(`/_sim/world?shards=${shards}`)).guilds;
  log(`${shards} shards, intents ${client.options.intents.bitfield}, world ${world} guilds`);
  const t0 = Date.now();
  await client.login(token());
  // Polled: discord.js has no event for "every guild is in"; bounded by the deadline.
  while (readyShards() < shards || availableGuilds() < world) await sleep(100);
  const readyMs = Date.now() - t0;
  log(`every shard ready, ${availableGuilds()} guilds, after ${readyMs} ms`);
  await sleep(2000);
  emit({
    guilds: availableGuilds(),
    ready_ms: readyMs,
    ...memory(),
    heap_used_kib: Math.round(process.memoryUsage().heapUsed / 1024),
  });
}

main().then(() => finish(0), error => {
  log(`failed: ${error && error.stack}`);
  emit({ error: String(error && error.message) });
  finish(1);
});
