#pragma once
// The supervisor's control by an operator (docs/protocol.md §13.1): `launch_request` from
// `shardline restart --rolling`, `shardline reshard` and `shardline clusters`, answered through
// the hub the supervisor hosts. Which request starts what, and why one is refused, is decided
// here, purely; the supervisor (control.cpp) starts the job and answers.

#include "core/error.hpp"
#include "protocol/hub_messages.hpp"
#include "supervisor/reshard.hpp"

#include <cstddef>
#include <cstdint>

namespace shardline::supervisor {

// What the supervisor is and does, as far as its control needs to know.
struct ControlState {
  Activity activity;
  std::size_t clusters = 0;      // slots of the current layout; 0 until the plan is made
  std::uint32_t shard_count = 0; // of the current layout
  bool owns_every_shard = true;  // no SHARD_IDS
  bool runs_bots = false;        // SHARD_BOT_COMMAND is set
};

struct ControlDecision {
  enum class Action { status, rolling_restart, reshard, bot_restart };
  Action action = Action::status;
  std::uint32_t target = 0;       // reshard: the new shard count
  protocol::LaunchStarted answer; // rolling_restart, reshard, bot_restart: the answer once started
};

// What `request` asks for. An error (refused, bad_input, busy) is a request the supervisor turns
// down; its message is the answer's `error`, for the operator.
Result<ControlDecision> decide_control(const protocol::LaunchRequest& request, const ControlState& state);

} // namespace shardline::supervisor
