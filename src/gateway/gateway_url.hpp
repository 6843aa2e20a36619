#pragma once
// Where a shard connects: /gateway/bot's URL (wss://gateway.discord.gg), a session's
// resume_gateway_url, or ws://127.0.0.1:PORT of the simulator, with the query every gateway
// connection carries (?v=10&encoding=json, and &compress=zlib-stream when asked). Pure.

#include "core/error.hpp"

#include <string>
#include <string_view>

namespace shardline::gateway {

struct GatewayTarget {
  bool tls = false;   // wss://
  std::string host;   // as in the URL: the TLS server name, and the websocket Host
  std::string port;   // explicit, or 443 / 80
  std::string target; // path and query of the websocket upgrade, e.g. "/?v=10&encoding=json"
};

// bad_input when `url` is not a ws:// or wss:// URL. Discord's URLs carry no path or query of
// their own; a path is kept.
Result<GatewayTarget> parse_gateway_url(std::string_view url, bool compress);

} // namespace shardline::gateway
