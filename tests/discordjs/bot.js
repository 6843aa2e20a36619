'use strict';
// A plain discord.js bot pointed at `shardline sim`, for the acceptance test
// tests/integration/test_sim_discordjs.py (issue 3, acceptance 1).
//
//   node bot.js --port PORT [--token TOKEN] [--command NAME] [--intents Guilds,GuildMessages]
//   (or SIM_PORT, SIM_TOKEN, SIM_COMMAND, SIM_INTENTS in the environment)
//
// Only the REST base is changed: discord.js takes the gateway URL (and, with `shards: 'auto'`,
// the shard count and max_concurrency) from the simulator's GET /api/v10/gateway/bot, as it
// does from Discord's.
// Every event of interest is one JSON object per line on stdout ({"event": ..., ...});
// discord.js's debug log goes to stderr. SIGTERM or SIGINT prints a `summary` line (the
// dispatch sequence numbers seen per shard, to prove none was lost or repeated), destroys
// the client (close 1000) and exits 0.

const { Client, Events, GatewayIntentBits } = require('discord.js');

function arg(name, envName, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1];
  return process.env[envName] ?? fallback;
}

const port = Number(arg('port', 'SIM_PORT', ''));
const token = arg('token', 'SIM_TOKEN', 'sim-token');
const commandName = arg('command', 'SIM_COMMAND', 'ping');
const intentNames = arg('intents', 'SIM_INTENTS', 'Guilds').split(',').filter(Boolean);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: node bot.js --port PORT [--token TOKEN] [--command NAME] [--intents A,B]\n');
  process.exit(2);
}
const unknownIntent = intentNames.find(name => GatewayIntentBits[name] === undefined);
if (unknownIntent !== undefined) {
  process.stderr.write(`unknown intent ${unknownIntent}\n`);
  process.exit(2);
}

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

function errorFields(error) {
  return {
    name: error?.name,
    message: String(error?.message ?? error),
    code: error?.code,
    status: error?.status,
  };
}

const client = new Client({
  intents: intentNames.map(name => GatewayIntentBits[name]),
  // As many shards as GET /gateway/bot recommends (discord.js's default is one).
  shards: 'auto',
  // The simulator serves API v10 under /api/v10, like https://discord.com/api/v10.
  rest: { api: `http://127.0.0.1:${port}/api` },
});

client.on(Events.Debug, message => {
  process.stderr.write(`[debug] ${message}\n`);
  // @discordjs/ws reports acknowledged heartbeats only through the debug log.
  const ack = /^\[WS => Shard (\d+)\] Heartbeat acknowledged/.exec(message);
  if (ack) emit('heartbeat_ack', { shard: Number(ack[1]) });
});
client.on(Events.Warn, message => emit('warn', { message }));
client.on(Events.Error, error => emit('error', { where: 'client', ...errorFields(error) }));

// Sequence numbers of the dispatches each shard received (replays included), for the summary.
const seqs = new Map();
function noteSeq(shardId, seq) {
  let seen = seqs.get(shardId);
  if (!seen) seqs.set(shardId, (seen = { count: 0, max: 0, repeated: 0, set: new Set() }));
  seen.count += 1;
  if (seen.set.has(seq)) seen.repeated += 1;
  seen.set.add(seq);
  seen.max = Math.max(seen.max, seq);
}
function summary() {
  const shards = {};
  for (const [shardId, seen] of seqs) {
    let missing = 0;
    for (let s = 1; s <= seen.max; s++) if (!seen.set.has(s)) missing += 1;
    shards[shardId] = { dispatches: seen.count, max_seq: seen.max, repeated: seen.repeated, missing };
  }
  return shards;
}

// Every dispatch as it arrives (before discord.js's own bookkeeping); READY and RESUMED
// are printed.
client.on(Events.Raw, (packet, shardId) => {
  if (typeof packet.s === 'number') noteSeq(shardId, packet.s);
  if (packet.t === 'READY') {
    emit('gateway_ready', {
      shard: shardId,
      session_id: packet.d.session_id,
      resume_gateway_url: packet.d.resume_gateway_url,
      guilds: packet.d.guilds.length,
      seq: packet.s,
    });
  } else if (packet.t === 'RESUMED') {
    emit('gateway_resumed', { shard: shardId, seq: packet.s });
  }
});

client.once(Events.ClientReady, async c => {
  const guilds = [...c.guilds.cache.values()];
  emit('ready', {
    user: c.user.id,
    application: c.application?.id ?? null,
    shards: c.ws.shards.size,
    guilds: guilds.length,
    available: guilds.filter(g => g.available).map(g => g.id),
    shard_of: Object.fromEntries(guilds.map(g => [g.id, g.shardId])),
    unavailable: guilds.filter(g => !g.available).map(g => g.id),
  });
  try {
    // PUT /applications/{app}/commands: a global slash command the test can invoke.
    const commands = await c.application.commands.set([
      { name: commandName, description: 'Answers pong (discord.js acceptance test)' },
    ]);
    emit('commands', { names: [...commands.values()].map(cmd => cmd.name), ids: [...commands.keys()] });
  } catch (error) {
    emit('error', { where: 'commands', ...errorFields(error) });
  }
});

client.on(Events.GuildAvailable, guild =>
  emit('guild_available', { id: guild.id, name: guild.name, shard: guild.shardId }));
client.on(Events.GuildCreate, guild => emit('guild_create', { id: guild.id, name: guild.name, shard: guild.shardId }));
client.on(Events.GuildDelete, guild => emit('guild_delete', { id: guild.id }));
client.on(Events.GuildUnavailable, guild => emit('guild_unavailable', { id: guild.id }));

client.on(Events.MessageCreate, message =>
  emit('message', { id: message.id, guild: message.guildId, channel: message.channelId }));

client.on(Events.InteractionCreate, async interaction => {
  emit('interaction', {
    id: interaction.id,
    type: interaction.type,
    command: interaction.isChatInputCommand() ? interaction.commandName : null,
    guild: interaction.guildId,
    channel: interaction.channelId,
    user: interaction.user?.id ?? null,
  });
  if (!interaction.isChatInputCommand()) return;
  try {
    // POST /interactions/{id}/{token}/callback, type 4.
    await interaction.reply({ content: `pong ${interaction.id}` });
    emit('replied', { id: interaction.id });
  } catch (error) {
    emit('error', { where: 'reply', id: interaction.id, ...errorFields(error) });
  }
});

client.on(Events.ShardReady, (shardId, unavailable) =>
  emit('shard_ready', { shard: shardId, unavailable: unavailable ? [...unavailable] : [] }));
client.on(Events.ShardReconnecting, shardId => emit('shard_reconnecting', { shard: shardId }));
client.on(Events.ShardResume, (shardId, replayed) => emit('shard_resume', { shard: shardId, replayed }));
client.on(Events.ShardDisconnect, (event, shardId) => emit('shard_disconnect', { shard: shardId, code: event.code }));
client.on(Events.ShardError, (error, shardId) => emit('error', { where: 'shard', shard: shardId, ...errorFields(error) }));

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  emit('summary', { signal, shards: summary() });
  try {
    await client.destroy();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('unhandledRejection', error => emit('error', { where: 'unhandled', ...errorFields(error) }));

emit('starting', { port, node: process.version });
client.login(token).catch(error => {
  emit('error', { where: 'login', ...errorFields(error) });
  process.exit(1);
});
