#pragma once
// The little of Discord's REST API a cluster needs: GET /gateway/bot before its shards connect
// (gateway URL, recommended shard count, session_start_limit), and the few calls of the
// operator commands. http:// (the simulator) or https:// (Discord), one request per
// connection, with a deadline.

#include <utility>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace shardline::rest {

struct GatewayBot {
  std::string url;                 // wss://gateway.discord.gg
  std::uint32_t shards = 1;        // recommended
  std::uint32_t total = 0;         // session_start_limit
  std::uint32_t remaining = 0;
  std::uint64_t reset_after_ms = 0;
  std::uint32_t max_concurrency = 1;
};

struct RestResponse {
  unsigned status = 0; // 0: no response (the error says why)
  std::string body;
  std::string error;
  // A 429's wait, from its Retry-After header or retry_after field (seconds); 0 otherwise.
  double retry_after_s = 0;
};

struct RestRequest {
  std::string method = "GET"; // GET, POST, PUT, PATCH, DELETE
  std::string path;           // after the API base, e.g. "/gateway/bot"
  std::string json_body;      // sent as application/json when not empty
  // `Authorization: Bot <token>`; empty for the interaction routes, whose token is in the path.
  std::string token;
};

// One request to `api_url` + `req.path`. Never throws.
boost::asio::awaitable<RestResponse> rest_call(boost::asio::io_context& io, boost::asio::ssl::context& tls,
                                               std::string api_url, RestRequest req, std::chrono::milliseconds timeout);

// GET `api_url` + `path` with `Authorization: Bot <token>`. Never throws.
boost::asio::awaitable<RestResponse> rest_get(boost::asio::io_context& io, boost::asio::ssl::context& tls,
                                              std::string api_url, std::string path, std::string token,
                                              std::chrono::milliseconds timeout);

// Parses GET /gateway/bot's body. False (and `error`) if a field is missing or mistyped.
bool parse_gateway_bot(const std::string& body, GatewayBot& out, std::string& error);

} // namespace shardline::rest
