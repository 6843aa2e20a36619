'use strict';
// A stock discord.js 14 bot (its own sharded Client) running on Shardline's bot endpoint.
//
//   npm ci && DISCORD_TOKEN=... DISCORD_API_URL=http://127.0.0.1:PORT/api/v10 node bot.js
//
// Under `shardline launch` with SHARD_BOT_COMMAND="node bot.js" the supervisor sets every
// variable below itself (docs/bots.md). What it reads:
// - DISCORD_API_URL: the endpoint's REST base (`.../api/v10`). The one setting discord.js
//   needs: `rest.api` (without the `/v10`, which discord.js appends from `rest.version`).
//   The gateway URL comes from `GET /gateway/bot` through that base, as from Discord.
// - DISCORD_TOKEN: the bot's token (the endpoint checks it, 4004 otherwise).
// - SHARD_IDS, SHARD_COUNT (optional): the shards this process runs, e.g. `0,1` or `0-3,8`.
//   Without them the Client runs every shard `GET /gateway/bot` recommends.
//
// What it does: logs in, counts its guilds, answers a message `!ping` with a reply `pong`
// (REST, through the endpoint's forward), registers a global slash command `/ping` and answers
// it. One JSON object per line on stdout (`ready` with every guild and its channels and roles,
// `message`, `replied`, `interaction`, `interaction_replied`, `error`); discord.js's debug log
// goes to stderr with DEBUG=1. SIGTERM or SIGINT destroys the client and exits 0.

const { Client, Events, GatewayIntentBits } = require('discord.js');

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

function errorFields(error) {
  return { name: error?.name, message: String(error?.message ?? error), code: error?.code, status: error?.status };
}

// `http://host:port/api/v10` -> rest.api `http://host:port/api`, rest.version `10`.
const apiUrl = (process.env.DISCORD_API_URL ?? 'https://discord.com/api/v10').replace(/\/+$/, '');
const versioned = /^(.*)\/v(\d+)$/.exec(apiUrl);
const rest = versioned ? { api: versioned[1], version: versioned[2] } : { api: apiUrl };

// SHARD_IDS as `shardline launch` writes it: `0,1,2` or ranges `0-3,8`.
function parseShardIds(text) {
  const ids = [];
  for (const part of (text ?? '').split(',').map(s => s.trim()).filter(Boolean)) {
    const [lo, hi = lo] = part.split('-').map(Number);
    for (let id = lo; id <= hi; id++) ids.push(id);
  }
  return ids;
}
const shardIds = parseShardIds(process.env.SHARD_IDS);
const shardCount = Number(process.env.SHARD_COUNT ?? '') || undefined;

const client = new Client({
  intents: [
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.MessageContent, // privileged: the cluster's DISCORD_INTENTS must have it too
  ],
  rest,
  // The shards of this process; 'auto': as many as GET /gateway/bot recommends.
  ...(shardIds.length > 0 ? { shards: shardIds, shardCount } : { shards: 'auto' }),
});

if (process.env.DEBUG) client.on(Events.Debug, message => process.stderr.write(`[debug] ${message}\n`));
client.on(Events.Warn, message => emit('warn', { message }));
client.on(Events.Error, error => emit('error', { where: 'client', ...errorFields(error) }));
client.on(Events.ShardResume, (shard, replayed) => emit('shard_resume', { shard, replayed }));
client.on(Events.ShardDisconnect, (event, shard) => emit('shard_disconnect', { shard, code: event.code }));

client.once(Events.ClientReady, async c => {
  const guilds = [...c.guilds.cache.values()].map(g => ({
    id: g.id,
    name: g.name,
    shard: g.shardId,
    channels: [...g.channels.cache.values()].map(ch => ({ id: ch.id, name: ch.name })),
    roles: [...g.roles.cache.values()].map(r => ({ id: r.id, name: r.name })),
  }));
  emit('ready', {
    at: Date.now(), // ms, with `starting`'s: how long login took
    user: c.user.id,
    shards: [...c.ws.shards.keys()].sort((a, b) => a - b),
    shard_count: c.options.shardCount,
    guild_count: guilds.length,
    guilds,
  });
  try {
    // PUT /applications/{app}/commands: the global /ping command.
    const commands = await c.application.commands.set([{ name: 'ping', description: 'Answers pong' }]);
    emit('commands', { names: [...commands.values()].map(cmd => cmd.name) });
  } catch (error) {
    emit('error', { where: 'commands', ...errorFields(error) });
  }
});

client.on(Events.MessageCreate, async message => {
  emit('message', {
    id: message.id,
    guild: message.guildId,
    channel: message.channelId,
    author: message.author.id,
    content: message.content,
  });
  if (message.author.id === client.user.id || message.content !== '!ping') return;
  try {
    const reply = await message.reply('pong'); // POST /channels/{id}/messages, forwarded
    emit('replied', { to: message.id, id: reply.id, channel: reply.channelId });
  } catch (error) {
    emit('error', { where: 'reply', to: message.id, ...errorFields(error) });
  }
});

client.on(Events.InteractionCreate, async interaction => {
  if (!interaction.isChatInputCommand()) return;
  emit('interaction', {
    id: interaction.id,
    command: interaction.commandName,
    guild: interaction.guildId,
    channel: interaction.channelId,
  });
  try {
    await interaction.reply({ content: `pong ${interaction.id}` }); // the interaction callback
    emit('interaction_replied', { id: interaction.id });
  } catch (error) {
    emit('error', { where: 'interaction', id: interaction.id, ...errorFields(error) });
  }
});

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  emit('stopping', { signal });
  try {
    await client.destroy();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('unhandledRejection', error => emit('error', { where: 'unhandled', ...errorFields(error) }));

if (!process.env.DISCORD_TOKEN) {
  process.stderr.write('DISCORD_TOKEN is not set\n');
  process.exit(2);
}
emit('starting', { at: Date.now(), api: apiUrl, shard_ids: shardIds, shard_count: shardCount ?? null, node: process.version });
client.login(process.env.DISCORD_TOKEN).catch(error => {
  emit('error', { where: 'login', ...errorFields(error) });
  process.exit(1);
});
