#pragma once
// One connection's byte stream: plain TCP, or TLS over TCP. A single concrete type keeps the
// hub and link code free of templates; the TLS branch costs one predictable test per call.

#include <utility>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <memory>
#include <string>

// The Asio names every networked module uses, declared once for all of them.
namespace shardline {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
} // namespace shardline

namespace shardline::net {

class IpcStream {
public:
  explicit IpcStream(tcp::socket socket) : plain_(std::move(socket)) {}
  IpcStream(tcp::socket socket, ssl::context& tls)
      : plain_(socket.get_executor()),
        tls_(std::make_unique<ssl::stream<tcp::socket>>(std::move(socket), tls)) {}

  bool is_tls() const { return tls_ != nullptr; }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  ssl::stream<tcp::socket>* tls() { return tls_.get(); }

  template <class Buffers, class Handler>
  auto async_read_some(const Buffers& b, Handler&& h) {
    if (tls_) return tls_->async_read_some(b, std::forward<Handler>(h));
    return plain_.async_read_some(b, std::forward<Handler>(h));
  }

  // Closes the socket; pending operations complete with operation_aborted.
  void close() {
    boost::system::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

  std::string remote_address() {
    boost::system::error_code ec;
    auto ep = socket().remote_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
  }

private:
  tcp::socket plain_;
  std::unique_ptr<ssl::stream<tcp::socket>> tls_;
};

} // namespace shardline::net
