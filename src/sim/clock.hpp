#pragma once
// The simulator reads time through core/clock.hpp's Clock, like every rule Shardline tests.

#include "core/clock.hpp"

namespace shardline::sim {

using shardline::Clock;
using shardline::ManualClock;
using shardline::millis;
using shardline::real_clock;
using shardline::steady;

} // namespace shardline::sim
