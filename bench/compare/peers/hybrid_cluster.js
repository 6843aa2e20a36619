'use strict';
// One cluster of the peer, written as discord-hybrid-sharding's README shows, with only the
// REST base pointed at `shardline sim` (discord.js takes the gateway URL from its
// GET /gateway/bot).
const { ClusterClient, getInfo } = require('discord-hybrid-sharding');
const { Client, GatewayIntentBits } = require('discord.js');

const client = new Client({
  shards: getInfo().SHARD_LIST,
  shardCount: getInfo().TOTAL_SHARDS,
  intents: [GatewayIntentBits.Guilds],
  rest: { api: `http://127.0.0.1:${process.env.SIM_PORT}/api` },
});
client.cluster = new ClusterClient(client);
client.on('clientReady', readyClient => readyClient.cluster.triggerReady());
client.login(process.env.DISCORD_TOKEN);
