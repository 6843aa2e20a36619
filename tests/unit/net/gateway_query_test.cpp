// The gateway URL's query as the simulator and the bot endpoint check it: what Discord accepts
// passes, and each refusal carries the close code Discord uses for it.
#include "net/gateway_query.hpp"

#include "gateway/gateway_codes.hpp"

#include <gtest/gtest.h>

namespace shardline::net {
namespace {

namespace close_code = gateway::close_code;

TEST(GatewayQuery, WhatDiscordAcceptsPasses) {
  for (const char* target : {"/", "/?v=10", "/?v=10&encoding=json", "/?encoding=json&v=10&compress=zlib-stream"}) {
    auto q = check_gateway_query(target);
    EXPECT_EQ(q.refusal, 0) << target << ": " << q.why;
  }
  EXPECT_FALSE(check_gateway_query("/?v=10&encoding=json").zlib_stream);
  EXPECT_TRUE(check_gateway_query("/?v=10&encoding=json&compress=zlib-stream").zlib_stream);
}

TEST(GatewayQuery, EachRefusalHasDiscordsCloseCode) {
  EXPECT_EQ(check_gateway_query("/?v=9").refusal, close_code::invalid_api_version);
  EXPECT_EQ(check_gateway_query("/?v=10&encoding=etf").refusal, close_code::decode_error);
  auto q = check_gateway_query("/?v=10&compress=zstd-stream");
  EXPECT_EQ(q.refusal, close_code::decode_error);
  EXPECT_NE(q.why.find("zlib-stream"), std::string::npos) << q.why;
  EXPECT_EQ(check_gateway_query("no origin form").refusal, close_code::decode_error);
}

} // namespace
} // namespace shardline::net
