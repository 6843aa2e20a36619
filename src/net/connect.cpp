#include "net/connect.hpp"

namespace shardline::net {

struct Watchdog::State {
  explicit State(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  std::function<void()> on_expire;
  bool fired = false;
};

Watchdog::Watchdog(asio::any_io_executor ex, steady::time_point deadline, std::function<void()> on_expire)
    : state_(std::make_shared<State>(std::move(ex))) {
  state_->on_expire = std::move(on_expire);
  state_->timer.expires_at(deadline);
  state_->timer.async_wait([s = state_](const boost::system::error_code& ec) {
    if (ec || !s->on_expire) return; // cancelled: the Watchdog is gone, and so may be its target
    s->fired = true;
    s->on_expire();
  });
}

Watchdog::~Watchdog() {
  state_->on_expire = nullptr;
  state_->timer.cancel();
}

bool Watchdog::fired() const { return state_->fired; }

asio::awaitable<Result<tcp::socket>> connect_tcp(std::string host, std::string port, steady::time_point deadline) {
  constexpr auto use = asio::as_tuple(asio::use_awaitable);
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  tcp::resolver::results_type endpoints;
  {
    Watchdog dog(ex, deadline, [&resolver] { resolver.cancel(); });
    auto [ec, results] = co_await resolver.async_resolve(host, port, use);
    if (dog.fired()) co_return fail(Errc::timeout, fmt::format("cannot resolve {}: timed out", host));
    if (ec) co_return fail(Errc::connect_failed, fmt::format("cannot resolve {}: {}", host, ec.message()));
    endpoints = std::move(results);
  }
  tcp::socket sock(ex);
  Watchdog dog(ex, deadline, [&sock] {
    boost::system::error_code ignored;
    sock.close(ignored);
  });
  auto [ec, ep] = co_await asio::async_connect(sock, endpoints, use);
  if (dog.fired()) co_return fail(Errc::timeout, fmt::format("cannot connect to {}:{}: timed out", host, port));
  if (ec) co_return fail(Errc::connect_failed, fmt::format("cannot connect to {}:{}: {}", host, port, ec.message()));
  boost::system::error_code ignored;
  sock.set_option(tcp::no_delay(true), ignored);
  co_return std::move(sock);
}

asio::awaitable<Result<IpcStream>> connect(std::string host, std::uint16_t port, ssl::context* tls,
                                           steady::time_point deadline) {
  auto sock = co_await connect_tcp(host, std::to_string(port), deadline);
  if (!sock) co_return sock.error();
  if (!tls) co_return IpcStream(std::move(*sock));
  IpcStream stream(std::move(*sock), *tls);
  auto shaken = co_await tls_handshake(*stream.tls(), stream.socket(), host, deadline);
  if (!shaken) co_return shaken.error();
  co_return std::move(stream);
}

} // namespace shardline::net
