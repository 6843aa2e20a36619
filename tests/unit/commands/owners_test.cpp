#include "commands/owners.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

namespace shardline::commands {
namespace {

using ::testing::HasSubstr;
using Ids = std::set<std::uint64_t>;

// --- BOT_OWNER_ID -----------------------------------------------------------------------

TEST(CommandOwnersSetting, ASnowflakeIsTheOnlyOwner) {
  auto o = owners_from_setting("184405311681986560");
  EXPECT_TRUE(o.known());
  EXPECT_EQ(o.ids, (Ids{184405311681986560ULL}));
  EXPECT_TRUE(o.contains(184405311681986560ULL));
  EXPECT_FALSE(o.contains(184405311681986561ULL));
  EXPECT_EQ(o.source, "BOT_OWNER_ID");
}

TEST(CommandOwnersSetting, UnsetOrInvalidMeansNoOwner) {
  for (const char* s : {"", "0", "abc", "123abc", " 123", "123 ", "-5", "99999999999999999999999"}) {
    auto o = owners_from_setting(s);
    EXPECT_FALSE(o.known()) << "'" << s << "'";
    EXPECT_TRUE(o.ids.empty()) << "'" << s << "'";
    EXPECT_FALSE(o.contains(0)) << "'" << s << "'";
  }
}

// --- GET /oauth2/applications/@me -------------------------------------------------------

TEST(CommandOwnersApplication, UserOwnedApplication) {
  // Shape of Discord's answer for an application owned by one user: `team` is null.
  const char* body = R"({
    "id": "1000000000000000001", "name": "Shardline Bot", "icon": null, "description": "",
    "bot_public": true, "bot_require_code_grant": false, "verify_key": "abcdef",
    "owner": {"id": "200000000000000002", "username": "alice", "global_name": "Alice",
              "avatar": null, "discriminator": "0", "public_flags": 0, "flags": 0},
    "team": null, "flags": 0, "tags": []
  })";
  ApplicationInfo app;
  std::string error;
  ASSERT_TRUE(parse_application(body, app, error)) << error;
  EXPECT_EQ(app.id, 1000000000000000001ULL);
  EXPECT_EQ(app.owners.ids, (Ids{200000000000000002ULL}));
  EXPECT_TRUE(app.owners.contains(200000000000000002ULL));
  EXPECT_FALSE(app.owners.source.empty());
}

TEST(CommandOwnersApplication, UserOwnedApplicationWithoutTeamKey) {
  ApplicationInfo app;
  std::string error;
  ASSERT_TRUE(parse_application(R"({"id":"5","owner":{"id":"6"}})", app, error)) << error;
  EXPECT_EQ(app.id, 5u);
  EXPECT_EQ(app.owners.ids, (Ids{6}));
}

TEST(CommandOwnersApplication, TeamOwnedApplicationCountsAcceptedMembersAndTheTeamOwner) {
  // For a team, `owner` is a placeholder user standing for the team; the people are the
  // members who accepted (membership_state 2). An invited member (1) is not an owner.
  const char* body = R"({
    "id": "1000000000000000001", "name": "Team Bot",
    "owner": {"id": "900000000000000009", "username": "team900000000000000009", "avatar": null,
              "discriminator": "0000", "flags": 1024},
    "team": {
      "id": "500000000000000005", "name": "Ops", "icon": null,
      "owner_user_id": "300000000000000003",
      "members": [
        {"membership_state": 2, "team_id": "500000000000000005", "role": "admin", "permissions": ["*"],
         "user": {"id": "300000000000000003", "username": "boss", "discriminator": "0", "avatar": null}},
        {"membership_state": 2, "team_id": "500000000000000005", "role": "developer", "permissions": ["*"],
         "user": {"id": "300000000000000004", "username": "dev", "discriminator": "0", "avatar": null}},
        {"membership_state": 1, "team_id": "500000000000000005", "role": "developer", "permissions": ["*"],
         "user": {"id": "300000000000000005", "username": "invited", "discriminator": "0", "avatar": null}}
      ]
    }
  })";
  ApplicationInfo app;
  std::string error;
  ASSERT_TRUE(parse_application(body, app, error)) << error;
  EXPECT_EQ(app.id, 1000000000000000001ULL);
  EXPECT_EQ(app.owners.ids, (Ids{300000000000000003ULL, 300000000000000004ULL}));
  EXPECT_FALSE(app.owners.contains(300000000000000005ULL)) << "an invitation not yet accepted grants nothing";
  EXPECT_FALSE(app.owners.contains(900000000000000009ULL)) << "the team's placeholder user is nobody";
  EXPECT_THAT(app.owners.source, HasSubstr("Ops"));
}

TEST(CommandOwnersApplication, TeamOwnerUserIdCountsEvenIfNotListedAsMember) {
  const char* body = R"({"id":"1","owner":{"id":"9"},
    "team":{"id":"5","name":"T","owner_user_id":"7",
            "members":[{"membership_state":1,"user":{"id":"8"}}]}})";
  ApplicationInfo app;
  std::string error;
  ASSERT_TRUE(parse_application(body, app, error)) << error;
  EXPECT_EQ(app.owners.ids, (Ids{7}));
}

TEST(CommandOwnersApplication, TeamWithOnlyInvitedMembersHasNoOwner) {
  const char* body = R"({"id":"1","owner":{"id":"9"},
    "team":{"id":"5","name":"T","members":[{"membership_state":1,"user":{"id":"8"}}]}})";
  ApplicationInfo app;
  std::string error;
  EXPECT_FALSE(parse_application(body, app, error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(app.owners.contains(8));
  EXPECT_FALSE(app.owners.contains(9));
}

TEST(CommandOwnersApplication, MemberWithoutAcceptedStateIsNotAnOwner) {
  // Only an explicit ACCEPTED (2) grants access: a missing or ill-typed state does not.
  const char* body = R"({"id":"1","owner":{"id":"9"},
    "team":{"id":"5","name":"T","owner_user_id":"7",
            "members":[{"user":{"id":"8"}},{"membership_state":"2","user":{"id":"6"}}]}})";
  ApplicationInfo app;
  std::string error;
  ASSERT_TRUE(parse_application(body, app, error)) << error;
  EXPECT_EQ(app.owners.ids, (Ids{7}));
}

TEST(CommandOwnersApplication, MalformedBodiesAreRefusedWithAnError) {
  const char* bodies[] = {
      "",
      "not json",
      "<html>502 Bad Gateway</html>",
      "[]",
      "null",
      R"("a string")",
      R"({"id":"1")",                                        // truncated
      R"({"owner":{"id":"2"}})",                             // no application id
      R"({"id":"","owner":{"id":"2"}})",                     // empty id
      R"({"id":"abc","owner":{"id":"2"}})",                  // id not a snowflake
      R"({"id":"1"})",                                       // no owner and no team
      R"({"id":"1","owner":null,"team":null})",              // both null
      R"({"id":"1","owner":{"username":"x"}})",              // owner without id
      R"({"message":"401: Unauthorized","code":0})",         // an error body
  };
  for (const char* body : bodies) {
    ApplicationInfo app;
    std::string error;
    EXPECT_FALSE(parse_application(body, app, error)) << body;
    EXPECT_FALSE(error.empty()) << body;
    EXPECT_FALSE(app.owners.known()) << body;
  }
}

TEST(CommandOwnersApplication, DeeplyNestedBodyIsRefusedNotCrashing) {
  std::string body = R"({"id":"1","owner":{"id":"2"},"x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  ApplicationInfo app;
  std::string error;
  EXPECT_NO_THROW(EXPECT_FALSE(parse_application(body, app, error)));
  EXPECT_FALSE(error.empty());
}

TEST(CommandOwnersApplication, ParsingAgainReplacesEarlierOwners) {
  ApplicationInfo app;
  std::string error;
  ASSERT_TRUE(parse_application(R"({"id":"1","owner":{"id":"2"}})", app, error));
  ASSERT_TRUE(parse_application(R"({"id":"3","owner":{"id":"4"}})", app, error));
  EXPECT_EQ(app.id, 3u);
  EXPECT_EQ(app.owners.ids, (Ids{4}));
}

} // namespace
} // namespace shardline::commands
