#pragma once
// Building and reading frames with Boost.JSON where convenience beats speed (auth, requests,
// replies). The hub's hot path uses EnvelopeParser instead.

#include <boost/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace shardline::protocol {

// Seconds since the epoch, fractional: the envelope's `timestamp`.
double wall_seconds();

// Nonces unique per sender: a random per-process prefix and a counter. Cheaper than a
// random draw per message and just as unique within the hub's window.
class NonceSource {
public:
  NonceSource();
  std::string next();

private:
  std::string prefix_;
  std::uint64_t counter_ = 0;
};

struct OutFrame {
  std::string_view op;
  boost::json::object data;
  std::string_view source;
  std::string_view target = "all";
  std::string_view id;       // v2 request id
  std::string_view reply_to; // v2 reply
};

// The JSON body of a frame, with timestamp and nonce filled in.
std::string build_body(const OutFrame& f, NonceSource& nonces);

// Parses a body; in legacy mode NaN/Infinity/-Infinity read as null.
bool parse_body(std::string_view body, bool allow_non_finite, boost::json::value& out);

// Field access that tolerates missing or ill-typed fields.
std::string get_string(const boost::json::object& o, std::string_view key, std::string_view fallback = {});
double get_number(const boost::json::object& o, std::string_view key, double fallback = 0);
// A snowflake or other unsigned id given as a number or a decimal string.
bool get_uint64(const boost::json::value& v, std::uint64_t& out);

// v2 auth MACs (contract section 3).
std::string client_mac(std::string_view secret, std::string_view cluster_name,
                       std::string_view client_nonce, std::string_view server_nonce);
std::string server_mac(std::string_view secret, std::string_view cluster_name,
                       std::string_view client_nonce, std::string_view server_nonce);

} // namespace shardline::protocol
