#pragma once
#include <string>

namespace shardline {
// One stderr logger for the process: ISO time, level, message. Level from SHARDLINE_LOG
// (trace, debug, info, warn, error), default info.
void init_logging(const std::string& process_name);
} // namespace shardline
