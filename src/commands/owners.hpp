#pragma once
// Who may use the operator commands: BOT_OWNER_ID when it is set, otherwise the owner of the
// application as GET /oauth2/applications/@me reports it (for a team-owned application,
// every member who accepted the invitation).

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace shardline::commands {

struct OwnerSet {
  std::set<std::uint64_t> ids;
  std::string source; // for the log: "BOT_OWNER_ID", "application owner", "team Foo (3 members)"

  bool known() const { return !ids.empty(); }
  bool contains(std::uint64_t user_id) const { return ids.count(user_id) != 0; }
};

struct ApplicationInfo {
  std::uint64_t id = 0;
  OwnerSet owners;
};

// The owners from BOT_OWNER_ID (already validated by the configuration); empty if unset.
OwnerSet owners_from_setting(std::string_view bot_owner_id);

// Parses GET /oauth2/applications/@me. False (and `error`) when the body is not an
// application with an id and an owner or team.
bool parse_application(std::string_view body, ApplicationInfo& out, std::string& error);

} // namespace shardline::commands
