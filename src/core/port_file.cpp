#include "core/port_file.hpp"

#include <filesystem>
#include <fstream>

namespace shardline {

void write_port_file(const std::string& path, std::uint16_t port) {
  if (path.empty()) return;
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << port << "\n";
  }
  std::filesystem::rename(tmp, path);
}

} // namespace shardline
