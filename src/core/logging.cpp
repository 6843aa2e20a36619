#include "core/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace shardline {

void init_logging(const std::string& process_name) {
  auto logger = spdlog::stderr_logger_mt(process_name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  // Flush every line: operators and tests tail these logs while the process runs.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  if (const char* lvl = std::getenv("SHARDLINE_LOG"))
    spdlog::set_level(spdlog::level::from_str(lvl));
}

} // namespace shardline
