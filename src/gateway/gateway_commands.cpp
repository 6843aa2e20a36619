#include "gateway/gateway_commands.hpp"

#include <boost/json.hpp>

namespace shardline::gateway {

namespace json = boost::json;

namespace {

std::string with_op(int op, json::value d) {
  json::object o;
  o.reserve(2);
  o.emplace("op", op);
  o.emplace("d", std::move(d));
  return json::serialize(o);
}

} // namespace

std::string identify_payload(const IdentifyFields& f) {
  json::object d{{"token", f.token},
                 {"intents", f.intents},
                 {"properties", {{"os", "linux"}, {"browser", "shardline"}, {"device", "shardline"}}},
                 {"shard", json::array{f.shard_id, f.shard_count}},
                 {"large_threshold", f.large_threshold},
                 {"compress", false}};
  return with_op(2, std::move(d));
}

std::string resume_payload(std::string_view token, std::string_view session_id, std::uint64_t seq) {
  json::object d{{"token", token}, {"session_id", session_id}, {"seq", seq}};
  return with_op(6, std::move(d));
}

std::string heartbeat_payload(std::uint64_t seq) {
  return with_op(1, seq ? json::value(seq) : json::value(nullptr));
}

Result<std::string> command_payload(int op, std::string_view d_json) {
  boost::system::error_code ec;
  auto d = json::parse(d_json, ec);
  if (ec) return fail(Errc::bad_input, "d is not valid JSON: " + ec.message());
  return with_op(op, std::move(d));
}

} // namespace shardline::gateway
