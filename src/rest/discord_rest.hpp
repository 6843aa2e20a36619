#pragma once
// The little of Discord's REST API a cluster needs: GET /gateway/bot before its shards connect
// (gateway URL, recommended shard count, session_start_limit), and the few calls of the
// operator commands. http:// (the simulator) or https:// (Discord), one request per
// connection (net::connect_tcp, and net::tls_handshake for https), within one deadline.
//
// A transport failure (resolving, connecting, TLS, a request or response cut short, the deadline)
// is an error of the Result; an HTTP status, whatever it is, is a response.

#include "core/error.hpp"
#include "ratelimit/rest_observation.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

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
  unsigned status = 0; // the HTTP status
  std::string body;
  // A 429's wait, from its Retry-After header or retry_after field (seconds); 0 otherwise.
  double retry_after_s = 0;
  // What the answer says of Discord's rate limits (X-RateLimit-*), for the REST gate.
  ratelimit::RestObservation limits;
};

struct RestRequest {
  std::string method = "GET"; // GET, POST, PUT, PATCH, DELETE
  std::string path;           // after the API base, e.g. "/gateway/bot"
  std::string json_body;      // sent as application/json when not empty
  // `Authorization: Bot <token>`; empty for the interaction routes, whose token is in the path.
  std::string token;
};

// One request to `api_url` + `req.path`, answered within `timeout`. Errors: bad_input (not an
// http(s) URL, an unknown method), connect_failed, timeout, closed (the exchange failed). Never
// throws.
boost::asio::awaitable<Result<RestResponse>> rest_call(boost::asio::io_context& io, boost::asio::ssl::context& tls,
                                                       std::string api_url, RestRequest req,
                                                       std::chrono::milliseconds timeout);

// GET `api_url` + `path` with `Authorization: Bot <token>`. Never throws.
boost::asio::awaitable<Result<RestResponse>> rest_get(boost::asio::io_context& io, boost::asio::ssl::context& tls,
                                                      std::string api_url, std::string path, std::string token,
                                                      std::chrono::milliseconds timeout);

// What a caller logs about a call: "HTTP 404", or the transport error's message.
std::string describe(const Result<RestResponse>& r);

// A 429's wait in seconds: the body's retry_after (more precise), else the Retry-After header
// (whole seconds), else 1. Never 0, negative or not finite.
double retry_after_seconds(std::string_view retry_after_header, std::string_view body);

// Parses GET /gateway/bot's body. False (and `error`) if a field is missing or mistyped.
bool parse_gateway_bot(const std::string& body, GatewayBot& out, std::string& error);

} // namespace shardline::rest
