// The real gateway websocket: Boost.Beast over a connection from net::connect_tcp (and, for
// wss://, net::tls_handshake: SNI and the host-name check, as Discord's shared front ends need).
// The only translation unit of the gateway that compiles Beast.

#include "gateway/ws_connection.hpp"

#include "net/connect.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fmt/format.h>

namespace shardline::gateway {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxMessageBytes = 64u << 20;
// A read buffer grown past this by a large message (a big GUILD_CREATE is hundreds of KB) is
// given back before the next read: 16 shards each keeping their largest message would cost more
// than their guilds do.
constexpr std::size_t kKeepBufferBytes = 64 * 1024;

template <class Next>
class BeastConnection final : public WsConnection {
public:
  template <class... Args>
  explicit BeastConnection(Args&&... args) : ws_(std::forward<Args>(args)...) {}

  websocket::stream<Next>& ws() { return ws_; }
  tcp::socket& socket() { return beast::get_lowest_layer(ws_).socket(); }

  asio::awaitable<Result<WsMessage>> read() override {
    buf_.clear();
    if (buf_.capacity() > kKeepBufferBytes) buf_.shrink_to_fit();
    auto [ec, n] = co_await ws_.async_read(buf_, use_tuple);
    if (ec == websocket::error::closed) {
      code_ = static_cast<std::uint16_t>(ws_.reason().code);
      co_return fail(Errc::closed, fmt::format("closed by the server ({})", *code_));
    }
    if (ec) co_return fail(Errc::closed, fmt::format("connection ended: {}", ec.message()));
    co_return WsMessage{std::string_view(static_cast<const char*>(buf_.data().data()), buf_.size()), ws_.got_binary()};
  }

  asio::awaitable<Result<void>> write(std::string_view text) override {
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(text.data(), text.size()), use_tuple);
    if (ec) co_return fail(Errc::closed, fmt::format("write failed: {}", ec.message()));
    co_return Result<void>();
  }

  asio::awaitable<Result<void>> close(std::uint16_t code) override {
    const websocket::close_reason reason(code);
    auto [ec] = co_await ws_.async_close(reason, use_tuple);
    if (ec) co_return fail(Errc::closed, fmt::format("close failed: {}", ec.message()));
    co_return Result<void>();
  }

  std::optional<std::uint16_t> close_code() const override { return code_; }

  void force_close() override {
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

private:
  websocket::stream<Next> ws_;
  beast::flat_buffer buf_;
  std::optional<std::uint16_t> code_;
};

using PlainConnection = BeastConnection<beast::tcp_stream>;
using TlsConnection = BeastConnection<beast::ssl_stream<beast::tcp_stream>>;

template <class Ws>
void configure(Ws& ws, std::chrono::milliseconds handshake_timeout) {
  websocket::stream_base::timeout t{};
  t.handshake_timeout = handshake_timeout;         // also bounds our close handshake
  t.idle_timeout = websocket::stream_base::none(); // heartbeats find dead connections
  t.keep_alive_pings = false;
  ws.set_option(t);
  ws.read_message_max(kMaxMessageBytes);
  ws.auto_fragment(false);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "Shardline (shardline, 0.1)"); }));
}

// The websocket upgrade, before `deadline`.
template <class Conn>
asio::awaitable<Result<void>> upgrade(Conn& conn, std::string host, std::string target,
                                      std::chrono::milliseconds handshake_timeout, steady::time_point deadline) {
  configure(conn.ws(), handshake_timeout);
  auto& sock = conn.socket();
  net::Watchdog dog(sock.get_executor(), deadline, [&sock] {
    boost::system::error_code ignored;
    sock.close(ignored);
  });
  auto [ec] = co_await conn.ws().async_handshake(host, target, use_tuple);
  if (dog.fired()) co_return fail(Errc::timeout, fmt::format("websocket handshake with {} timed out", host));
  if (ec) co_return fail(Errc::connect_failed, fmt::format("websocket handshake with {} failed: {}", host, ec.message()));
  co_return Result<void>();
}

class BeastConnector final : public WsConnector {
public:
  BeastConnector(ssl::context& tls, std::chrono::milliseconds handshake_timeout)
      : tls_(tls), handshake_timeout_(handshake_timeout) {}

  asio::awaitable<Result<std::shared_ptr<WsConnection>>> connect(GatewayTarget t, steady::time_point deadline) override {
    auto sock = co_await net::connect_tcp(t.host, t.port, deadline);
    if (!sock) co_return sock.error();
    if (!t.tls) {
      auto conn = std::make_shared<PlainConnection>(std::move(*sock));
      std::string host_header = t.host + ":" + t.port;
      auto up = co_await upgrade(*conn, std::move(host_header), t.target, handshake_timeout_, deadline);
      if (!up) co_return up.error();
      co_return std::shared_ptr<WsConnection>(std::move(conn));
    }
    auto conn = std::make_shared<TlsConnection>(std::move(*sock), tls_);
    auto shaken = co_await net::tls_handshake(conn->ws().next_layer(), conn->socket(), t.host, deadline);
    if (!shaken) co_return shaken.error();
    auto up = co_await upgrade(*conn, t.host, t.target, handshake_timeout_, deadline);
    if (!up) co_return up.error();
    co_return std::shared_ptr<WsConnection>(std::move(conn));
  }

private:
  ssl::context& tls_;
  std::chrono::milliseconds handshake_timeout_;
};

} // namespace

std::shared_ptr<WsConnector> websocket_connector(ssl::context& tls, std::chrono::milliseconds handshake_timeout) {
  return std::make_shared<BeastConnector>(tls, handshake_timeout);
}

} // namespace shardline::gateway
