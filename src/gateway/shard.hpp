#pragma once
// One gateway shard: a websocket to Discord (ws:// or wss://, optionally zlib-stream) kept
// alive through every kind of trouble, following ../shared/discord/gateway.md. HELLO, a
// jittered first heartbeat, heartbeats with zombie detection, IDENTIFY (only with a slot
// from its host) or RESUME, RECONNECT, INVALID_SESSION both ways, every close code as the
// table says, a send limiter under 120 commands a minute that keeps room for heartbeats.
//
// The shard owns its connection and nothing else: its host (ShardCluster) grants IDENTIFY
// slots, keeps saved sessions, tracks guilds and receives every dispatch; its connections come
// from a WsConnector (real websockets, or a test's scripted ones). All on one io_context
// thread: no locks. shard.cpp is the connection loop, shard_protocol.cpp what the shard says
// and answers on a connection, ws_connection.cpp the websocket.

#include "core/error.hpp"
#include "gateway/command_limiter.hpp"
#include "gateway/gateway_payload.hpp"
#include "gateway/guild_snapshot.hpp"
#include "gateway/session_file.hpp"
#include "gateway/ws_connection.hpp"

#include <utility>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::gateway {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

enum class ShardStatus {
  starting,     // not connected yet
  connecting,   // TCP/TLS/websocket handshake, or waiting for HELLO
  waiting_slot, // connected, waiting for an IDENTIFY slot
  identifying,  // IDENTIFY sent, READY not yet received
  resuming,     // RESUME sent, RESUMED not yet received
  ready,        // READY or RESUMED received: events flow
  reconnecting, // between connections
  stopped,      // gave up (bad token, invalid shard...) or shut down
};
const char* to_string(ShardStatus s);

struct ShardOptions {
  std::uint32_t shard_id = 0;
  std::uint32_t shard_count = 1;
  std::string token;
  std::uint64_t intents = 513;
  std::uint32_t large_threshold = 250;
  bool compress = true;
  std::string gateway_url; // from GET /gateway/bot, e.g. wss://gateway.discord.gg
  std::chrono::milliseconds connect_timeout{20'000}; // TCP, TLS and the websocket upgrade
  std::chrono::milliseconds hello_timeout{20'000};
  // A session's resume_gateway_url that fails this many connections in a row (refused, DNS,
  // TLS or websocket handshake, no HELLO, a timeout) is given up for gateway_url, where the
  // session is resumed if Discord still has it (else INVALID_SESSION: a new one, through the
  // host's IDENTIFY slots). The gateway URL failing as many times in a row makes the shard ask
  // its host for a fresh one (ShardHost::fresh_gateway_url).
  std::uint32_t url_attempts = 2;
  // Connecting to a resume URL, and its HELLO, get this much at most (and no more than
  // connect_timeout and hello_timeout): a resume URL that hangs must not hold a shard for long.
  std::chrono::milliseconds resume_url_timeout{5'000};
};

class Shard;

// What a shard needs from the cluster that runs it.
class ShardHost {
public:
  virtual ~ShardHost() = default;
  // Waits until this shard may IDENTIFY (a slot of its bucket, granted for every process of
  // the bot). An error when it must not (cancelled: shutting down, or no longer needed).
  virtual asio::awaitable<Result<void>> acquire_identify(std::uint32_t shard_id) = 0;
  // Every dispatch, in sequence order; `data` is d as raw JSON text, valid during the call.
  virtual void on_dispatch(Shard& shard, std::string_view type, std::string_view data) = 0;
  // READY (fresh session, `resumed` false) or RESUMED.
  virtual void on_ready(Shard& shard, bool resumed) = 0;
  // The session changed in a way worth saving (new session, or periodic sequence update).
  virtual void on_session_update(Shard& shard) = 0;
  // Discord invalidated the session: it must not be resumed again.
  virtual void on_session_lost(Shard& shard) = 0;
  // The shard stopped for good; `reason` is for the operator.
  virtual void on_stopped(Shard& shard, const std::string& reason) = 0;
  // The gateway URL the shard was given keeps failing (a GET /gateway/bot answer kept from a
  // gateway that is gone): the URL to use now, asked of the API again; empty: keep trying the
  // one it has.
  virtual asio::awaitable<std::string> fresh_gateway_url(std::uint32_t /*shard_id*/) { co_return std::string(); }
};

struct ShardCounters {
  std::uint64_t events = 0;      // dispatches received
  std::uint64_t reconnects = 0;  // connections after the first
  std::uint64_t identifies = 0;  // IDENTIFYs sent
  std::uint64_t resumes = 0;     // RESUMEs sent
  std::uint64_t zombies = 0;     // connections closed for a missing HEARTBEAT_ACK
  std::uint64_t bytes_in = 0;    // websocket payload bytes received (compressed if zlib)
};

// Lifetime: as for its host (ShardCluster), destroy a Shard only once the io_context runs no
// more of its handlers; its connection's pending operations call back into it and the host.
class Shard : public std::enable_shared_from_this<Shard> {
public:
  // Connects with real websockets; `tls` is used for wss:// URLs and must outlive the shard.
  Shard(asio::io_context& io, ShardOptions options, ShardHost& host, ssl::context& tls);
  // Connects through `connector` (a test's scripted connections). `random` gives the jitter of
  // the first heartbeat and of reconnects, uniform in [0, 1); empty: a random generator.
  Shard(asio::io_context& io, ShardOptions options, ShardHost& host, std::shared_ptr<WsConnector> connector,
        std::function<double()> random = {});
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Starts the connection loop; `saved`: a session to RESUME first (from SHARD_DATA_DIR).
  void start(std::optional<SavedSession> saved);
  // Closes with a resumable code (the session survives for a later process) and stops;
  // `done` runs once the connection is closed or after `deadline`.
  void shutdown(std::chrono::milliseconds deadline, std::function<void()> done);

  // Sends a gateway command (op and d as JSON text). False if it cannot be sent: not
  // connected and ready, `d_json` not valid JSON, over 4,096 bytes, or the queue is full.
  // Paced under the send limit.
  bool send_command(int op, std::string_view d_json);

  std::uint32_t id() const;
  std::uint32_t count() const;
  ShardStatus status() const;
  // Heartbeat round trip of the last ACK; nullopt before the first.
  std::optional<std::chrono::microseconds> latency() const;
  const ShardCounters& counters() const;
  // The current (or last) session, for saving; session_id empty if none.
  SavedSession session() const;
  // Guilds this shard's session holds (READY's list, then GUILD_CREATE/GUILD_DELETE), those
  // still unavailable, and the sum of their member_count.
  std::size_t guild_count() const;
  std::size_t unavailable_guilds() const;
  std::uint64_t member_count() const;
  // The guild list as a snapshot (for a restarted process that RESUMEs: a RESUME does not
  // resend GUILD_CREATEs), whether it changed since the last take_guilds(), and restoring one
  // before start().
  std::vector<GuildRecord> take_guilds();
  bool guilds_changed() const;
  void restore_guilds(const std::vector<GuildRecord>& guilds);
  const std::string& stop_reason() const;

  class Impl;

private:
  std::shared_ptr<Impl> impl_;
};

} // namespace shardline::gateway
