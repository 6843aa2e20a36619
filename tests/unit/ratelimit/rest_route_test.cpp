#include "ratelimit/rest_route.hpp"

#include <gtest/gtest.h>

namespace shardline::ratelimit {
namespace {

TEST(RestRoute, MajorParameterIsKeptApartFromTheRoute) {
  auto a = classify_rest_route("post", "/channels/111/messages");
  auto b = classify_rest_route("POST", "/channels/222/messages?nonce=1");
  EXPECT_EQ(a.route, "POST /channels/{channel}/messages");
  EXPECT_EQ(a.route, b.route);
  EXPECT_EQ(a.major, "channel:111");
  EXPECT_EQ(b.major, "channel:222");
  EXPECT_FALSE(a.global_exempt);
}

TEST(RestRoute, MinorIdsAndEmojiAreReplaced) {
  auto r = classify_rest_route("PUT", "/channels/1/messages/99/reactions/%F0%9F%91%8D/@me");
  EXPECT_EQ(r.route, "PUT /channels/{channel}/messages/{id}/reactions/{emoji}/@me");
  EXPECT_EQ(r.major, "channel:1");
  auto ban = classify_rest_route("PUT", "/guilds/5/bans/77");
  EXPECT_EQ(ban.route, "PUT /guilds/{guild}/bans/{id}");
  EXPECT_EQ(ban.major, "guild:5");
  EXPECT_NE(classify_rest_route("DELETE", "/channels/1/messages/2").route,
            classify_rest_route("PATCH", "/channels/1/messages/2").route);
}

TEST(RestRoute, InteractionCallbacksAndTokenWebhooksAreOutsideTheGlobalLimitAndKeepNoToken) {
  auto cb = classify_rest_route("POST", "/interactions/123/secret-token/callback");
  EXPECT_TRUE(cb.global_exempt);
  EXPECT_EQ(cb.route, "POST /interactions/{interaction}/{token}/callback");
  EXPECT_EQ(cb.major, "interaction:123");
  EXPECT_EQ(cb.route.find("secret"), std::string::npos);
  auto wh = classify_rest_route("PATCH", "/webhooks/9/tok/messages/@original");
  EXPECT_TRUE(wh.global_exempt);
  EXPECT_EQ(wh.route.find("tok/"), std::string::npos);
  EXPECT_FALSE(classify_rest_route("GET", "/webhooks/9").global_exempt); // bot-authorized
  EXPECT_FALSE(classify_rest_route("GET", "/gateway/bot").global_exempt);
  EXPECT_EQ(classify_rest_route("GET", "/gateway/bot").major, "");
}

} // namespace
} // namespace shardline::ratelimit
