#pragma once
// The IPC hub (docs/protocol.md §3-§7): authenticates clusters and admin tools, routes frames
// between them from the envelope fields only, and watches their health. Runs on the caller's
// io_context (one per process); all state is touched from that one thread.

#include "core/config.hpp"
#include "core/error.hpp"
#include "net/stream.hpp"
#include "protocol/hub_messages.hpp"
#include "ratelimit/rest_limit_state.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <string>

namespace shardline::hub {

struct HubOptions {
  std::string name = "hub";          // answers as `server_cluster`; frames to it reach the
                                     // in-process cluster when the hub runs inside one
  std::string host = "127.0.0.1";
  std::uint16_t port = 20000;        // 0: pick a free port
  std::string secret;
  bool legacy_auth = false;
  std::string mode = "hub";          // shown by hub_status: "hub" or "server"
  std::string local_instance;        // server mode: instance of the in-process cluster, the
                                     // only connection allowed to use the hub's own name
  ssl::context* tls = nullptr;       // non-null: every connection is TLS
  std::chrono::duration<double> auth_timeout{10};
  std::chrono::duration<double> body_timeout{30};
  std::chrono::duration<double> idle_timeout{120};
  std::size_t max_pending = 256;
  std::size_t max_outbuf_bytes = 8u << 20;
  std::size_t max_preauth_frame = 64 * 1024;
  double max_clock_skew_s = 300;
  std::size_t nonce_window = 10'000;
  HealthThresholds health;
  // Version-1 peers (the seed's clusters) drop a link on which nothing arrived for 120 s and
  // never heartbeat: the hub sends each a frame when it sent it nothing for this long
  // (SHARD_IPC_STATS_INTERVAL_S, the cadence at which the seed's server broadcasts its stats).
  std::chrono::duration<double> v1_keepalive{60};
  // A version-1 peer that authenticates with the name of a connected version-1 peer: the holder
  // is asked for its stats, and replaced if it answers nothing within this (docs/protocol.md §3.5).
  std::chrono::duration<double> v1_probe_timeout{3};
  // IDENTIFYs of the daily session_start_limit the hub never grants (SHARD_IDENTIFY_RESERVE).
  std::uint32_t identify_reserve = 10;
  // The bot's REST rate limits, coordinated for every cluster (docs/rest.md; SHARD_REST_*). A
  // second of grace after start: the requests a previous hub granted free their global tokens.
  ratelimit::RestLimitOptions rest{.start_grace = millis(1000)};
  // Shard sessions (docs/protocol.md §12): entries kept in all, and how long one
  // stays after its last report. Discord does not keep a session resumable much longer.
  std::size_t max_sessions = 1u << 16;
  std::chrono::seconds session_max_age{600};
  // Answers launch_request from admin tools: set by `shardline launch`, which hosts the hub. The
  // answer is the launch_response data (protocol::SupervisorStatus or protocol::LaunchStarted).
  std::function<boost::json::object(const protocol::LaunchRequest& request)> control;

  static HubOptions from_config(const Config& c);
};

class Hub {
public:
  Hub(asio::io_context& io, HubOptions options);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Binds and listens; returns the port (useful with port 0), or an operator-facing error
  // ("Port already in use ...").
  Result<std::uint16_t> listen();
  // Starts accepting and the deadline sweeper.
  void start();
  // Closes the listener and every connection.
  void stop();

  std::uint16_t port() const;
  std::size_t connection_count() const;
  std::size_t authenticated_count() const;

  class Impl;

private:
  std::shared_ptr<Impl> impl_;
};

} // namespace shardline::hub
