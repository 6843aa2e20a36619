// Where a shard connects: the URL from /gateway/bot or READY, with the query every gateway
// connection carries.

#include "gateway/gateway_url.hpp"

#include <gtest/gtest.h>

namespace shardline::gateway {
namespace {

TEST(GatewayUrl, DiscordsUrlIsTlsOnPort443WithTheQuery) {
  auto g = parse_gateway_url("wss://gateway.discord.gg", true);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_TRUE(g->tls);
  EXPECT_EQ(g->host, "gateway.discord.gg");
  EXPECT_EQ(g->port, "443");
  EXPECT_EQ(g->target, "/?v=10&encoding=json&compress=zlib-stream");
}

TEST(GatewayUrl, ThePlainSimulatorUrlKeepsItsPortAndPath) {
  auto g = parse_gateway_url("ws://127.0.0.1:4242/gw", false);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_FALSE(g->tls);
  EXPECT_EQ(g->host, "127.0.0.1");
  EXPECT_EQ(g->port, "4242");
  EXPECT_EQ(g->target, "/gw?v=10&encoding=json");
  EXPECT_EQ(parse_gateway_url("ws://localhost", false)->port, "80");
}

TEST(GatewayUrl, OtherSchemesAndNonUrlsAreRefused) {
  for (const char* bad : {"https://gateway.discord.gg", "gateway.discord.gg", "", "ws://exa mple"}) {
    auto g = parse_gateway_url(bad, true);
    ASSERT_FALSE(g) << bad;
    EXPECT_TRUE(g.error().is(Errc::bad_input));
  }
}

} // namespace
} // namespace shardline::gateway
