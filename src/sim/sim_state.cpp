#include "sim/sim_state.hpp"

#include <algorithm>
#include <chrono>

namespace shardline::sim {

Sim::Sim(asio::io_context& context, SimOptions o)
    : io(context), opt(std::move(o)), world(WorldOptions{opt.guilds, opt.seed}),
      identify(IdentifyLimits{opt.max_concurrency, millis(opt.identify_window_ms), opt.session_budget}, clock),
      // Session ids are random, not from the seed: a client must never resume a session of an
      // earlier simulator run by accident.
      sessions(SessionLimits{ReplayLimits{}, millis(opt.resume_ttl_ms)}, clock, std::random_device{}()),
      events(world, opt.seed),
      rest_limiter(RestModel(RestModelOptions{opt.rest_global_per_sec, opt.rest_route_limit, opt.rest_route_window_ms,
                                              opt.rest_buckets, opt.rest_invalid_limit, opt.rest_invalid_window_ms,
                                              opt.rest_ban_ms}),
                   clock),
      interactions(InteractionLimits{}, clock, std::random_device{}()), acceptor(context), sweeper(context),
      started(clock()), outage_end(started + millis(opt.outage_ms)) {}

std::uint64_t Sim::new_id() {
  auto id = World::snowflake(wall_now_ms(), 2, 0, static_cast<std::uint32_t>(next_increment++ % 4096));
  id = std::max(id, last_id + 1);
  last_id = id;
  return id;
}

std::uint64_t wall_now_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<millis>(std::chrono::system_clock::now().time_since_epoch()).count());
}

} // namespace shardline::sim
