#pragma once
// The operator commands as Discord application commands, and the check that decides whether
// they must be registered again: PUT /applications/{app}/commands replaces the whole global
// set, so it is sent only when ours differ, and carries the bot's other commands unchanged.

#include <boost/json.hpp>

#include <optional>
#include <string_view>

namespace shardline::commands {

inline constexpr std::size_t kBroadcastMaxChars = 500;

// /clusters, /ipcstatus, /broadcastmsg <message>.
boost::json::array operator_command_set();

// The body to PUT when `registered` (GET /applications/{app}/commands) lacks one of ours or
// has it with another description or options; nullopt when nothing needs to change. Commands
// that are not ours are kept as they are.
std::optional<boost::json::array> commands_to_put(const boost::json::array& registered,
                                                  const boost::json::array& ours);

} // namespace shardline::commands
