#pragma once
// Health colours (docs/protocol.md §7), as pure functions of an age.

#include "core/config.hpp"

#include <string_view>

namespace shardline::protocol {

enum class Health { green, yellow, red, hidden };

// Seen from the hub: by time since the cluster's last heartbeat.
Health health_from_heartbeat(double age_s, const HealthThresholds& t);
// For clusters known only from relayed stats.
Health health_from_stats(double age_s, const HealthThresholds& t);

std::string_view to_string(Health h);
std::string_view to_emoji(Health h);

} // namespace shardline::protocol
