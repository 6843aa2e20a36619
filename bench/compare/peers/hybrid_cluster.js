'use strict';
// One cluster of the peer, shared by every hybrid_*.js scenario, written as discord-hybrid-sharding's
// README shows, with only the REST base pointed at `shardline sim` (discord.js takes the gateway
// URL from its GET /gateway/bot). Environment (inherited from the manager): SIM_PORT, INTENTS
// (default Guilds only).
//
// It answers one request of the manager, cluster.request({op: 'query_loop', count, warmup}) (the
// library's CUSTOM_REQUEST, answered with IPCMessage.reply): warmup + count sequential
// client.cluster.broadcastEval(c => c.guilds.cache.size), as a bot's /stats command asks, replied
// as {samples_us: [count latencies, µs], guilds: the last answer summed}, or {error}.
const { ClusterClient, getInfo, messageType } = require('discord-hybrid-sharding');
const { Client, GatewayIntentBits } = require('discord.js');
const { envNumber, simPort, token, timeQueries } = require('./common');

const client = new Client({
  shards: getInfo().SHARD_LIST,
  shardCount: getInfo().TOTAL_SHARDS,
  intents: envNumber('INTENTS', GatewayIntentBits.Guilds),
  rest: { api: `http://127.0.0.1:${simPort()}/api` },
});
client.cluster = new ClusterClient(client);
client.on('clientReady', readyClient => readyClient.cluster.triggerReady());

client.cluster.on('message', message => {
  if (message._type !== messageType.CUSTOM_REQUEST || message.op !== 'query_loop') return;
  timeQueries(() => client.cluster.broadcastEval(c => c.guilds.cache.size), message.count, message.warmup)
    .then(result => message.reply(result), error => message.reply({ error: String(error && error.message) }));
});

// A manager that dies without stopping its clusters (kill -9) closes the IPC channel: go with it
// rather than linger with open gateway sessions.
process.on('disconnect', () => process.exit(0));

client.login(token());
