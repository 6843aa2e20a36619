#include "net/gateway_query.hpp"

#include "gateway/gateway_codes.hpp"

#include <boost/url/parse.hpp>

namespace shardline::net {

GatewayQuery check_gateway_query(std::string_view target) {
  namespace close_code = gateway::close_code;
  GatewayQuery q;
  auto refuse = [&q](std::uint16_t code, const char* why) {
    q.refusal = code;
    q.why = why;
    return q;
  };
  auto u = boost::urls::parse_origin_form(target);
  if (!u) return refuse(close_code::decode_error, "Malformed gateway URL.");
  for (auto p : u->params()) {
    if (p.key == "v" && p.value != "10") return refuse(close_code::invalid_api_version, "Invalid API version: v10 only.");
    if (p.key == "encoding" && p.value != "json") return refuse(close_code::decode_error, "Only encoding=json is supported.");
    if (p.key == "compress") {
      if (p.value != "zlib-stream") return refuse(close_code::decode_error, "Only compress=zlib-stream is supported.");
      q.zlib_stream = true;
    }
  }
  return q;
}

} // namespace shardline::net
