#include "core/port_file.hpp"

#include <filesystem>
#include <fstream>

namespace shardline {

Result<void> write_port_file(const std::string& path, std::uint16_t port) {
  if (path.empty()) return {};
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << port << "\n";
    if (!out.flush()) return fail(Errc::io, "--port-file: cannot write '" + tmp + "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fail(Errc::io, "--port-file: cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  return {};
}

} // namespace shardline
