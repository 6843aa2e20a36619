#include "protocol/frame_codec.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace shardline::protocol {
namespace {

// Feeds bytes as one read from a socket would.
void feed(FrameDecoder& d, std::string_view bytes) {
  std::size_t avail = 0;
  char* p = d.prepare(avail, bytes.size());
  ASSERT_GE(avail, bytes.size());
  std::memcpy(p, bytes.data(), bytes.size());
  d.commit(bytes.size());
}

struct Drained {
  std::vector<std::string> bodies;
  std::vector<std::string> wires;
  DecodeStatus last;
};

// Takes every whole frame out of the decoder (copying each before the next call).
Drained drain(FrameDecoder& d) {
  Drained out;
  for (;;) {
    std::string_view body, wire;
    out.last = d.next(body, wire);
    if (out.last != DecodeStatus::frame) return out;
    out.bodies.emplace_back(body);
    out.wires.emplace_back(wire);
  }
}

std::string prefix(std::uint32_t n) {
  return std::string{char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
}

const std::vector<std::string> kBodies = {
    R"({"op":"heartbeat","data":{"timestamp":1.5}})",
    R"({"op":"x","data":{}})",
    std::string(5000, 'y'), // larger than the initial buffer
    "1",
};

std::string stream_of(const std::vector<std::string>& bodies) {
  std::string s;
  for (auto& b : bodies) append_frame(s, b);
  return s;
}

TEST(FrameCodec, EncodeFramePrefixIsBigEndianLength) {
  EXPECT_EQ(encode_frame(""), std::string(4, '\0'));
  EXPECT_EQ(encode_frame("{}"), std::string("\x00\x00\x00\x02{}", 6));
  std::string b258(258, 'a');
  auto f = encode_frame(b258);
  ASSERT_EQ(f.size(), 262u);
  EXPECT_EQ(f.substr(0, 4), std::string("\x00\x00\x01\x02", 4));
  EXPECT_EQ(f.substr(4), b258);
  auto big = encode_frame(std::string(kMaxFrameBytes, 'z'));
  EXPECT_EQ(big.substr(0, 4), std::string("\x00\x0f\x42\x40", 4)); // 1,000,000
  EXPECT_EQ(big.size(), kMaxFrameBytes + 4);
}

TEST(FrameCodec, AppendFrameAppends) {
  std::string out = "prior";
  append_frame(out, "ab");
  EXPECT_EQ(out, std::string("prior\x00\x00\x00\x02" "ab", 11));
}

TEST(FrameCodec, SingleFrameRoundTrip) {
  FrameDecoder d;
  const std::string body = R"({"op":"auth","data":{}})";
  feed(d, encode_frame(body));
  std::string_view b, w;
  ASSERT_EQ(d.next(b, w), DecodeStatus::frame);
  EXPECT_EQ(b, body);
  EXPECT_EQ(w, encode_frame(body));
  EXPECT_EQ(d.next(b, w), DecodeStatus::need_more);
  EXPECT_FALSE(d.mid_frame());
}

TEST(FrameCodec, SeveralFramesInOneRead) {
  FrameDecoder d;
  feed(d, stream_of(kBodies));
  auto r = drain(d);
  EXPECT_EQ(r.last, DecodeStatus::need_more);
  EXPECT_EQ(r.bodies, kBodies);
  for (std::size_t i = 0; i < kBodies.size(); ++i) EXPECT_EQ(r.wires[i], encode_frame(kBodies[i]));
  EXPECT_FALSE(d.mid_frame());
}

TEST(FrameCodec, SplitAtEveryChunkSize) {
  const auto stream = stream_of(kBodies);
  for (std::size_t chunk = 1; chunk <= 64; ++chunk) {
    FrameDecoder d(kMaxFrameBytes, 16); // a tiny buffer forces compaction and growth
    std::vector<std::string> got;
    for (std::size_t off = 0; off < stream.size(); off += chunk) {
      feed(d, std::string_view(stream).substr(off, chunk));
      auto r = drain(d);
      ASSERT_EQ(r.last, DecodeStatus::need_more);
      got.insert(got.end(), r.bodies.begin(), r.bodies.end());
    }
    EXPECT_EQ(got, kBodies) << "chunk size " << chunk;
    EXPECT_FALSE(d.mid_frame());
  }
}

TEST(FrameCodec, SplitAtRandomBoundaries) {
  std::vector<std::string> bodies;
  std::mt19937 rng(1234);
  for (int i = 0; i < 200; ++i) {
    std::string b = "{\"n\":" + std::to_string(i) + ",\"pad\":\"" +
                    std::string(std::uniform_int_distribution<int>(0, 3000)(rng), 'p') + "\"}";
    bodies.push_back(b);
  }
  const auto stream = stream_of(bodies);
  FrameDecoder d(kMaxFrameBytes, 64);
  std::vector<std::string> got;
  std::size_t off = 0;
  while (off < stream.size()) {
    auto n = std::min<std::size_t>(std::uniform_int_distribution<std::size_t>(1, 9000)(rng), stream.size() - off);
    feed(d, std::string_view(stream).substr(off, n));
    off += n;
    auto r = drain(d);
    ASSERT_EQ(r.last, DecodeStatus::need_more);
    got.insert(got.end(), r.bodies.begin(), r.bodies.end());
  }
  EXPECT_EQ(got, bodies);
}

TEST(FrameCodec, PartialPrefixNeedsMore) {
  FrameDecoder d;
  feed(d, std::string("\x00\x00", 2));
  std::string_view b, w;
  EXPECT_EQ(d.next(b, w), DecodeStatus::need_more);
  EXPECT_TRUE(d.mid_frame());
  feed(d, std::string("\x00\x01", 2));
  EXPECT_EQ(d.next(b, w), DecodeStatus::need_more);
  feed(d, "7");
  ASSERT_EQ(d.next(b, w), DecodeStatus::frame);
  EXPECT_EQ(b, "7");
}

TEST(FrameCodec, MidFrameTracksPartialFrames) {
  FrameDecoder d;
  EXPECT_FALSE(d.mid_frame());
  auto f = encode_frame("hello");
  feed(d, f.substr(0, 1));
  EXPECT_TRUE(d.mid_frame()); // part of a prefix
  feed(d, f.substr(1, 5));
  std::string_view b, w;
  EXPECT_EQ(d.next(b, w), DecodeStatus::need_more);
  EXPECT_TRUE(d.mid_frame()); // prefix and part of the body
  feed(d, f.substr(6) + encode_frame("next").substr(0, 2));
  ASSERT_EQ(d.next(b, w), DecodeStatus::frame);
  EXPECT_EQ(b, "hello");
  EXPECT_TRUE(d.mid_frame()); // the start of the next frame is buffered
  feed(d, encode_frame("next").substr(2));
  ASSERT_EQ(d.next(b, w), DecodeStatus::frame);
  EXPECT_EQ(b, "next");
  EXPECT_FALSE(d.mid_frame());
}

TEST(FrameCodec, ExactlyTheMaximumIsAccepted) {
  FrameDecoder d;
  std::string body(kMaxFrameBytes, 'm');
  body.front() = '"';
  body.back() = '"';
  const auto wire = encode_frame(body);
  // Delivered as a socket would, 64 KiB at a time.
  std::size_t frames = 0;
  for (std::size_t off = 0; off < wire.size(); off += 65536) {
    feed(d, std::string_view(wire).substr(off, 65536));
    std::string_view b, w;
    auto st = d.next(b, w);
    if (off + 65536 < wire.size()) {
      ASSERT_EQ(st, DecodeStatus::need_more) << off;
      EXPECT_TRUE(d.mid_frame());
    } else {
      ASSERT_EQ(st, DecodeStatus::frame);
      EXPECT_EQ(b.size(), kMaxFrameBytes);
      EXPECT_TRUE(b == body);
      ++frames;
    }
  }
  EXPECT_EQ(frames, 1u);
}

TEST(FrameCodec, OneByteOverTheMaximumIsRefusedFromThePrefixAlone) {
  FrameDecoder d;
  feed(d, prefix(kMaxFrameBytes + 1)); // the body never needs to arrive
  std::string_view b, w;
  EXPECT_EQ(d.next(b, w), DecodeStatus::too_large);
  // The buffer was not grown to hold the announced body.
  EXPECT_LT(d.capacity(), kMaxFrameBytes);
}

TEST(FrameCodec, HugeLengthIsTooLarge) {
  FrameDecoder d;
  feed(d, prefix(0xFFFFFFFFu));
  std::string_view b, w;
  EXPECT_EQ(d.next(b, w), DecodeStatus::too_large);
  EXPECT_LT(d.capacity(), kMaxFrameBytes);
}

TEST(FrameCodec, ZeroLengthIsAViolation) {
  FrameDecoder d;
  feed(d, prefix(0) + encode_frame("{}"));
  std::string_view b, w;
  EXPECT_EQ(d.next(b, w), DecodeStatus::zero_length);
}

TEST(FrameCodec, ViolationAfterGoodFramesIsReportedInOrder) {
  FrameDecoder d;
  feed(d, encode_frame("a") + encode_frame("b") + prefix(kMaxFrameBytes + 1));
  auto r = drain(d);
  EXPECT_EQ(r.bodies, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.last, DecodeStatus::too_large);
}

TEST(FrameCodec, CustomMaximum) {
  FrameDecoder d(100);
  EXPECT_EQ(d.max_frame(), 100u);
  feed(d, encode_frame(std::string(100, 'a')));
  std::string_view b, w;
  EXPECT_EQ(d.next(b, w), DecodeStatus::frame);
  feed(d, prefix(101));
  EXPECT_EQ(d.next(b, w), DecodeStatus::too_large);

  FrameDecoder e;
  e.set_max_frame(10);
  feed(e, encode_frame(std::string(11, 'a')));
  EXPECT_EQ(e.next(b, w), DecodeStatus::too_large);
}

TEST(FrameCodec, PrepareGivesAtLeastTheRequestedRoom) {
  FrameDecoder d(kMaxFrameBytes, 16);
  for (std::size_t want : {1u, 16u, 17u, 2048u, 100000u}) {
    std::size_t avail = 0;
    char* p = d.prepare(avail, want);
    EXPECT_NE(p, nullptr);
    EXPECT_GE(avail, want);
  }
}

TEST(FrameCodec, ShrinkIfIdleGivesMemoryBackAfterALargeFrame) {
  FrameDecoder d;
  feed(d, encode_frame(std::string(kMaxFrameBytes, 'a')));
  std::string_view b, w;
  ASSERT_EQ(d.next(b, w), DecodeStatus::frame);
  EXPECT_GE(d.capacity(), kMaxFrameBytes + kHeaderBytes);
  d.shrink_if_idle(4096);
  EXPECT_EQ(d.capacity(), 4096u);
  // Still decodes afterwards.
  feed(d, encode_frame("after"));
  ASSERT_EQ(d.next(b, w), DecodeStatus::frame);
  EXPECT_EQ(b, "after");
}

TEST(FrameCodec, ShrinkIfIdleKeepsAPendingFrame) {
  FrameDecoder d;
  const std::string body(200000, 'q');
  const auto wire = encode_frame(body);
  feed(d, std::string_view(wire).substr(0, 150000));
  std::string_view b, w;
  ASSERT_EQ(d.next(b, w), DecodeStatus::need_more);
  auto cap = d.capacity();
  d.shrink_if_idle(4096); // not idle: must not drop the buffered half frame
  EXPECT_EQ(d.capacity(), cap);
  feed(d, std::string_view(wire).substr(150000));
  ASSERT_EQ(d.next(b, w), DecodeStatus::frame);
  EXPECT_TRUE(b == body);
}

} // namespace
} // namespace shardline::protocol
