#pragma once
// `shardline sim`: a local Discord on one loopback port, serving the REST API under
// /api/v10, the gateway websocket, and the /_sim/ control API. See docs/simulator.md.

#include "net/zlib_stream.hpp"
#include "sim/rest_groups.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::sim {

struct SimOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;      // 0: pick a free port (printed, and written to port_file)
  std::string port_file;
  std::string token = "sim-token";
  std::size_t guilds = 100;
  std::uint32_t shards = 0;    // recommended shard count; 0: about one per 1,000 guilds
  std::uint32_t max_concurrency = 1;
  std::uint32_t identify_window_ms = 5000;
  std::uint32_t heartbeat_ms = 41250;
  std::uint32_t server_heartbeat_ms = 0; // send each session a HEARTBEAT request this often; 0: never
  std::uint32_t events_per_sec = 0; // the steady event stream; 0: none
  // The stream is paced in ticks of this length, each dispatching what the rate owes. A real
  // gateway's events arrive one by one; the tick makes them arrive in bursts of rate × tick,
  // and every event of a burst waits for the ones before it at every hop a benchmark measures.
  std::uint32_t event_tick_ms = 1;
  bool stamp_events = false;        // each streamed MESSAGE_CREATE's nonce: its send time (µs, CLOCK_REALTIME)
  net::DeflateEngine deflate = net::DeflateEngine::isal; // for compress=zlib-stream
  // Privileged intents enabled for the application (GUILD_MEMBERS 1<<1, GUILD_PRESENCES 1<<8,
  // MESSAGE_CONTENT 1<<15); an IDENTIFY asking for another one is closed with 4014.
  std::uint64_t privileged_intents = (1u << 1) | (1u << 8) | (1u << 15);
  std::uint32_t session_budget = 1000;
  std::uint64_t seed = 1;
  std::uint32_t outage_ms = 10'000;      // guilds unavailable at start come back after this
  std::uint32_t resume_ttl_ms = 120'000; // a dropped session stays resumable this long
  // Discord's REST rate limits (rest_groups.hpp, rest_limiter.hpp, docs/simulator.md).
  std::uint32_t rest_global_per_sec = 50;   // REST requests per second, all limited routes together
  std::uint32_t rest_route_limit = 5;       // requests per window of each generic route group
  std::uint32_t rest_route_window_ms = 5000;
  std::vector<RestBucketOverride> rest_buckets; // --rest-bucket NAME=LIMIT/WINDOW_MS, in order
  std::uint32_t rest_invalid_limit = 10'000;      // invalid answers (401, 403, 429 not shared)...
  std::uint32_t rest_invalid_window_ms = 600'000; // ...in this sliding window ban the bot...
  std::uint32_t rest_ban_ms = 3'600'000;          // ...for this long
  // A team owns the application (GET /applications/@me then has `team`, and `owner` is the
  // team's pseudo-user): these user ids, the first the team's owner. Empty: one user owns it.
  std::vector<std::uint64_t> team_members;
};

// Parses --team-members: user ids (snowflakes) separated by commas, none twice, at most
// kMaxTeamMembers (a bound on the input, not a Discord rule); "" is no team. On error returns
// false with `error` set.
inline constexpr std::size_t kMaxTeamMembers = 100;
bool parse_team_members(std::string_view text, std::vector<std::uint64_t>& out, std::string& error);

// Runs until SIGINT/SIGTERM. Returns the process exit code (1: cannot listen).
int run_sim(const SimOptions& options);

} // namespace shardline::sim
