#pragma once
// --port-file: how a process that bound port 0 tells its parent (a test, a supervisor, a
// script) which port it got.

#include "core/error.hpp"

#include <cstdint>
#include <string>

namespace shardline {

// Writes the port to `path` (nothing if empty), through a temporary name and a rename so a
// reader never sees a partial number.
Result<void> write_port_file(const std::string& path, std::uint16_t port);

} // namespace shardline
