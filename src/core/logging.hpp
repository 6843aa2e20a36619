#pragma once
// One stderr logger for the process: ISO time, level, message, flushed every line (operators
// and tests tail these logs while the process runs).

#include <string>
#include <string_view>

namespace shardline {

// Sets up the logger at level info.
void init_logging(const std::string& process_name);

// SHARDLINE_LOG's value (trace, debug, info, warn, error, critical, off; config.cpp checks it):
// false, changing nothing, for anything else. An unknown word must never silence the logs.
bool set_log_level(std::string_view level);

} // namespace shardline
