#pragma once
// The bot endpoint's REST side: every /api/v10/... request a bot makes, other than what the
// endpoint answers itself (gateway/bot), forwarded as it came to DISCORD_API_URL, and
// Discord's answer handed back with its status and headers (X-RateLimit-* included, so the bot's
// library keeps its own buckets). A plain forward, one connection per request; issue 15 ("REST
// coordination") makes it rate-limit-aware across the bot's clusters.
//
// Hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, Upgrade, Proxy-*, TE,
// Trailer) and Host are not forwarded either way; Content-Length is recomputed.

#include "core/error.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shardline::proxy {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ForwardRequest {
  std::string method;  // as the client sent it
  std::string target;  // after the API base: "/channels/1/messages?limit=5"
  HeaderList headers;
  std::string body;
};

struct ForwardResponse {
  unsigned status = 0;
  HeaderList headers;
  std::string body;
};

// Whether a header is forwarded (not hop-by-hop, not Host, not Content-Length).
bool forwarded_header(std::string_view name);

// One request to `api_url` + `req.target` within `timeout`. Errors: bad_input (api_url not
// http(s), an unknown method), connect_failed, timeout, closed (the exchange failed or the
// answer is over `max_body_bytes`). Never throws.
boost::asio::awaitable<Result<ForwardResponse>> forward_rest(boost::asio::ssl::context& tls, std::string api_url,
                                                             ForwardRequest req, std::chrono::milliseconds timeout,
                                                             std::size_t max_body_bytes);

} // namespace shardline::proxy
