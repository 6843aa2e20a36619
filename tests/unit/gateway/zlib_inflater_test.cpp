// zlib-stream as Discord sends it: one deflate context for the connection, each payload
// ending with a sync flush (00 00 ff ff), possibly split over several websocket messages.
// The streams here come from zlib itself, made the way Discord makes them.

#include "gateway/zlib_inflater.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

namespace shardline::gateway {
namespace {

using Result = ZlibInflater::Result;

// The server side: one deflate context, Z_SYNC_FLUSH after each payload.
class Deflater {
public:
  Deflater() { EXPECT_EQ(deflateInit(&z_, Z_DEFAULT_COMPRESSION), Z_OK); }
  ~Deflater() { deflateEnd(&z_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  std::string payload(std::string_view text) {
    std::string out;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z_.avail_in = static_cast<uInt>(text.size());
    char chunk[16384];
    do {
      z_.next_out = reinterpret_cast<Bytef*>(chunk);
      z_.avail_out = sizeof chunk;
      EXPECT_NE(deflate(&z_, Z_SYNC_FLUSH), Z_STREAM_ERROR);
      out.append(chunk, sizeof chunk - z_.avail_out);
    } while (z_.avail_out == 0);
    EXPECT_EQ(out.substr(out.size() - 4), std::string("\x00\x00\xff\xff", 4));
    return out;
  }

private:
  z_stream z_{};
};

std::string dispatch(int seq, std::string_view type, std::string_view data) {
  return R"({"op":0,"s":)" + std::to_string(seq) + R"(,"t":")" + std::string(type) + R"(","d":)" +
         std::string(data) + "}";
}

// About `size` bytes of a GUILD_CREATE-like payload: repetitive but not trivially so.
std::string big_payload(std::size_t size, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string members;
  while (members.size() < size) {
    if (!members.empty()) members += ',';
    members += R"({"user":{"id":")" + std::to_string(rng()) + R"(","username":"u)" + std::to_string(rng() % 100000) +
               R"("},"roles":[")" + std::to_string(rng()) + R"("],"joined_at":"2024-01-01T00:00:00Z"})";
  }
  return dispatch(2, "GUILD_CREATE", R"({"id":"1","members":[)" + members + "]}");
}

TEST(GatewayZlibInflater, PayloadsShareOneContextAcrossMessages) {
  Deflater server;
  ZlibInflater inflater;
  std::string out;
  std::vector<std::string> sent;
  for (int i = 1; i <= 50; ++i) {
    sent.push_back(dispatch(i, "MESSAGE_CREATE", R"({"content":"hello number )" + std::to_string(i) + R"("})"));
    ASSERT_EQ(inflater.feed(server.payload(sent.back()), out), Result::message) << i;
    EXPECT_EQ(out, sent.back());
  }
  // Later payloads refer back to earlier ones: a fresh context cannot read them, which is
  // why the context must live as long as the connection.
  Deflater server2;
  server2.payload(sent[0]);
  const std::string second = server2.payload(sent[0]);
  ZlibInflater fresh;
  EXPECT_EQ(fresh.feed(second, out), Result::error);
}

TEST(GatewayZlibInflater, PayloadSplitOverSeveralMessagesIsBuffered) {
  Deflater server;
  ZlibInflater inflater;
  std::string out;
  const std::string first = dispatch(1, "READY", R"({"session_id":"abc"})");
  ASSERT_EQ(inflater.feed(server.payload(first), out), Result::message);

  const std::string text = big_payload(200'000, 1);
  const std::string compressed = server.payload(text);
  ASSERT_GT(compressed.size(), 3000u);
  const std::size_t a = compressed.size() / 3, b = 2 * compressed.size() / 3;
  out = "untouched";
  EXPECT_EQ(inflater.feed(std::string_view(compressed).substr(0, a), out), Result::need_more);
  EXPECT_EQ(inflater.feed(std::string_view(compressed).substr(a, b - a), out), Result::need_more);
  EXPECT_EQ(out, "untouched") << "out is only written when a payload is complete";
  ASSERT_EQ(inflater.feed(std::string_view(compressed).substr(b), out), Result::message);
  EXPECT_EQ(out, text);

  // The next payload, in one message, still inflates with the same context.
  const std::string after = dispatch(3, "TYPING_START", "{}");
  ASSERT_EQ(inflater.feed(server.payload(after), out), Result::message);
  EXPECT_EQ(out, after);
}

// A split can fall anywhere, even inside the flush marker itself.
TEST(GatewayZlibInflater, SplitInsideTheFlushMarkerWaitsForTheRest) {
  Deflater server;
  ZlibInflater inflater;
  std::string out;
  const std::string text = dispatch(1, "RESUMED", "null");
  const std::string compressed = server.payload(text);
  EXPECT_EQ(inflater.feed(std::string_view(compressed).substr(0, compressed.size() - 2), out), Result::need_more);
  ASSERT_EQ(inflater.feed(std::string_view(compressed).substr(compressed.size() - 2), out), Result::message);
  EXPECT_EQ(out, text);
}

TEST(GatewayZlibInflater, OneMegabytePayloadInflatesWhole) {
  Deflater server;
  ZlibInflater inflater;
  std::string out;
  const std::string text = big_payload(1 << 20, 2);
  ASSERT_GE(text.size(), 1u << 20);
  const std::string compressed = server.payload(text);
  ASSERT_EQ(inflater.feed(compressed, out), Result::message);
  EXPECT_EQ(out.size(), text.size());
  EXPECT_EQ(out, text);
  EXPECT_EQ(inflater.bytes_in(), compressed.size());
  EXPECT_EQ(inflater.bytes_out(), text.size());

  // The output buffer keeps its capacity: a small payload afterwards needs no new allocation.
  const auto capacity = out.capacity();
  const auto* storage = out.data();
  const std::string small = dispatch(3, "PRESENCE_UPDATE", "{}");
  ASSERT_EQ(inflater.feed(server.payload(small), out), Result::message);
  EXPECT_EQ(out, small);
  EXPECT_EQ(out.capacity(), capacity);
  EXPECT_EQ(out.data(), storage);
}

TEST(GatewayZlibInflater, CorruptStreamIsAnErrorUntilReset) {
  Deflater server;
  ZlibInflater inflater;
  std::string out;
  ASSERT_EQ(inflater.feed(server.payload(dispatch(1, "READY", "{}")), out), Result::message);

  std::string corrupt = server.payload(dispatch(2, "GUILD_CREATE", R"({"id":"1"})"));
  for (std::size_t i = 0; i + 4 < corrupt.size(); ++i) corrupt[i] = static_cast<char>(0xff - i);
  EXPECT_EQ(inflater.feed(corrupt, out), Result::error);
  // The context is broken now: even a sound continuation of the stream is refused.
  EXPECT_EQ(inflater.feed(server.payload(dispatch(3, "READY", "{}")), out), Result::error);

  inflater.reset();
  Deflater reconnected;
  const std::string text = dispatch(1, "READY", R"({"session_id":"new"})");
  ASSERT_EQ(inflater.feed(reconnected.payload(text), out), Result::message);
  EXPECT_EQ(out, text);
}

TEST(GatewayZlibInflater, GarbageWithAFlushMarkerIsAnError) {
  ZlibInflater inflater;
  std::string out;
  EXPECT_EQ(inflater.feed(std::string("not zlib at all\x00\x00\xff\xff", 19), out), Result::error);
}

TEST(GatewayZlibInflater, PayloadOverTheLimitIsAnError) {
  Deflater server;
  ZlibInflater inflater(1000);
  std::string out;
  const std::string at_limit = dispatch(1, "X", "\"" + std::string(1000 - 29, 'a') + "\"");
  ASSERT_EQ(at_limit.size(), 1000u);
  ASSERT_EQ(inflater.feed(server.payload(at_limit), out), Result::message);
  EXPECT_EQ(out, at_limit);

  const std::string over = dispatch(2, "X", "\"" + std::string(1000 - 28, 'a') + "\"");
  ASSERT_EQ(over.size(), 1001u);
  EXPECT_EQ(inflater.feed(server.payload(over), out), Result::error);
}

// A highly compressible payload (a zip bomb, in effect) is cut off at the limit, not
// inflated to its full size first.
TEST(GatewayZlibInflater, HugelyCompressiblePayloadIsRefusedAtTheLimit) {
  Deflater server;
  ZlibInflater inflater(1 << 20);
  std::string out;
  const std::string bomb(64u << 20, 'a');
  const std::string compressed = server.payload(bomb);
  ASSERT_LT(compressed.size(), 1u << 20);
  EXPECT_EQ(inflater.feed(compressed, out), Result::error);
  // std::string may round an allocation up to twice its previous capacity, no further.
  EXPECT_LE(out.capacity(), 2u * ((1u << 20) + 1));
  EXPECT_EQ(inflater.bytes_out(), 0u);
}

// Split messages that never end in the marker are not buffered without end.
TEST(GatewayZlibInflater, EndlessUnflushedInputIsAnError) {
  ZlibInflater inflater(4096);
  std::string out;
  const std::string chunk(1024, 'x');
  Result r = Result::need_more;
  int fed = 0;
  while (r == Result::need_more && fed < 100) {
    r = inflater.feed(chunk, out);
    ++fed;
  }
  EXPECT_EQ(r, Result::error);
  EXPECT_LT(fed, 100);
}

// A new connection's stream starts with a zlib header the old context does not expect:
// without reset() it is an error, after reset() it inflates.
TEST(GatewayZlibInflater, ResetAcceptsANewStream) {
  std::string out;
  ZlibInflater inflater;
  {
    Deflater first_connection;
    ASSERT_EQ(inflater.feed(first_connection.payload(dispatch(1, "READY", "{}")), out), Result::message);
    // Half a payload left buffered when the connection dropped.
    const std::string partial = first_connection.payload(big_payload(50'000, 3));
    ASSERT_EQ(inflater.feed(std::string_view(partial).substr(0, partial.size() / 2), out), Result::need_more);
  }
  inflater.reset();
  Deflater second_connection;
  const std::string text = dispatch(1, "RESUMED", "null");
  ASSERT_EQ(inflater.feed(second_connection.payload(text), out), Result::message);
  EXPECT_EQ(out, text);

  ZlibInflater not_reset;
  Deflater a, b;
  ASSERT_EQ(not_reset.feed(a.payload(text), out), Result::message);
  EXPECT_EQ(not_reset.feed(b.payload(text), out), Result::error);
}

} // namespace
} // namespace shardline::gateway
