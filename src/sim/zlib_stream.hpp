#pragma once
// Transport compression for `compress=zlib-stream`: one deflate stream per connection, kept
// for the connection's whole life. Each message is flushed with a sync flush, so every
// websocket message ends with 00 00 ff ff and a client can inflate it with its one shared
// zlib context as soon as it arrives.
//
// Two engines make the same format. zlib level 1 spends about 7 us per flushed message
// whatever its size (it rebuilds Huffman trees at every flush), which caps one thread near
// 100,000 events/s before anything else is done. ISA-L's igzip at its fastest level, with
// Huffman tables trained once on a sample of the stream, spends about 2 us and compresses
// gateway JSON about 70 % as well (measured in docs/benchmarks.md). ISA-L is the default;
// zlib is there for a stream closer to what Discord sends.

#include <memory>
#include <string>
#include <string_view>

namespace shardline::sim {

enum class DeflateEngine { isal, zlib };

// Huffman tables for ISA-L, built from a sample of the messages that will be compressed.
// Shared by every stream; must outlive them.
class DeflateTables {
public:
  explicit DeflateTables(std::string_view sample);
  ~DeflateTables();
  DeflateTables(const DeflateTables&) = delete;
  DeflateTables& operator=(const DeflateTables&) = delete;
  const void* native() const { return tables_.get(); }

private:
  struct Tables;
  std::unique_ptr<Tables> tables_;
};

class ZlibStream {
public:
  // zlib at `level`.
  explicit ZlibStream(int level = 6);
  // `engine`; `tables` (ISA-L only) may be null for ISA-L's generic tables.
  ZlibStream(DeflateEngine engine, const DeflateTables* tables);
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

} // namespace shardline::sim
