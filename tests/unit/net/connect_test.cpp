// net::connect: one deadline over resolve, connect and the TLS handshake, and errors that say
// which step failed.

#include "net/connect.hpp"

#include <boost/asio.hpp>
#include <gtest/gtest.h>

#include <optional>

namespace shardline::net {
namespace {

using namespace std::chrono_literals;

using Connected = Result<IpcStream>;

asio::awaitable<void> into(asio::awaitable<Connected> a, std::optional<Connected>& out) { out.emplace(co_await std::move(a)); }

// Runs the connect to its end (a Result<IpcStream> has no default value for co_spawn to hold).
std::optional<Connected> run(asio::io_context& io, asio::awaitable<Connected> a) {
  std::optional<Connected> out;
  asio::co_spawn(io, into(std::move(a), out), asio::detached);
  io.run_for(10s);
  return out;
}

TEST(Connect, ReachesAListenerOnLoopback) {
  asio::io_context io;
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto port = acc.local_endpoint().port();
  auto r = run(io, connect("127.0.0.1", port, nullptr, steady::now() + 5s));
  ASSERT_TRUE(r);
  ASSERT_TRUE(*r) << r->error().message;
  EXPECT_FALSE((*r)->is_tls());
}

TEST(Connect, ARefusedPortIsConnectFailedNamingTheAddress) {
  asio::io_context io;
  std::uint16_t port;
  {
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = acc.local_endpoint().port();
  } // closed: nothing listens there now
  auto r = run(io, connect("127.0.0.1", port, nullptr, steady::now() + 5s));
  ASSERT_TRUE(r);
  ASSERT_FALSE(*r);
  EXPECT_TRUE(r->error().is(Errc::connect_failed));
  EXPECT_NE(r->error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << r->error().message;
}

// A server that accepts and then says nothing: the TLS handshake must end at the deadline.
TEST(Connect, ASilentTlsServerTimesOutAtTheDeadline) {
  asio::io_context io;
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto port = acc.local_endpoint().port();
  tcp::socket held(io);
  acc.async_accept(held, [](const boost::system::error_code&) {});
  ssl::context tls(ssl::context::tls_client);
  auto t0 = steady::now();
  auto r = run(io, connect("127.0.0.1", port, &tls, steady::now() + 200ms));
  ASSERT_TRUE(r);
  ASSERT_FALSE(*r);
  EXPECT_TRUE(r->error().is(Errc::timeout)) << r->error().message;
  EXPECT_LT(steady::now() - t0, 3s);
}

TEST(Watchdog, FiresOnlyWhileAlive) {
  asio::io_context io;
  int fired = 0;
  {
    Watchdog gone(io.get_executor(), steady::now() + 10ms, [&] { ++fired; });
  }
  Watchdog alive(io.get_executor(), steady::now() + 10ms, [&] { ++fired; });
  io.run_for(200ms);
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(alive.fired());
}

} // namespace
} // namespace shardline::net
