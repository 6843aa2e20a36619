'use strict';
// The discord.js side of bench/proxy_cache_run.sh: how much memory discord.js 14's own cache
// (a Client with its default caches) holds for the same READY and GUILD_CREATE payloads the
// bot endpoint's guild cache is measured with (bench/proxy_cache_bench.cpp, `dump`).
//
// The payloads go in through discord.js's own gateway packet handling, without a connection:
// client.ws.handlePacket() with a stand-in for each shard (an id and a no-op checkReady), the
// path a real shard's dispatches take (READY and GUILD_CREATE are handled before the client is
// ready, so nothing is queued). The file is read a line at a time and every payload is dropped
// after it is handled; the heap is collected (node --expose-gc) before each reading.
//
//   node --expose-gc bench/proxy_cache_discordjs.js PAYLOAD_FILE
//   [PEERS_DIR=bench/compare/peers (where discord.js is installed by npm ci)]
//
// Prints one JSON line: guilds (available in client.guilds.cache), heap_used_growth_kib,
// rss_growth_kib, external_growth_kib.
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { createRequire } = require('node:module');

const peers = process.env.PEERS_DIR || path.join(__dirname, 'compare', 'peers');
const { Client, GatewayIntentBits, version } = createRequire(path.join(peers, 'package.json'))('discord.js');

const log = msg => process.stderr.write(`proxy_cache_discordjs: ${msg}\n`);

if (typeof global.gc !== 'function') {
  log('run with node --expose-gc');
  process.exit(2);
}
const file = process.argv[2];
if (!file) {
  log('usage: node --expose-gc proxy_cache_discordjs.js PAYLOAD_FILE');
  process.exit(2);
}

// Bounded: the whole run normally takes seconds.
setTimeout(() => {
  log('deadline of 600 s passed');
  process.exit(3);
}, 600_000).unref();

function collect() {
  for (let i = 0; i < 4; i++) global.gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss, external: m.external };
}

// One line of the payload file, "shard TYPE json", as a packet handled by `client`.
function feed(client, shards, line, seq) {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const id = Number(line.slice(0, a));
  if (!shards.has(id)) shards.set(id, { id, checkReady() {} });
  client.ws.handlePacket({ op: 0, s: seq, t: line.slice(a + 1, b), d: JSON.parse(line.slice(b + 1)) }, shards.get(id));
}

async function main() {
  // Warm up discord.js's code paths (and the modules they require lazily) on a throwaway
  // client with the file's first READY and GUILD_CREATE, so the baseline includes them.
  {
    const head = Buffer.alloc(1 << 20);
    const fd = fs.openSync(file, 'r');
    const n = fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const first = head.subarray(0, n).toString('utf8').split('\n').slice(0, 2);
    const warm = new Client({ intents: [GatewayIntentBits.Guilds] });
    first.forEach((line, i) => feed(warm, new Map(), line, i + 1));
    await warm.destroy();
  }
  const client = new Client({ intents: [GatewayIntentBits.Guilds] });
  const shards = new Map();
  const before = collect();

  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let seq = 0, payloads = 0;
  for await (const line of lines) {
    if (!line) continue;
    feed(client, shards, line, ++seq);
    payloads++;
  }
  // Let anything scheduled by the handlers run.
  await new Promise(resolve => setImmediate(resolve));
  const after = collect();
  const guilds = client.guilds.cache.filter(g => g.available).size;
  log(`discord.js ${version}: ${payloads} payloads, ${guilds} guilds available, ${client.channels.cache.size} channels`);
  process.stdout.write(`${JSON.stringify({
    discordjs: version,
    guilds,
    heap_used_growth_kib: Math.round((after.heap - before.heap) / 1024),
    rss_growth_kib: Math.round((after.rss - before.rss) / 1024),
    external_growth_kib: Math.round((after.external - before.external) / 1024),
  })}\n`);
  process.exit(0);
}

main().catch(error => {
  log(`failed: ${error && error.stack}`);
  process.exit(1);
});
