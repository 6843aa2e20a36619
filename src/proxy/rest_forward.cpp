#include "proxy/rest_forward.hpp"

#include "net/connect.hpp"
#include "ratelimit/rest_observation.hpp"
#include "ratelimit/rest_route.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace shardline::proxy {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

template <class Stream>
asio::awaitable<Result<ForwardResponse>> exchange(Stream& stream, http::request<http::string_body> req,
                                                  std::size_t max_body_bytes) {
  auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
  if (wec == beast::error::timeout) co_return fail(Errc::timeout, "sending the request timed out");
  if (wec) co_return fail(Errc::closed, "sending the request failed: " + wec.message());
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body_bytes);
  auto [rec, rn] = co_await http::async_read(stream, buf, parser, use_tuple);
  if (rec == beast::error::timeout) co_return fail(Errc::timeout, "reading the response timed out");
  if (rec) co_return fail(Errc::closed, "reading the response failed: " + rec.message());
  auto& res = parser.get();
  ForwardResponse out;
  out.status = res.result_int();
  for (auto& f : res) {
    std::string_view name(f.name_string().data(), f.name_string().size());
    if (forwarded_header(name)) out.headers.emplace_back(name, std::string_view(f.value().data(), f.value().size()));
  }
  out.body = std::move(res.body());
  co_return out;
}

} // namespace

bool forwarded_header(std::string_view name) {
  static constexpr std::string_view kDropped[] = {"connection", "keep-alive",   "transfer-encoding", "upgrade",
                                                  "te",         "trailer",      "host",              "content-length",
                                                  "proxy-authorization", "proxy-authenticate", "proxy-connection"};
  for (auto d : kDropped)
    if (iequals(name, d)) return false;
  return !name.empty();
}

asio::awaitable<Result<ForwardResponse>> forward_rest(asio::ssl::context& tls, std::string api_url, ForwardRequest fr,
                                                      std::chrono::milliseconds timeout, std::size_t max_body_bytes) {
  const auto deadline = steady::now() + timeout;
  auto u = boost::urls::parse_uri(api_url);
  if (!u || (u->scheme() != "http" && u->scheme() != "https"))
    co_return fail(Errc::bad_input, fmt::format("'{}' is not an http:// or https:// URL", api_url));
  const bool https = u->scheme() == "https";
  std::string host(u->host_address());
  std::string port = u->has_port() ? std::string(u->port()) : (https ? "443" : "80");
  std::string base(u->path());
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto verb = http::string_to_verb(fr.method);
  if (verb == http::verb::unknown) co_return fail(Errc::bad_input, "unknown HTTP method " + fr.method);

  http::request<http::string_body> req{verb, base + fr.target, 11};
  for (auto& [name, value] : fr.headers)
    if (forwarded_header(name)) req.insert(name, value);
  req.set(http::field::host, u->has_port() ? host + ":" + port : host);
  req.keep_alive(false);
  req.body() = std::move(fr.body);
  if (!req.body().empty() || verb == http::verb::post || verb == http::verb::put || verb == http::verb::patch)
    req.prepare_payload();

  auto sock = co_await net::connect_tcp(host, port, deadline);
  if (!sock) co_return sock.error();
  if (!https) {
    beast::tcp_stream stream(std::move(*sock));
    stream.expires_at(deadline);
    auto out = co_await exchange(stream, std::move(req), max_body_bytes);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return out;
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(*sock), tls);
  auto& lowest = beast::get_lowest_layer(stream);
  auto shaken = co_await net::tls_handshake(stream, lowest.socket(), host, deadline);
  if (!shaken) co_return shaken.error();
  lowest.expires_at(deadline);
  co_return co_await exchange(stream, std::move(req), max_body_bytes);
}

bool paced_count_header(std::string_view name) {
  static constexpr std::string_view kCounts[] = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
                                                 "x-ratelimit-reset-after"};
  for (auto c : kCounts)
    if (iequals(name, c)) return true;
  return false;
}

asio::awaitable<GatedForward> forward_in_turn(asio::ssl::context& tls, std::string api_url,
                                              std::shared_ptr<ratelimit::RestGate> gate, ForwardRequest fr,
                                              std::chrono::milliseconds timeout, std::size_t max_body_bytes) {
  const auto route = ratelimit::classify_rest_route(fr.method, fr.target);
  GatedForward out;
  for (int attempt = 0;; ++attempt) {
    ratelimit::RestPermit permit;
    if (gate) {
      auto asked = route; // named: no temporary inside the co_await (g++ 12)
      auto admission = co_await gate->acquire(std::move(asked), attempt > 0);
      if (admission.kind != ratelimit::RestAdmission::Kind::granted) {
        out.refused = std::move(admission);
        co_return out;
      }
      permit = admission.permit;
    }
    auto url = api_url;
    auto sent = fr; // each attempt sends the same request
    out.answer = co_await forward_rest(tls, std::move(url), std::move(sent), timeout, max_body_bytes);
    if (!gate) co_return out;
    if (!out.answer) {
      gate->report(permit, ratelimit::RestObservation{});
      co_return out;
    }
    auto& r = *out.answer;
    auto header = [&r](std::string_view name) {
      for (auto& [n, v] : r.headers)
        if (iequals(n, name)) return std::string_view(v);
      return std::string_view();
    };
    auto seen = ratelimit::observe_answer(r.status, header, r.body);
    gate->report(permit, seen);
    const bool banned = seen.status == 429 && seen.scope.empty() && !seen.has_bucket_headers() && !seen.global;
    if (seen.status == 429 && !banned && attempt < 2) continue;
    if (r.status != 429) std::erase_if(r.headers, [](const auto& h) { return paced_count_header(h.first); });
    co_return out;
  }
}

} // namespace shardline::proxy
