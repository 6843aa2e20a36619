#pragma once
// Frame bodies (docs/protocol.md §2): the envelope around a message's data, with its timestamp
// and nonce, built and parsed with Boost.JSON. The hub's routing hot path reads envelopes with
// EnvelopeParser instead; the data inside are the typed messages of protocol/messages.hpp.

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

} // namespace shardline::protocol
