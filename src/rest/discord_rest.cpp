#include "rest/discord_rest.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

namespace shardline::rest {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxBodyBytes = 1u << 20;

// A 429's wait: the Retry-After header (whole seconds), or the body's more precise retry_after.
double retry_after_of(const http::response<http::string_body>& res) {
  double wait = 0;
  if (auto h = res[http::field::retry_after]; !h.empty()) wait = std::atof(std::string(h).c_str());
  boost::system::error_code ec;
  auto v = json::parse(res.body(), ec);
  if (!ec && v.is_object())
    if (auto* r = v.as_object().if_contains("retry_after"); r && r->is_number()) wait = r->to_number<double>();
  return std::isfinite(wait) && wait > 0 ? wait : 1.0;
}

template <class Stream>
asio::awaitable<RestResponse> exchange(Stream& stream, http::request<http::string_body> req) {
  RestResponse out;
  auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
  if (wec) {
    out.error = "sending the request failed: " + wec.message();
    co_return out;
  }
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBodyBytes);
  auto [rec, rn] = co_await http::async_read(stream, buf, parser, use_tuple);
  if (rec) {
    out.error = "reading the response failed: " + rec.message();
    co_return out;
  }
  out.status = parser.get().result_int();
  if (out.status == 429) out.retry_after_s = retry_after_of(parser.get());
  out.body = std::move(parser.get().body());
  co_return out;
}

} // namespace

asio::awaitable<RestResponse> rest_get(asio::io_context& io, ssl::context& tls, std::string api_url, std::string path,
                                       std::string token, std::chrono::milliseconds timeout) {
  RestRequest r;
  r.path = std::move(path);
  r.token = std::move(token);
  co_return co_await rest_call(io, tls, std::move(api_url), std::move(r), timeout);
}

asio::awaitable<RestResponse> rest_call(asio::io_context& io, ssl::context& tls, std::string api_url, RestRequest rr,
                                        std::chrono::milliseconds timeout) {
  RestResponse out;
  auto u = boost::urls::parse_uri(api_url);
  if (!u || (u->scheme() != "http" && u->scheme() != "https")) {
    out.error = fmt::format("'{}' is not an http:// or https:// URL", api_url);
    co_return out;
  }
  const bool https = u->scheme() == "https";
  std::string host(u->host_address());
  std::string port = u->has_port() ? std::string(u->port()) : (https ? "443" : "80");
  std::string target = std::string(u->path()) + rr.path;
  auto verb = http::string_to_verb(rr.method);
  if (verb == http::verb::unknown) {
    out.error = "unknown HTTP method " + rr.method;
    co_return out;
  }

  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "DiscordBot (https://github.com/shardline, 0.1) Shardline");
  if (!rr.token.empty()) req.set(http::field::authorization, "Bot " + rr.token);
  if (!rr.json_body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(rr.json_body);
  }
  req.prepare_payload();

  // Shared with the guard's handler, which may run after this frame has moved on.
  auto resolver = std::make_shared<tcp::resolver>(io);
  asio::steady_timer guard(io, timeout);
  guard.async_wait([resolver](const boost::system::error_code& ec) {
    if (!ec) resolver->cancel();
  });
  auto [rec, endpoints] = co_await resolver->async_resolve(host, port, use_tuple);
  guard.cancel();
  if (rec) {
    out.error = fmt::format("cannot resolve {}: {}", host, rec.message());
    co_return out;
  }
  if (!https) {
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    auto [cec, ep] = co_await stream.async_connect(endpoints, use_tuple);
    if (cec) {
      out.error = fmt::format("cannot connect to {}:{}: {}", host, port, cec.message());
      co_return out;
    }
    out = co_await exchange(stream, std::move(req));
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return out;
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, tls);
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(timeout);
  auto [cec, ep] = co_await lowest.async_connect(endpoints, use_tuple);
  if (cec) {
    out.error = fmt::format("cannot connect to {}:{}: {}", host, port, cec.message());
    co_return out;
  }
  if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) {
    out.error = "TLS: cannot set SNI";
    co_return out;
  }
  stream.set_verify_callback(ssl::host_name_verification(host));
  auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
  if (hec) {
    out.error = fmt::format("TLS handshake with {} failed: {}", host, hec.message());
    co_return out;
  }
  out = co_await exchange(stream, std::move(req));
  co_return out;
}

bool parse_gateway_bot(const std::string& body, GatewayBot& out, std::string& error) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    error = "GET /gateway/bot did not return a JSON object";
    return false;
  }
  auto& o = v.as_object();
  auto* url = o.if_contains("url");
  auto* shards = o.if_contains("shards");
  auto* limit = o.if_contains("session_start_limit");
  if (!url || !url->is_string() || !shards || !shards->is_int64() || shards->as_int64() < 1 || !limit ||
      !limit->is_object()) {
    error = "GET /gateway/bot: url, shards or session_start_limit missing";
    return false;
  }
  auto count = [&](const char* key, std::uint64_t& dst) {
    auto* f = limit->as_object().if_contains(key);
    if (!f || !f->is_int64() || f->as_int64() < 0) return false;
    dst = static_cast<std::uint64_t>(f->as_int64());
    return true;
  };
  std::uint64_t total = 0, remaining = 0, reset = 0, mc = 0;
  if (!count("total", total) || !count("remaining", remaining) || !count("reset_after", reset) ||
      !count("max_concurrency", mc) || mc < 1) {
    error = "GET /gateway/bot: session_start_limit is incomplete";
    return false;
  }
  out.url = std::string(url->as_string());
  out.shards = static_cast<std::uint32_t>(shards->as_int64());
  out.total = static_cast<std::uint32_t>(total);
  out.remaining = static_cast<std::uint32_t>(remaining);
  out.reset_after_ms = reset;
  out.max_concurrency = static_cast<std::uint32_t>(mc);
  return true;
}

} // namespace shardline::rest
