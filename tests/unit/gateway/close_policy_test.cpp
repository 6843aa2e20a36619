// What a shard does after each close code of Discord's table (shared/discord/gateway.md):
// resume, start a new session, or stop and tell the operator what to fix.

#include "gateway/close_policy.hpp"

#include <gtest/gtest.h>

#include <string>

namespace shardline::gateway {
namespace {

TEST(GatewayClosePolicy, ResumableCodesResume) {
  for (std::uint16_t code : {4000, 4001, 4002, 4003, 4005, 4008}) {
    const auto d = decide_close(code);
    EXPECT_EQ(d.action, CloseAction::resume) << code;
    EXPECT_NE(d.reason.find(std::to_string(code)), std::string_view::npos) << d.reason;
  }
}

TEST(GatewayClosePolicy, LostSessionCodesReidentify) {
  for (std::uint16_t code : {4007, 4009}) {
    const auto d = decide_close(code);
    EXPECT_EQ(d.action, CloseAction::reidentify) << code;
    EXPECT_NE(d.reason.find(std::to_string(code)), std::string_view::npos) << d.reason;
  }
}

// A stopped shard's reason is all an operator gets: it must name the code and the setting
// to change.
TEST(GatewayClosePolicy, FatalCodesStopWithTheSettingToChange) {
  const struct {
    std::uint16_t code;
    std::string_view must_mention;
  } cases[] = {
      {4004, "DISCORD_TOKEN"},   {4010, "SHARD_IDS"},       {4010, "SHARD_COUNT"},
      {4011, "SHARD_COUNT"},     {4011, "auto"},            {4012, "API version"},
      {4013, "DISCORD_INTENTS"}, {4014, "DISCORD_INTENTS"}, {4014, "developer portal"},
  };
  for (const auto& c : cases) {
    const auto d = decide_close(c.code);
    EXPECT_EQ(d.action, CloseAction::stop) << c.code;
    EXPECT_NE(d.reason.find(std::to_string(c.code)), std::string_view::npos) << d.reason;
    EXPECT_NE(d.reason.find(c.must_mention), std::string_view::npos) << c.code << ": " << d.reason;
  }
}

TEST(GatewayClosePolicy, NoCloseCodeResumes) {
  const auto d = decide_close(std::nullopt);
  EXPECT_EQ(d.action, CloseAction::resume);
  EXPECT_FALSE(d.reason.empty());
}

// Discord may add codes, and 1xxx closes carry no verdict on the session: resuming is cheap
// and a refused RESUME falls back to IDENTIFY.
TEST(GatewayClosePolicy, ServerNormalAndUnknownCodesResume) {
  for (std::uint16_t code : {1000, 1001, 1006, 1011, 4006, 4015, 4999, 3000}) {
    const auto d = decide_close(code);
    EXPECT_EQ(d.action, CloseAction::resume) << code;
    EXPECT_FALSE(d.reason.empty()) << code;
  }
}

// Only 4004 and 4010-4014 may stop a shard: anything else stopping would take a shard down
// for a condition a retry fixes.
TEST(GatewayClosePolicy, OnlyTheDocumentedCodesStop) {
  for (std::uint32_t code = 1000; code < 5000; ++code) {
    const auto d = decide_close(static_cast<std::uint16_t>(code));
    const bool documented_fatal = code == 4004 || (code >= 4010 && code <= 4014);
    EXPECT_EQ(d.action == CloseAction::stop, documented_fatal) << code;
  }
}

// The codes a shard closes with itself: only 1000/1001 end a session on Discord's side.
TEST(GatewayClosePolicy, OwnCloseCodesKeepOrEndTheSession) {
  EXPECT_NE(kResumeCloseCode, 1000);
  EXPECT_NE(kResumeCloseCode, 1001);
  EXPECT_EQ(kEndSessionCloseCode, 1000);
}

} // namespace
} // namespace shardline::gateway
