#pragma once
// A shard's gateway connection as the shard sees it: one websocket, plain or TLS, behind a small
// interface (read, write, close, force-close), and the connector that opens one. The real one
// (websocket_connector) is Boost.Beast over net::connect_tcp and net::tls_handshake; a unit test
// gives the shard a scripted fake instead. No Beast type appears here: only ws_connection.cpp
// compiles Beast.
//
// All on the shard's io_context thread. A connection may be used by two coroutines at once, one
// reading and one writing (or closing), as a websocket allows.

#include "core/clock.hpp"
#include "core/error.hpp"
#include "gateway/gateway_url.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace shardline::gateway {

// One websocket message as received: text, or binary (a zlib-stream piece).
struct WsMessage {
  std::string_view data; // valid until the next read()
  bool binary = false;
};

class WsConnection {
public:
  virtual ~WsConnection() = default;
  // The next message. An error (closed) when the connection ended: the server's close frame
  // (close_code() tells its code), EOF, a reset, force_close().
  virtual boost::asio::awaitable<Result<WsMessage>> read() = 0;
  // Sends one text message.
  virtual boost::asio::awaitable<Result<void>> write(std::string_view text) = 0;
  // Our close frame with `code`, and the server's answer (bounded by the connect timeout).
  virtual boost::asio::awaitable<Result<void>> close(std::uint16_t code) = 0;
  // The code of the server's close frame, once read() failed because of it.
  virtual std::optional<std::uint16_t> close_code() const = 0;
  // Drops the TCP connection now: pending operations complete with an error.
  virtual void force_close() = 0;
};

class WsConnector {
public:
  virtual ~WsConnector() = default;
  // Connects (TCP, TLS for wss://, the websocket upgrade) before `deadline`: connect_failed or
  // timeout otherwise.
  virtual boost::asio::awaitable<Result<std::shared_ptr<WsConnection>>> connect(GatewayTarget target,
                                                                                 steady::time_point deadline) = 0;
};

// Websockets with Boost.Beast. `tls` (for wss://) must outlive the connector and its
// connections; `handshake_timeout` also bounds a connection's close handshake.
std::shared_ptr<WsConnector> websocket_connector(boost::asio::ssl::context& tls,
                                                 std::chrono::milliseconds handshake_timeout);

} // namespace shardline::gateway
