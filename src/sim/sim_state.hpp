#pragma once
// What one running simulator holds, shared by its rooms: the gateway connections
// (gateway_conn.cpp), the REST routes (rest_routes.cpp), the control API (control_api.cpp), the
// world's changes (world_events.cpp) and the server's loops (sim_server.cpp). One io_context,
// one thread: nothing here is locked.
//
// Beast stays out of this header: a connection's websocket is a GatewaySocket, defined in
// gateway_conn.cpp alone, so the REST and control rooms compile without Beast (slow to compile).

#include "core/clock.hpp"
#include "sim/event_generator.hpp"
#include "sim/identify_limiter.hpp"
#include "sim/interaction_store.hpp"
#include "sim/rest_limiter.hpp"
#include "sim/send_limiter.hpp"
#include "sim/session_store.hpp"
#include "sim/sim_server.hpp"
#include "sim/world.hpp"
#include "net/zlib_stream.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/array.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace shardline::sim {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct GatewaySocket; // the websocket over TCP (gateway_conn.cpp)

struct GatewayConn {
  struct Out {
    Frame frame;
    std::uint64_t seq = 0; // a dispatch of the attached session: recorded as delivered once written
    bool replayed = false;
    bool heartbeat_request = false; // our op 1: the answer is due from when it is written
  };

  GatewayConn(std::unique_ptr<GatewaySocket> socket, Clock clock);
  ~GatewayConn();
  GatewayConn(const GatewayConn&) = delete;
  GatewayConn& operator=(const GatewayConn&) = delete;

  std::unique_ptr<GatewaySocket> socket;
  asio::steady_timer wake; // the writer sleeps on it; cancel() wakes it
  std::unique_ptr<net::ZlibStream> zlib;
  std::deque<Out> outq;
  std::size_t out_bytes = 0;
  SendLimiter send_limiter;
  std::string address;
  std::string session_id; // attached session; empty before IDENTIFY/RESUME
  steady::time_point last_heartbeat{};
  steady::time_point last_write_done{}; // the writer's last completed write (or the accept)
  steady::time_point heartbeat_requested{}; // our op 1 awaiting the client's HEARTBEAT; {}: none
  steady::time_point next_server_heartbeat{};
  bool closing = false; // our close frame is queued or sent
  bool ended = false;   // the reader has finished; the connection is gone
  steady::time_point close_started{};
  bool no_acks = false; // fault: heartbeats go unanswered
  bool stalled = false; // fault: nothing is written any more
  std::uint16_t close_code = 0;
  std::string close_reason;
};

using ConnPtr = std::shared_ptr<GatewayConn>;

struct Sim {
  Sim(asio::io_context& io, SimOptions o);

  asio::io_context& io;
  SimOptions opt;
  Clock clock = real_clock();
  World world;
  IdentifyLimiter identify;
  SessionStore sessions;
  EventGenerator events;
  RestLimiter rest_limiter;
  InteractionStore interactions;
  std::map<std::string, boost::json::array> commands; // "global" or a guild id -> its slash commands
  std::uint64_t command_puts = 0; // accepted bulk overwrites, any scope: a test sees a bot re-register
  std::unordered_map<std::uint64_t, std::deque<std::string>> channel_messages; // what the bot posted
  std::unordered_map<std::uint64_t, std::set<std::uint64_t>> bans; // guild -> banned users (bounded, rest_guild_routes.cpp)
  std::uint64_t next_increment = 0, last_id = 0;
  std::mt19937_64 churn_rng{opt.seed ^ 0xc4u};
  tcp::acceptor acceptor;
  asio::steady_timer sweeper;
  steady::time_point started;
  std::uint16_t port = 0;
  std::string ws_url;
  bool stopped = false;

  std::map<std::string, std::uint64_t> violations; // besides the identify limiter's own
  std::uint64_t resumes_refused = 0;
  std::uint64_t connections_total = 0;
  std::size_t open_connections = 0; // gateway and HTTP, for the server's connection limit
  std::uint64_t faults_applied = 0;
  std::unordered_set<ConnPtr> conns;
  std::unordered_map<std::string, std::weak_ptr<GatewayConn>> conn_of; // session id -> its connection

  // Guilds unavailable at start come back at outage_end: sessions that saw them unavailable
  // get their GUILD_CREATE then (replayable like any dispatch if they are disconnected).
  steady::time_point outage_end;
  bool outage_over = false;
  std::vector<std::string> awaiting_outage;

  std::uint32_t recommended_shards() const { return opt.shards ? opt.shards : world.recommended_shards(); }

  // A fresh snowflake for something the simulator creates now (messages, commands,
  // interactions): wall-clock time, and an increment that keeps ids of one millisecond apart.
  std::uint64_t new_id();
};

// Milliseconds since the Unix epoch, as snowflakes and event timestamps carry them.
std::uint64_t wall_now_ms();

} // namespace shardline::sim
