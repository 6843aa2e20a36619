#pragma once
// The bot endpoint's server: one port (SHARD_PROXY_HOST:SHARD_PROXY_PORT), HTTP and WebSocket,
// Boost.Beast on the process's io_context thread.
//
//   GET /api/v10/gateway/bot   {"url": this endpoint's ws:// URL, "shards": the bot's shard
//                              count, "session_start_limit": {...}}; needs the bot's token
//                              (Authorization: Bot <token>), else 401, as Discord does
//   GET /api/v10/gateway       {"url": ...}
//   /api/v10/...               anything else: forwarded to DISCORD_API_URL (rest_forward.hpp)
//   GET /_shardline/status     the endpoint's state, for tests and operators:
//                              {"ws_url", "shard_count", "connections", "sessions",
//                               "shards": [{"id", "status" (the real shard's), "ready" (the
//                               cache has READY: clients get it at once), "guilds",
//                               "available_guilds", "clients", "events", "cache_bytes"}]}
//   websocket upgrade          the gateway (client_session.hpp): ?v=10&encoding=json, with or
//                              without &compress=zlib-stream (one deflate stream per
//                              connection, each message ending 00 00 ff ff)
//
// Limits: 8 KiB of request headers, SHARD_PROXY-sized bodies (max_body_bytes), 30 s to read a
// request, 10 s for the websocket handshake, 4,096-byte client frames (never buffered beyond),
// a bounded outbound queue per client (a client that cannot keep up is closed with 4000 and may
// RESUME), and max_connections at once. Nothing a client does reaches the cluster's shards
// except the commands the gateway protocol allows, paced by the shard.

#include "proxy/endpoint.hpp"

#include "core/error.hpp"

#include "ratelimit/rest_gate.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace shardline::proxy {

struct ProxyServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0; // 0: any free port
  std::string api_url;    // DISCORD_API_URL, where REST requests go
  std::size_t max_connections = 2048;
  std::size_t max_body_bytes = 8u << 20;       // a forwarded request's or response's body
  std::size_t max_queued_bytes = 32u << 20;    // per client
  std::size_t max_queued_frames = 50'000;      // per client
  std::chrono::milliseconds rest_timeout{30'000};
  // The bot's REST limits (docs/rest.md): every forwarded request waits its turn here; null:
  // forwarded at once (the bot's library keeps its own limits, unaware of the other processes).
  std::shared_ptr<ratelimit::RestGate> rest_gate;
};

// What the server reports from the cluster: GET /gateway/bot's session_start_limit and the
// real shards' state.
struct ServerHooks {
  struct StartLimit {
    std::uint32_t total = 1000, remaining = 1000, max_concurrency = 1;
    std::uint64_t reset_after_ms = 0;
  };
  std::function<StartLimit()> start_limit;
  std::function<std::string(std::uint32_t shard_id)> shard_status;
};

class ProxyServer {
public:
  ProxyServer(boost::asio::io_context& io, Endpoint& endpoint, ProxyServerOptions options, ServerHooks hooks,
              boost::asio::ssl::context& client_tls);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Binds the port; the bound port (the one chosen when 0). The endpoint's ws:// URL is set
  // from it.
  Result<std::uint16_t> listen();
  // Accepts connections and ticks the sessions' deadlines.
  void start();
  // Stops accepting and closes every client (4000: resumable, as after a network error).
  void stop();

  std::string ws_url() const;
  std::size_t connections() const;

  struct State;

private:
  std::shared_ptr<State> state_;
};

} // namespace shardline::proxy
