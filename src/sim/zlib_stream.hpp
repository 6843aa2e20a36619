#pragma once
// Transport compression for `compress=zlib-stream`: one deflate stream per connection, kept
// for the connection's whole life. Each message is flushed with Z_SYNC_FLUSH, so every
// websocket message ends with 00 00 ff ff and a client can inflate it with its one shared
// context as soon as it arrives.

#include <string>
#include <string_view>

namespace shardline::sim {

class ZlibStream {
public:
  explicit ZlibStream(int level = 6);
  ~ZlibStream();
  ZlibStream(const ZlibStream&) = delete;
  ZlibStream& operator=(const ZlibStream&) = delete;

  // The compressed bytes of one message (ending 00 00 ff ff). Throws std::runtime_error if
  // zlib fails, which only happens when out of memory.
  std::string compress(std::string_view message);
  // The same into `out` (replacing its contents), reusing its capacity: no allocation per
  // message once `out` has grown to the largest one.
  void compress_into(std::string_view message, std::string& out);

private:
  struct State;
  State* z_;
};

} // namespace shardline::sim
