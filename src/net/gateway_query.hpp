#pragma once
// The query of a gateway URL, as a server that speaks Discord's gateway checks it: the
// simulator (src/sim) and the bot endpoint (src/proxy). `v` is 10 or absent, `encoding` json or
// absent, `compress` absent or zlib-stream; anything else is refused with the close code Discord
// uses for it, once the websocket is up.
#include <cstdint>
#include <string>
#include <string_view>

namespace shardline::net {

struct GatewayQuery {
  std::uint16_t refusal = 0; // 0: accepted; else the close code to refuse with
  std::string why;           // the close reason when refused
  bool zlib_stream = false;  // compress=zlib-stream
};

// `target` is the request target of the upgrade request (path and query).
GatewayQuery check_gateway_query(std::string_view target);

} // namespace shardline::net
