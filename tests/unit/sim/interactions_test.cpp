// Interactions: one callback within 3 s, then edits and follow-ups for 15 minutes.

#include "sim/interaction_store.hpp"

#include <gtest/gtest.h>

using namespace shardline;
using namespace shardline::sim;
using namespace std::chrono_literals;

class SimInteractions : public ::testing::Test {
protected:
  ManualClock clock;
  InteractionStore store{InteractionLimits{3000ms, 900'000ms, 3, 2}, clock.clock(), 1};
  Interaction& make(std::uint64_t id) { return store.create(id, InteractionSpec{"ping", "[]", 1, 2, 3}); }
};

TEST_F(SimInteractions, CallbackOnceWithinThreeSeconds) {
  auto& in = make(100);
  EXPECT_GE(in.token.size(), 64u);
  auto token = in.token;
  EXPECT_EQ(store.callback(100, "wrong", 4, "{}"), InteractionError::unknown_interaction);
  EXPECT_EQ(store.callback(101, token, 4, "{}"), InteractionError::unknown_interaction);
  EXPECT_EQ(store.callback(100, token, 7, "{}"), InteractionError::bad_callback_type);
  clock.advance(2999ms);
  EXPECT_EQ(store.callback(100, token, 4, R"({"type":4})"), InteractionError::none);
  EXPECT_EQ(store.callback(100, token, 4, "{}"), InteractionError::already_acknowledged);
  EXPECT_EQ(store.find(100)->callback_type, 4);
  EXPECT_EQ(store.find(100)->callback_json, R"({"type":4})");
}

TEST_F(SimInteractions, LateCallbackIsUnknown) {
  auto token = make(100).token;
  clock.advance(3001ms);
  EXPECT_EQ(store.callback(100, token, 5, "{}"), InteractionError::unknown_interaction);
}

TEST_F(SimInteractions, EditsAndFollowupsAfterAnAck) {
  auto token = make(100).token;
  EXPECT_EQ(store.edit_original(token, "{}"), InteractionError::not_acknowledged);
  EXPECT_EQ(store.followup(token, "{}"), InteractionError::not_acknowledged);
  EXPECT_EQ(store.callback(100, token, 5, "{}"), InteractionError::none);
  clock.advance(10min);
  EXPECT_EQ(store.edit_original(token, R"({"content":"a"})"), InteractionError::none);
  EXPECT_EQ(store.followup(token, R"({"content":"b"})"), InteractionError::none);
  EXPECT_EQ(store.followup(token, R"({"content":"c"})"), InteractionError::none);
  EXPECT_EQ(store.followup(token, R"({"content":"d"})"), InteractionError::none); // accepted, not kept
  auto* in = store.find(100);
  EXPECT_EQ(in->edits, (std::vector<std::string>{R"({"content":"a"})"}));
  EXPECT_EQ(in->followups.size(), 2u);
  EXPECT_EQ(store.followup("nope", "{}"), InteractionError::unknown_webhook);
  clock.advance(5min + 1ms);
  EXPECT_EQ(store.followup(token, "{}"), InteractionError::unknown_webhook);
}

TEST_F(SimInteractions, ModalHasNoOriginal) {
  auto token = make(100).token;
  EXPECT_EQ(store.callback(100, token, 9, "{}"), InteractionError::none);
  EXPECT_EQ(store.edit_original(token, "{}"), InteractionError::no_original);
}

TEST_F(SimInteractions, OldestForgottenBeyondTheCap) {
  auto first = make(1).token;
  make(2);
  make(3);
  make(4);
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.find(1), nullptr);
  EXPECT_EQ(store.callback(1, first, 4, "{}"), InteractionError::unknown_interaction);
  EXPECT_NE(store.find(4), nullptr);
}
