#include "sim/world_events.hpp"

#include "sim/gateway_conn.hpp"
#include "sim/gateway_protocol.hpp"

#include <spdlog/spdlog.h>

namespace shardline::sim {

void send_guilds(Sim& sim, Session& s) {
  bool in_outage = !sim.outage_over && sim.clock() < sim.outage_end;
  bool waits = false;
  for (auto* g : sim.world.guilds_of_shard(s.shard_id(), s.num_shards())) {
    if (g->unavailable_at_start && in_outage) {
      dispatch(sim, s, "GUILD_DELETE", guild_unavailable_data(*g));
      waits = true;
    } else {
      dispatch(sim, s, "GUILD_CREATE", guild_create_data(sim.world, *g, s.large_threshold));
    }
  }
  if (waits) sim.awaiting_outage.push_back(s.id());
}

void end_outage(Sim& sim) {
  sim.outage_over = true;
  std::size_t sent = 0;
  for (auto& id : sim.awaiting_outage) {
    auto* s = sim.sessions.find(id);
    if (!s || s->invalidated) continue;
    for (auto* g : sim.world.guilds_of_shard(s->shard_id(), s->num_shards()))
      if (g->unavailable_at_start) {
        dispatch(sim, *s, "GUILD_CREATE", guild_create_data(sim.world, *g, s->large_threshold));
        ++sent;
      }
  }
  sim.awaiting_outage.clear();
  spdlog::info("guild outage over: {} GUILD_CREATE sent to waiting sessions", sent);
}

std::size_t dispatch_to_guild(Sim& sim, std::uint64_t guild_id, const char* type, const std::string& data,
                              std::uint64_t intent_bit) {
  std::size_t n = 0;
  for (auto* s : sim.sessions.active()) {
    if (World::shard_of(guild_id, s->num_shards()) != s->shard_id()) continue;
    if (intent_bit && !(s->intents & intent_bit)) continue;
    dispatch(sim, *s, type, data);
    ++n;
  }
  return n;
}

std::uint64_t join_guild(Sim& sim, std::uint64_t unix_ms) {
  auto& g = sim.world.join(unix_ms);
  for (auto* s : sim.sessions.active())
    if ((s->intents & intent::guilds) && World::shard_of(g.id, s->num_shards()) == s->shard_id())
      dispatch(sim, *s, "GUILD_CREATE", guild_create_data(sim.world, g, s->large_threshold));
  return g.id;
}

bool leave_guild(Sim& sim, std::uint64_t id) {
  auto* g = sim.world.find(id);
  // A guild in an outage is still owed its GUILD_CREATE; it stays, and so does the last one
  // (the event stream needs a guild).
  if (!g || (g->unavailable_at_start && !sim.outage_over) || sim.world.guilds().size() < 2) return false;
  sim.world.leave(id);
  for (auto* s : sim.sessions.active())
    if ((s->intents & intent::guilds) && World::shard_of(id, s->num_shards()) == s->shard_id())
      dispatch(sim, *s, "GUILD_DELETE", guild_removed_data(id));
  return true;
}

void churn_guilds(Sim& sim, std::uint64_t unix_ms) {
  if (sim.churn_rng() % 2 == 0) join_guild(sim, unix_ms);
  else leave_guild(sim, sim.world.guilds()[sim.churn_rng() % sim.world.guilds().size()].id);
}

} // namespace shardline::sim
