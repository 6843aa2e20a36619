// zlib-stream as a client sees it: every message ends with the sync-flush marker and
// inflates, with one zlib context for the whole connection, to exactly what was sent. For
// both engines; and ISA-L's stream is as compact as zlib's and uses deflate's fixed codes, so
// a client inflates it as cheaply as Discord's.

#include "sim/event_generator.hpp"
#include "sim/gateway_protocol.hpp"
#include "net/zlib_stream.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

using namespace shardline;
using namespace shardline::sim;
using namespace shardline::net;

namespace {

class Inflater {
public:
  Inflater() { EXPECT_EQ(inflateInit(&z_), Z_OK); }
  ~Inflater() { inflateEnd(&z_); }
  // Inflates one message, which must be complete: all input consumed, ending 00 00 ff ff.
  std::string message(std::string compressed, std::size_t expect_size) {
    EXPECT_GE(compressed.size(), 4u);
    EXPECT_EQ(compressed.substr(compressed.size() - 4), std::string("\x00\x00\xff\xff", 4));
    std::string out(expect_size + 64, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(compressed.data());
    z_.avail_in = static_cast<uInt>(compressed.size());
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z_, Z_SYNC_FLUSH);
    EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR) << rc;
    EXPECT_EQ(z_.avail_in, 0u);
    out.resize(out.size() - z_.avail_out);
    return out;
  }

private:
  z_stream z_{};
};

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& ch : s) ch = static_cast<char>(rng());
  return s;
}

struct Engine {
  const char* name;
  DeflateEngine engine;
};

class SimZlibStream : public ::testing::TestWithParam<Engine> {};

} // namespace

TEST_P(SimZlibStream, EveryMessageInflatesWithOneContext) {
  World w({300, 4});
  ZlibStream z(GetParam().engine);
  Inflater in;
  std::string big(100'000, 'a');
  for (int i = 0; i < 100; ++i) big[i * 997 % big.size()] = char('b' + i % 20);
  // Bytes the trained tables never saw, incompressible ones (which make the output larger
  // than the input), and a 1 MiB message, between ordinary frames.
  std::vector<std::string> messages{std::string(hello_frame(1000)), "{}", big, random_bytes(70'000, 1),
                                    std::string(heartbeat_ack_frame()), random_bytes(1 << 20, 2),
                                    "\x01\x02\xfe\xff"};
  EventGenerator gen(w, 11);
  for (int i = 0; i < 3000; ++i) {
    auto& ev = gen.next(1767225600000ULL + i);
    messages.push_back(dispatch_frame(ev.type, i + 1, ev.data));
  }
  std::size_t raw = 0, wire = 0;
  std::string out;
  for (auto& msg : messages) {
    z.compress_into(msg, out);
    wire += out.size();
    raw += msg.size();
    ASSERT_EQ(in.message(out, msg.size()), msg);
  }
  // Real compression, not stored blocks: the stream as a whole shrinks.
  EXPECT_LT(wire, raw * 9 / 10) << GetParam().name;
  // Nothing to flush is a caller's bug, refused rather than sent as a message without marker.
  EXPECT_THROW(z.compress_into("", out), std::invalid_argument);
  EXPECT_EQ(in.message(z.compress("{}"), 2), "{}"); // and the stream goes on
}

INSTANTIATE_TEST_SUITE_P(Engines, SimZlibStream,
                         ::testing::Values(Engine{"zlib", DeflateEngine::zlib}, Engine{"isal", DeflateEngine::isal}),
                         [](const auto& engine) { return std::string(engine.param.name); });

// Each gateway message of the ISA-L stream is one fixed-code block (BTYPE 01) and the
// 00 00 ff ff marker: no code table to send or for the client to build per message. And the
// stream is within 10 % of zlib level 1's size.
TEST(SimZlibStreamIsal, FixedCodesAndZlibSizedOutput) {
  World w({300, 4});
  ZlibStream isal(DeflateEngine::isal), zlib(DeflateEngine::zlib);
  EventGenerator gen(w, 12);
  std::size_t a = 0, b = 0;
  for (int i = 0; i < 2000; ++i) {
    auto& ev = gen.next(1767225600000ULL + i);
    auto frame = dispatch_frame(ev.type, i + 1, ev.data);
    auto c = isal.compress(frame);
    // The first message starts with the 2-byte zlib header; the block header follows.
    auto first = static_cast<unsigned char>(c[i == 0 ? 2 : 0]);
    EXPECT_EQ((first >> 1) & 3, 1) << "message " << i << " is not a fixed-code block";
    a += c.size();
    b += zlib.compress(frame).size();
  }
  EXPECT_LT(a, b * 11 / 10);
}
