#include "protocol/body.hpp"

#include "core/crypto.hpp"
#include "protocol/envelope.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <chrono>

namespace shardline::protocol {

double wall_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

NonceSource::NonceSource() : prefix_(random_hex(8)) {}

std::string NonceSource::next() { return fmt::format("{}-{:x}", prefix_, ++counter_); }

namespace {
// Boost.JSON 1.81 writes a non-finite double as a bare NaN/Infinity token, which strict
// readers refuse; the contract says Shardline never emits them (a latency before the first
// heartbeat is NaN in the seed): they go out as null.
void null_non_finite(boost::json::value& v) {
  switch (v.kind()) {
  case boost::json::kind::double_:
    if (!std::isfinite(v.get_double())) v = nullptr;
    break;
  case boost::json::kind::object:
    for (auto& kv : v.get_object()) null_non_finite(kv.value());
    break;
  case boost::json::kind::array:
    for (auto& e : v.get_array()) null_non_finite(e);
    break;
  default: break;
  }
}
} // namespace

std::string build_body(const OutFrame& f, NonceSource& nonces) {
  boost::json::object o;
  o.reserve(8);
  o["op"] = f.op;
  o["data"] = f.data;
  null_non_finite(o["data"]);
  o["source"] = f.source;
  o["target"] = f.target.empty() ? std::string_view("all") : f.target;
  o["timestamp"] = wall_seconds();
  o["nonce"] = nonces.next();
  if (!f.id.empty()) o["id"] = f.id;
  if (!f.reply_to.empty()) o["reply_to"] = f.reply_to;
  return boost::json::serialize(o);
}

bool parse_body(std::string_view body, bool allow_non_finite, boost::json::value& out) {
  boost::system::error_code ec;
  out = boost::json::parse(body, ec);
  if (!ec) return true;
  if (!allow_non_finite) return false;
  std::string sanitized;
  if (!replace_non_finite(body, sanitized)) return false;
  out = boost::json::parse(sanitized, ec);
  return !ec;
}

} // namespace shardline::protocol
