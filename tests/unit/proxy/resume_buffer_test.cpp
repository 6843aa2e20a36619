#include "proxy/resume_buffer.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace shardline::proxy {
namespace {

std::shared_ptr<const std::string> text(const char* s) { return std::make_shared<const std::string>(s); }

std::vector<std::uint64_t> after(const ResumeBuffer& b, std::uint64_t index) {
  std::vector<std::uint64_t> out;
  b.for_each_after(index, [&](const FeedEvent& e) { out.push_back(e.index); });
  return out;
}

TEST(ResumeBuffer, NumbersEventsFromOneAndReplaysWhatFollowsAnIndex) {
  ResumeBuffer b(10, 1 << 20);
  EXPECT_EQ(b.last_index(), 0u);
  EXPECT_TRUE(b.holds_after(0)); // nothing yet: nothing missed
  for (int i = 0; i < 4; ++i) b.push("MESSAGE_CREATE", text("{}"));
  EXPECT_EQ(b.last_index(), 4u);
  EXPECT_TRUE(b.holds_after(0));
  EXPECT_EQ(after(b, 1), (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_TRUE(after(b, 4).empty());
  EXPECT_FALSE(b.holds_after(5)); // a position the buffer never reached
}

TEST(ResumeBuffer, ForgetsTheOldestBeyondItsCount) {
  ResumeBuffer b(3, 1 << 20);
  for (int i = 0; i < 5; ++i) b.push("MESSAGE_CREATE", text("{}"));
  EXPECT_EQ(b.size(), 3u);
  EXPECT_FALSE(b.holds_after(1)); // event 2 is gone
  EXPECT_TRUE(b.holds_after(2));
  EXPECT_EQ(after(b, 2), (std::vector<std::uint64_t>{3, 4, 5}));
}

TEST(ResumeBuffer, ForgetsTheOldestBeyondItsBytesButKeepsTheNewest) {
  ResumeBuffer b(100, 300);
  b.push("A", std::make_shared<const std::string>(std::string(200, 'x')));
  b.push("B", std::make_shared<const std::string>(std::string(200, 'x')));
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(after(b, 1), (std::vector<std::uint64_t>{2}));
  b.push("C", std::make_shared<const std::string>(std::string(1000, 'x'))); // alone over budget
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(b.last_index(), 3u);
}

TEST(ResumeBuffer, KeepsTheTargetOfAnEvent) {
  ResumeBuffer b(10, 1 << 20);
  auto& e = b.push("GUILD_MEMBERS_CHUNK", text("{}"), "session-a");
  EXPECT_EQ(e.target, "session-a");
  EXPECT_EQ(e.type, "GUILD_MEMBERS_CHUNK");
}

} // namespace
} // namespace shardline::proxy
