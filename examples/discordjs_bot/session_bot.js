'use strict';
// A bot that keeps its gateway sessions across its own restarts, with @discordjs/ws (the
// WebSocketManager under discord.js 14) and its session hooks: every session change is saved
// to a file, and the next start RESUMEs from it. On Shardline's endpoint the RESUME replays
// what the bot missed while it was down (SHARD_PROXY_RESUME_EVENTS, SHARD_PROXY_RESUME_S), so
// a restart loses no event; Discord itself sees nothing, as Shardline holds the real sessions.
//
//   DISCORD_TOKEN=... DISCORD_API_URL=http://127.0.0.1:PORT/api/v10 SHARD_IDS=0,1 SHARD_COUNT=4 \
//     SESSION_FILE=sessions.json node session_bot.js
//
// The one setting is the same as bot.js's: the REST base (`api` without `/v10`); the gateway
// URL comes from GET /gateway/bot through it. One JSON object per line on stdout: `ready`
// and `resumed` per shard, `d` per dispatch (shard, sequence, type, message id), `error`.
// SIGTERM or SIGINT closes with 4200 (a close that keeps the session) and exits 0; the file
// keeps the session for the next start. Without SHARD_IDS it runs the recommended shards.

const fs = require('node:fs');
const { REST } = require('@discordjs/rest');
const { WebSocketManager, WebSocketShardEvents } = require('@discordjs/ws');

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

const token = process.env.DISCORD_TOKEN;
if (!token) {
  process.stderr.write('DISCORD_TOKEN is not set\n');
  process.exit(2);
}
const apiUrl = (process.env.DISCORD_API_URL ?? 'https://discord.com/api/v10').replace(/\/+$/, '');
const versioned = /^(.*)\/v(\d+)$/.exec(apiUrl);
const rest = new REST(versioned ? { api: versioned[1], version: versioned[2] } : { api: apiUrl }).setToken(token);

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
const shardCount = Number(process.env.SHARD_COUNT ?? '') || null;
const sessionFile = process.env.SESSION_FILE ?? 'sessions.json';

// {shardId: SessionInfo} as @discordjs/ws hands it over (sessionId, sequence, resumeURL, ...).
let sessions = {};
let stopping = false;
try {
  sessions = JSON.parse(fs.readFileSync(sessionFile, 'utf8'));
} catch {
  sessions = {};
}
function saveSessions() {
  // Written whole, then renamed: a kill -9 leaves the old file or the new one, never half.
  fs.writeFileSync(`${sessionFile}.tmp`, JSON.stringify(sessions));
  fs.renameSync(`${sessionFile}.tmp`, sessionFile);
}

const manager = new WebSocketManager({
  token,
  rest,
  intents: 1 | (1 << 9) | (1 << 15), // GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT
  shardIds: shardIds.length > 0 ? shardIds : null,
  shardCount: shardIds.length > 0 ? shardCount : null,
  // The session hooks: @discordjs/ws asks before connecting (a session: RESUME, none:
  // IDENTIFY) and reports every change (READY, each sequence number, null when it ends).
  retrieveSessionInfo: shardId => sessions[shardId] ?? null,
  updateSessionInfo: (shardId, info) => {
    if (!info && stopping) return; // our own stop below: the session lives on for the next start
    if (info) sessions[shardId] = info;
    else delete sessions[shardId];
    saveSessions();
  },
});

manager.on(WebSocketShardEvents.Ready, ({ data, shardId }) =>
  emit('ready', { at: Date.now(), shard: shardId, session_id: data.session_id, guilds: data.guilds.length }));
manager.on(WebSocketShardEvents.Resumed, ({ shardId }) =>
  emit('resumed', { at: Date.now(), shard: shardId, seq: sessions[shardId]?.sequence ?? null }));
manager.on(WebSocketShardEvents.Dispatch, ({ data, shardId }) => {
  const line = { shard: shardId, s: data.s, t: data.t };
  if (data.t === 'MESSAGE_CREATE') line.id = data.d.id;
  emit('d', line);
});
manager.on(WebSocketShardEvents.Closed, ({ code, shardId }) => emit('closed', { shard: shardId, code }));
manager.on(WebSocketShardEvents.Error, ({ error, shardId }) =>
  emit('error', { where: 'shard', shard: shardId, message: String(error?.message ?? error) }));

async function stop(signal) {
  if (stopping) return;
  stopping = true;
  emit('stopping', { signal });
  try {
    // Closed with 4200, not 1000: the session stays resumable at the endpoint. (`recover:
    // Resume` would reconnect at once; without it @discordjs/ws forgets the session, which
    // updateSessionInfo above ignores while stopping, so the file keeps it.)
    await manager.destroy({ code: 4200, reason: 'restarting' });
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('unhandledRejection', error => emit('error', { where: 'unhandled', message: String(error?.message ?? error) }));

emit('starting', { at: Date.now(), api: apiUrl, shard_ids: shardIds, shard_count: shardCount, resuming: Object.keys(sessions).map(Number) });
manager.connect().catch(error => {
  emit('error', { where: 'connect', message: String(error?.message ?? error) });
  process.exit(1);
});
