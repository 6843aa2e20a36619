// A REST load bot for issue 15's acceptance (tests/integration/test_rest_coordination.py, driven by
// tests/integration/peers/rest_load.py): discord.js's own REST client, @discordjs/rest's REST class,
// with its defaults (its per-process buckets, its global limiter, its 429 retries), firing a list of
// requests as fast as it may, and writing what happened as one JSON file.
//
//   node rest_load.js --requests LIST.json --api http://127.0.0.1:PORT/api --token T \
//        --concurrency 32 --global-per-sec 50 --deadline-s 60 --out RESULT.json [--go GO_FILE]
//
// LIST.json: [{"method": "POST", "path": "/channels/1/messages", "body": {...}, "tag": "busy"}, ...]
// (paths after the version: discord.js appends /v10 to --api). With --go, the bot loads, prints
// {"event": "ready"} and waits (bounded) until GO_FILE exists, so that every bot of a run starts
// together. It stops at the deadline whatever is still pending, and always writes its result:
//   statuses  final outcome per request: "2xx", the HTTP status of a failure, or "error"
//   responses every HTTP answer seen, retried 429s included, by status
//   scopes    the 429s by X-RateLimit-Scope ("none" without the header)
//   shardline the answers by X-Shardline-RateLimit value (Shardline answering for itself)
//   self_limited how often discord.js held a request back by its own limits (bucket, global)
//   by_tag    final outcomes per tag
//   done_at   per tag, when each request got its final outcome (epoch seconds)
//   latency_ms p50/p90/p99/max from the first try to the final outcome
//   first_sent, last_done, started, ended: epoch seconds
'use strict';

const fs = require('node:fs');
const { REST, DiscordAPIError, HTTPError } = require('@discordjs/rest');

function parseArgs(argv) {
  const out = {};
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const need of ['requests', 'api', 'token', 'out']) {
    if (!out[need]) throw new Error(`--${need} is required`);
  }
  return out;
}

const args = parseArgs(process.argv);
const concurrency = Math.max(1, Number(args.concurrency || 16));
const deadlineS = Math.min(600, Math.max(1, Number(args['deadline-s'] || 60)));
const requests = JSON.parse(fs.readFileSync(args.requests, 'utf8'));

const rest = new REST({
  api: args.api,
  globalRequestsPerSecond: Number(args['global-per-sec'] || 50),
}).setToken(args.token);

const result = {
  kind: 'node',
  requests: requests.length,
  statuses: {},
  responses: {},
  scopes: {},
  shardline: {},
  self_limited: {},
  by_tag: {},
  done_at: {},
  latency_ms: {},
  first_sent: null,
  last_done: null,
  started: null,
  ended: null,
  unfinished: 0,
  errors: [],
};
const latencies = [];

function bump(obj, key, n = 1) {
  obj[key] = (obj[key] || 0) + n;
}

// Every network answer, the 429s discord.js retries by itself included.
rest.on('response', (_request, res) => {
  bump(result.responses, String(res.status));
  const scope = res.headers.get('x-ratelimit-scope');
  if (res.status === 429) bump(result.scopes, scope || 'none');
  const ours = res.headers.get('x-shardline-ratelimit');
  if (ours) bump(result.shardline, ours);
});

// discord.js holding a request back by its own limiter (a bucket it believes empty, or its
// global limit), before sending it.
rest.on('rateLimited', (info) => {
  bump(result.self_limited, info.global ? 'global' : 'bucket');
});

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

let written = false;
function finish(code) {
  if (written) return;
  written = true;
  result.ended = Date.now() / 1000;
  const sorted = latencies.slice().sort((a, b) => a - b);
  result.latency_ms = {
    p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : null,
  };
  let done = 0;
  for (const v of Object.values(result.statuses)) done += v;
  result.unfinished = requests.length - done;
  result.errors = result.errors.slice(0, 20);
  const tmp = `${args.out}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(result));
  fs.renameSync(tmp, args.out);
  process.exit(code);
}

async function one(req) {
  const t0 = Date.now();
  if (result.first_sent === null) result.first_sent = t0 / 1000;
  let outcome;
  try {
    const options = { method: req.method, fullRoute: req.path };
    if (req.body !== undefined && req.body !== null) options.body = req.body;
    await rest.request(options);
    outcome = '2xx';  // discord.js resolves with the body only: any 2xx
  } catch (err) {
    if (err instanceof DiscordAPIError || err instanceof HTTPError) {
      outcome = String(err.status);
    } else {
      outcome = 'error';
      if (result.errors.length < 50) result.errors.push(String(err && err.message ? err.message : err));
    }
  }
  const t1 = Date.now();
  latencies.push(t1 - t0);
  bump(result.statuses, outcome);
  if (req.tag) {
    result.by_tag[req.tag] = result.by_tag[req.tag] || {};
    bump(result.by_tag[req.tag], outcome);
  }
  const tag = req.tag || '';
  (result.done_at[tag] = result.done_at[tag] || []).push(t1 / 1000);
  result.last_done = t1 / 1000;
}

async function worker(queue) {
  for (;;) {
    const req = queue.next();
    if (req === undefined) return;
    await one(req);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitGo() {
  if (!args.go) return;
  process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
  const until = Date.now() + 120000;
  while (!fs.existsSync(args.go)) {
    if (Date.now() > until) throw new Error(`no go file ${args.go} within 120 s`);
    await sleep(2);
  }
}

async function main() {
  await waitGo();
  result.started = Date.now() / 1000;
  setTimeout(() => finish(0), deadlineS * 1000).unref();
  let i = 0;
  const queue = { next: () => (i < requests.length ? requests[i++] : undefined) };
  const workers = [];
  for (let w = 0; w < concurrency; w++) workers.push(worker(queue));
  await Promise.all(workers);
  finish(0);
}

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => finish(0));
main().catch((err) => {
  result.errors.push(String(err && err.stack ? err.stack : err));
  finish(1);
});
