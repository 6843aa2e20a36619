#include "sim/http_exchange.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace shardline::sim {

namespace json = boost::json;

HttpReply json_reply(HttpStatus status, std::string body) {
  HttpReply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

HttpReply error_reply(HttpStatus status, std::string_view message, int code) {
  json::object o{{"message", message}, {"code", code}};
  return json_reply(status, json::serialize(o));
}

std::optional<json::value> parse_json_body(std::string_view body, unsigned max_depth) {
  json::parse_options po;
  po.max_depth = max_depth;
  boost::system::error_code ec;
  auto v = json::parse(body, ec, {}, po);
  if (ec) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> id_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return parse_id(as_view(v->get_string()));
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() > 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

} // namespace shardline::sim
