#pragma once
// The world changing while sessions watch it: the guilds a new session is sent, the end of
// the start-up outage, guilds joined and left, and a guild's event sent to the sessions of the
// shard that holds it.

#include "sim/sim_state.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace shardline::sim {

// After READY: a GUILD_CREATE for every guild of the session's shard, or a GUILD_DELETE
// (unavailable) for one still in the outage, whose GUILD_CREATE end_outage sends.
void send_guilds(Sim& sim, Session& s);
void end_outage(Sim& sim);

// Dispatches to every live or resumable session of the guild's shard that asked for
// `intent_bit` (0: every such session). Returns how many sessions it went to.
std::size_t dispatch_to_guild(Sim& sim, std::uint64_t guild_id, const char* type, const std::string& data,
                              std::uint64_t intent_bit);

// The bot joins a new guild (GUILD_CREATE) or leaves one (GUILD_DELETE without `unavailable`),
// told to the sessions of the guild's shard that asked for the GUILDS intent.
std::uint64_t join_guild(Sim& sim, std::uint64_t unix_ms);
// False, and nothing changes, for an unknown guild, one still in its outage, or the last one.
bool leave_guild(Sim& sim, std::uint64_t id);

// The event stream's occasional join or leave, chosen by the simulator's seeded generator.
void churn_guilds(Sim& sim, std::uint64_t unix_ms);

} // namespace shardline::sim
