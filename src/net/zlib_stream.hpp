#pragma once
// Transport compression for `compress=zlib-stream`: one deflate stream per connection, kept
// for the connection's whole life. Each message is flushed with a sync flush, so every
// websocket message ends with 00 00 ff ff and a client can inflate it with its one shared
// zlib context as soon as it arrives.
//
// Two engines make the same format. zlib level 1 spends about 7 us per flushed message
// whatever its size (it rebuilds Huffman trees at every flush), which caps one thread near
// 100,000 events/s before anything else is done. ISA-L's igzip at its fastest level with
// deflate's fixed Huffman codes spends about 2 us, and compresses gateway JSON as well as zlib
// level 1 does (small messages gain nothing from trees of their own). Fixed codes also keep
// the client's side realistic: zlib level 1 sends almost every small message with them, so
// the client inflates without building tables per message (measured in docs/benchmarks.md).
// ISA-L is the default; zlib is there for a stream made by the library Discord's looks like.

#include <memory>
#include <string>
#include <string_view>

namespace shardline::net {

enum class DeflateEngine { isal, zlib };

class ZlibStream {
public:
  // zlib at `level`.
  explicit ZlibStream(int level = 6);
  explicit ZlibStream(DeflateEngine engine);
  ~ZlibStream();
  ZlibStream(const ZlibStream&) = delete;
  ZlibStream& operator=(const ZlibStream&) = delete;

  // The compressed bytes of one message (ending 00 00 ff ff). Every gateway message is a
  // JSON object; an empty one throws std::invalid_argument (zlib would write nothing for
  // it, not even the marker). Throws std::runtime_error if the engine fails, which only
  // happens when out of memory.
  std::string compress(std::string_view message);
  // The same into `out` (replacing its contents), reusing its capacity: no allocation per
  // message once `out` has grown to the largest one.
  void compress_into(std::string_view message, std::string& out);

private:
  struct State;
  std::unique_ptr<State> z_;
};

} // namespace shardline::net
