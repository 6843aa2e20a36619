#pragma once
// The client side of `compress=zlib-stream`: one inflate context per connection, kept for its
// whole life (a new connection needs a new Inflater, or reset()). Binary websocket messages
// are buffered until one ends with 00 00 ff ff; then everything buffered is inflated with the
// shared context and the text of one gateway payload comes out.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace shardline::gateway {

class ZlibInflater {
public:
  // `max_message_bytes`: the largest inflated payload accepted (a guard against a corrupt
  // or hostile stream inflating without end); Discord's largest (a big GUILD_CREATE) is a few
  // MB.
  explicit ZlibInflater(std::size_t max_message_bytes = 64u << 20);
  ~ZlibInflater();
  ZlibInflater(const ZlibInflater&) = delete;
  ZlibInflater& operator=(const ZlibInflater&) = delete;

  enum class Result {
    need_more, // buffered: the message does not end with the flush marker yet
    message,   // `out` holds one complete inflated payload
    error,     // corrupt stream or over max_message_bytes: close the connection (and reset)
  };
  // Feeds one binary websocket message. On `message`, `out` is replaced with the payload
  // (its capacity reused: no allocation per message once it has grown).
  Result feed(std::string_view compressed, std::string& out);
  // A fresh context for a new connection.
  void reset();
  // Bytes fed and produced since construction (for stats).
  std::uint64_t bytes_in() const { return bytes_in_; }
  std::uint64_t bytes_out() const { return bytes_out_; }

private:
  struct State;
  std::unique_ptr<State> z_;
  std::string pending_; // compressed bytes of a message split over several websocket messages
  std::size_t max_;
  std::uint64_t bytes_in_ = 0, bytes_out_ = 0;
};

} // namespace shardline::gateway
