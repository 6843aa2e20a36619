#pragma once
// The bot endpoint's REST side: every /api/v10/... request a bot makes, other than what the
// endpoint answers itself (gateway/bot), forwarded as it came to DISCORD_API_URL in the bot's
// turn (the REST gate, docs/rest.md), and Discord's answer handed back with its status and
// headers. One connection per request.
//
// Hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, Upgrade, Proxy-*, TE,
// Trailer) and Host are not forwarded either way; Content-Length is recomputed.

#include "core/error.hpp"
#include "ratelimit/rest_gate.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <memory>
#include <optional>
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

// What a forward through the bot's REST gate came to: refused by the gate (the bot gets a 429
// of Shardline's), or Discord's answer, or the transport's error.
struct GatedForward {
  std::optional<ratelimit::RestAdmission> refused;
  Result<ForwardResponse> answer = ForwardResponse{};
};

// forward_rest() in the bot's turn (docs/rest.md): waits at `gate` (null: at once), reports the
// answer to it, and tries a 429 again in turn, twice at most (the gate learned the wait from
// it; a ban's 429 is not retried). The answer keeps Discord's headers but a paced answer's
// bucket counts (paced_count_header), which are the whole bot's.
boost::asio::awaitable<GatedForward> forward_in_turn(boost::asio::ssl::context& tls, std::string api_url,
                                                     std::shared_ptr<ratelimit::RestGate> gate, ForwardRequest req,
                                                     std::chrono::milliseconds timeout, std::size_t max_body_bytes);

// X-RateLimit-Limit, -Remaining, -Reset and -Reset-After: the bucket's counts. A library that
// read them from a paced answer would hold its requests back for other processes' use of the
// bucket, pacing a second time what the coordinator already paces.
bool paced_count_header(std::string_view name);

// One request to `api_url` + `req.target` within `timeout`. Errors: bad_input (api_url not
// http(s), an unknown method), connect_failed, timeout, closed (the exchange failed or the
// answer is over `max_body_bytes`). Never throws.
boost::asio::awaitable<Result<ForwardResponse>> forward_rest(boost::asio::ssl::context& tls, std::string api_url,
                                                             ForwardRequest req, std::chrono::milliseconds timeout,
                                                             std::size_t max_body_bytes);

} // namespace shardline::proxy
