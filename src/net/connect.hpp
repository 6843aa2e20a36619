#pragma once
// The one way Shardline opens a connection (the link to the hub, a shard's gateway websocket, a
// REST call): resolve, connect, and for TLS the server name (SNI), certificate check and
// handshake, every step within one deadline. Failures come back as Result errors whose message
// names the step and the address: connect_failed, or timeout when the deadline passed.

#include "core/clock.hpp"
#include "core/error.hpp"
#include "net/stream.hpp"

#include <fmt/format.h>

#include <functional>
#include <memory>
#include <string>

namespace shardline::net {

// Calls `on_expire` once if `deadline` passes while it is alive (a destroyed Watchdog never
// fires). Bounds an operation that has no deadline of its own: the callback closes its socket
// or cancels its resolver, so the operation completes with an error at once.
class Watchdog {
public:
  Watchdog(asio::any_io_executor ex, steady::time_point deadline, std::function<void()> on_expire);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  bool fired() const;

private:
  struct State;
  std::shared_ptr<State> state_;
};

// Resolves `host` and connects to the first of its addresses that accepts, before `deadline`.
// TCP_NODELAY is set: every protocol Shardline speaks is request/response or latency-bound.
asio::awaitable<Result<tcp::socket>> connect_tcp(std::string host, std::string port, steady::time_point deadline);

// The client side of TLS on a connected stream: SNI and the host-name check of the server's
// certificate (Discord's gateway and API sit behind shared front ends; a hub's certificate names
// its host), then the handshake before `deadline`. `lowest` is the stream's TCP socket, closed
// if the deadline passes. SslStream: asio's ssl::stream or Beast's ssl_stream.
template <class SslStream>
asio::awaitable<Result<void>> tls_handshake(SslStream& stream, tcp::socket& lowest, std::string host,
                                            steady::time_point deadline) {
  if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()))
    co_return fail(Errc::connect_failed, fmt::format("TLS: cannot set the server name {}", host));
  stream.set_verify_mode(ssl::verify_peer);
  stream.set_verify_callback(ssl::host_name_verification(host));
  Watchdog dog(lowest.get_executor(), deadline, [&lowest] {
    boost::system::error_code ignored;
    lowest.close(ignored);
  });
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (dog.fired()) co_return fail(Errc::timeout, fmt::format("TLS handshake timed out ({})", host));
  if (ec) co_return fail(Errc::connect_failed, fmt::format("TLS handshake failed ({}): {}", host, ec.message()));
  co_return Result<void>();
}

// A byte stream to `host`:`port`: plain TCP, or TLS when `tls` is given.
asio::awaitable<Result<IpcStream>> connect(std::string host, std::uint16_t port, ssl::context* tls,
                                           steady::time_point deadline);

} // namespace shardline::net
