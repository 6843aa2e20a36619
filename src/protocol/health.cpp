#include "protocol/health.hpp"

namespace shardline::protocol {

Health health_from_heartbeat(double age_s, const HealthThresholds& t) {
  if (age_s < t.heartbeat_green_s) return Health::green;
  if (age_s < t.heartbeat_yellow_s) return Health::yellow;
  return Health::red;
}

Health health_from_stats(double age_s, const HealthThresholds& t) {
  if (age_s < t.stats_green_s) return Health::green;
  if (age_s < t.stats_hide_s) return Health::yellow;
  return Health::hidden;
}

std::string_view to_string(Health h) {
  switch (h) {
  case Health::green: return "green";
  case Health::yellow: return "yellow";
  case Health::red: return "red";
  case Health::hidden: return "hidden";
  }
  return "red";
}

std::string_view to_emoji(Health h) {
  switch (h) {
  case Health::green: return "🟢";
  case Health::yellow: return "🟡";
  default: return "🔴";
  }
}

} // namespace shardline::protocol
