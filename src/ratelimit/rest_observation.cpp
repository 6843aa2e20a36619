#include "ratelimit/rest_observation.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <string>

namespace shardline::ratelimit {

namespace {

std::optional<std::uint32_t> parse_count(std::string_view s) {
  std::uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_seconds(std::string_view s) {
  if (s.empty() || s.size() > 32) return std::nullopt;
  // from_chars for double is in g++ 12's libstdc++.
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v < 0 || v > 86'400.0 * 7)
    return std::nullopt;
  return v;
}

} // namespace

RestObservation observe_answer(unsigned status, std::string_view bucket, std::string_view limit,
                               std::string_view remaining, std::string_view reset_after, std::string_view scope,
                               std::string_view global, std::string_view retry_after, std::string_view body) {
  RestObservation o;
  o.status = status;
  if (bucket.size() <= 64) o.bucket = std::string(bucket);
  o.limit = parse_count(limit);
  o.remaining = parse_count(remaining);
  o.reset_after_s = parse_seconds(reset_after);
  if (o.limit && *o.limit == 0) o.limit.reset(); // a limit of 0 is no information
  if (status != 429) return o;
  if (scope == "user" || scope == "global" || scope == "shared") o.scope = std::string(scope);
  o.global = global == "true" || o.scope == "global";
  // The body's retry_after is the precise one (seconds, with decimals); Retry-After whole seconds.
  double wait = parse_seconds(retry_after).value_or(0);
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    auto& obj = v.get_object();
    if (auto* r = obj.if_contains("retry_after"); r && r->is_number()) {
      auto d = r->to_number<double>(ec);
      if (!ec && std::isfinite(d) && d >= 0 && d < 86'400.0 * 7) wait = d;
    }
    if (auto* g = obj.if_contains("global"); g && g->is_bool() && g->get_bool()) o.global = true;
  }
  o.retry_after_s = wait > 0 ? wait : 1.0; // a 429 without a usable wait: one second, never zero
  return o;
}

} // namespace shardline::ratelimit
