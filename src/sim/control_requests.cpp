#include "sim/control_requests.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

namespace shardline::sim {

namespace {

constexpr std::array kFaultKinds{FaultKind::close,    FaultKind::reconnect, FaultKind::invalid_session,
                                 FaultKind::reset,    FaultKind::stop_acks, FaultKind::stall,
                                 FaultKind::heartbeat};

std::optional<std::uint32_t> parse_u32(std::string_view text) {
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

} // namespace

const char* to_string(FaultKind k) {
  switch (k) {
  case FaultKind::close: return "close";
  case FaultKind::reconnect: return "reconnect";
  case FaultKind::invalid_session: return "invalid_session";
  case FaultKind::reset: return "reset";
  case FaultKind::stop_acks: return "stop_acks";
  case FaultKind::stall: return "stall";
  case FaultKind::heartbeat: return "heartbeat";
  }
  return "?";
}

Result<FaultRequest> parse_fault_request(std::string_view body) {
  auto bad = [](const char* why) { return fail(Errc::bad_input, why); };
  auto parsed = parse_json_body(body, 8);
  if (!parsed || !parsed->is_object()) return bad("body must be a JSON object");
  const auto& o = parsed->get_object();
  FaultRequest out;

  auto* shard = o.if_contains("shard");
  if (!shard || !shard->is_int64() || shard->get_int64() < 0) return bad("shard: a non-negative integer");
  out.shard = static_cast<std::uint64_t>(shard->get_int64());

  auto* kind = o.if_contains("kind");
  if (!kind || !kind->is_string()) return bad("kind: a string");
  const auto* known = std::find_if(kFaultKinds.begin(), kFaultKinds.end(),
                                   [&](FaultKind k) { return as_view(kind->get_string()) == to_string(k); });
  if (known == kFaultKinds.end())
    return bad("kind: one of close, reconnect, invalid_session, reset, stop_acks, stall, heartbeat");
  out.kind = *known;

  if (auto* code = o.if_contains("code")) {
    // 1005, 1006 and 1015 are reserved for what a close frame cannot carry.
    if (!code->is_int64() || code->get_int64() < 1000 || code->get_int64() > 4999 || code->get_int64() == 1005 ||
        code->get_int64() == 1006 || code->get_int64() == 1015)
      return bad("code: a close code a server may send (1000-4999, not 1005, 1006 or 1015)");
    out.code = static_cast<std::uint16_t>(code->get_int64());
  }
  if (auto* resumable = o.if_contains("resumable")) {
    if (!resumable->is_bool()) return bad("resumable: true or false");
    out.resumable = resumable->get_bool();
  }
  return out;
}

Result<std::uint32_t> parse_world_shards(std::span<const QueryParam> query) {
  std::optional<std::uint32_t> shards;
  for (const auto& p : query) {
    if (p.key != "shards") continue;
    auto v = parse_u32(p.value);
    if (!v || *v < 1 || *v > 4096) {
      shards.reset();
      break;
    }
    shards = v;
  }
  if (!shards) return fail(Errc::bad_input, "shards=N (a shard count, 1-4096) is required");
  return *shards;
}

Result<SharedLimitRequest> parse_shared_limit_request(std::string_view body) {
  auto bad = [](const char* why) { return fail(Errc::bad_input, why); };
  auto parsed = parse_json_body(body, 8);
  if (!parsed || !parsed->is_object()) return bad("body must be a JSON object");
  const auto& o = parsed->get_object();
  SharedLimitRequest out;
  auto* route = o.if_contains("route");
  if (!route || !route->is_string() || route->get_string().empty() || route->get_string().size() > 200)
    return bad("route: a REST group's name or one of its routes, as GET /_sim/rest/limits lists them");
  out.route = std::string(route->get_string());
  auto in_range = [&](const char* key, std::int64_t max, std::uint32_t& into) {
    auto* v = o.if_contains(key);
    if (!v || !v->is_int64() || v->get_int64() < 0 || v->get_int64() > max) return false;
    into = static_cast<std::uint32_t>(v->get_int64());
    return true;
  };
  if (!in_range("count", 1'000'000, out.count)) return bad("count: 0-1000000 requests");
  if (!in_range("retry_after_ms", 3'600'000, out.retry_after_ms)) return bad("retry_after_ms: 0-3600000");
  return out;
}

Result<std::uint32_t> parse_sessions_shard(std::span<const QueryParam> query) {
  std::optional<std::uint32_t> shard;
  for (const auto& p : query)
    if (p.key == "shard")
      if (auto v = parse_u32(p.value)) shard = v;
  if (!shard) return fail(Errc::bad_input, "shard=N (a shard id) is required");
  return *shard;
}

} // namespace shardline::sim
