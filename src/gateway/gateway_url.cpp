#include "gateway/gateway_url.hpp"

#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace shardline::gateway {

Result<GatewayTarget> parse_gateway_url(std::string_view url, bool compress) {
  auto r = boost::urls::parse_uri(url);
  if (!r) return fail(Errc::bad_input, fmt::format("'{}' is not a URL", url));
  GatewayTarget g;
  if (r->scheme() == "wss") g.tls = true;
  else if (r->scheme() != "ws") return fail(Errc::bad_input, fmt::format("'{}' is not a ws:// or wss:// URL", url));
  g.host = std::string(r->host_address());
  g.port = r->has_port() ? std::string(r->port()) : (g.tls ? "443" : "80");
  g.target = r->path().empty() ? "/" : std::string(r->path());
  g.target += "?v=10&encoding=json";
  if (compress) g.target += "&compress=zlib-stream";
  return g;
}

} // namespace shardline::gateway
