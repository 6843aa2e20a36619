#include "core/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace shardline {

void init_logging(const std::string& process_name) {
  auto logger = spdlog::stderr_logger_mt(process_name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);
}

bool set_log_level(std::string_view level) {
  // spdlog reads an unknown name as "off": check the name first.
  for (auto l : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                 spdlog::level::err, spdlog::level::critical, spdlog::level::off}) {
    auto name = spdlog::level::to_string_view(l);
    if (level == std::string_view(name.data(), name.size()) || (l == spdlog::level::err && level == "error")) {
      spdlog::set_level(l);
      return true;
    }
  }
  return false;
}

} // namespace shardline
