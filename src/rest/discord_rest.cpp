#include "rest/discord_rest.hpp"

#include "net/connect.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

namespace shardline::rest {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxBodyBytes = 1u << 20;

// The request and its response on a connected stream whose lowest layer expires at the call's
// deadline.
template <class Stream>
asio::awaitable<Result<RestResponse>> exchange(Stream& stream, http::request<http::string_body> req) {
  auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
  if (wec == beast::error::timeout) co_return fail(Errc::timeout, "sending the request timed out");
  if (wec) co_return fail(Errc::closed, "sending the request failed: " + wec.message());
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBodyBytes);
  auto [rec, rn] = co_await http::async_read(stream, buf, parser, use_tuple);
  if (rec == beast::error::timeout) co_return fail(Errc::timeout, "reading the response timed out");
  if (rec) co_return fail(Errc::closed, "reading the response failed: " + rec.message());
  RestResponse out;
  auto& res = parser.get();
  out.status = res.result_int();
  if (out.status == 429) out.retry_after_s = retry_after_seconds(res[http::field::retry_after], res.body());
  auto header = [&res](std::string_view name) {
    auto v = res[name];
    return std::string_view(v.data(), v.size());
  };
  out.limits = ratelimit::observe_answer(out.status, header, res.body());
  out.body = std::move(res.body());
  co_return out;
}

} // namespace

double retry_after_seconds(std::string_view retry_after_header, std::string_view body) {
  double wait = 0;
  if (!retry_after_header.empty()) wait = std::atof(std::string(retry_after_header).c_str());
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object())
    if (auto* r = v.as_object().if_contains("retry_after"); r && r->is_number()) wait = r->to_number<double>();
  return std::isfinite(wait) && wait > 0 ? wait : 1.0;
}

std::string describe(const Result<RestResponse>& r) {
  return r ? fmt::format("HTTP {}", r->status) : r.error().message;
}

asio::awaitable<Result<RestResponse>> rest_get(asio::io_context& io, ssl::context& tls, std::string api_url,
                                               std::string path, std::string token, std::chrono::milliseconds timeout) {
  RestRequest r;
  r.path = std::move(path);
  r.token = std::move(token);
  co_return co_await rest_call(io, tls, std::move(api_url), std::move(r), timeout);
}

asio::awaitable<Result<RestResponse>> rest_call(asio::io_context&, ssl::context& tls, std::string api_url,
                                                RestRequest rr, std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  auto u = boost::urls::parse_uri(api_url);
  if (!u || (u->scheme() != "http" && u->scheme() != "https"))
    co_return fail(Errc::bad_input, fmt::format("'{}' is not an http:// or https:// URL", api_url));
  const bool https = u->scheme() == "https";
  std::string host(u->host_address());
  std::string port = u->has_port() ? std::string(u->port()) : (https ? "443" : "80");
  std::string target = std::string(u->path()) + rr.path;
  auto verb = http::string_to_verb(rr.method);
  if (verb == http::verb::unknown) co_return fail(Errc::bad_input, "unknown HTTP method " + rr.method);

  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "DiscordBot (https://github.com/shardline, 0.1) Shardline");
  if (!rr.token.empty()) req.set(http::field::authorization, "Bot " + rr.token);
  if (!rr.json_body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(rr.json_body);
  }
  req.prepare_payload();

  auto sock = co_await net::connect_tcp(host, port, deadline);
  if (!sock) co_return sock.error();
  if (!https) {
    beast::tcp_stream stream(std::move(*sock));
    stream.expires_at(deadline);
    auto out = co_await exchange(stream, std::move(req));
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return out;
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(*sock), tls);
  auto& lowest = beast::get_lowest_layer(stream);
  auto shaken = co_await net::tls_handshake(stream, lowest.socket(), host, deadline);
  if (!shaken) co_return shaken.error();
  lowest.expires_at(deadline);
  co_return co_await exchange(stream, std::move(req));
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
