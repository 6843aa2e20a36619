#include "proxy/cache_file.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <system_error>

namespace shardline::proxy {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "SLPC1\n";
// A cache of 2,500 big guilds with members is well under this; anything larger is not ours.
constexpr std::uintmax_t kMaxFileBytes = 1ull << 30;

fs::path path_of(const fs::path& dir, std::uint32_t shard_id, std::uint32_t shard_count) {
  return dir / fmt::format("cache-{}-of-{}.bin", shard_id, shard_count);
}

} // namespace

Result<void> save_cache(const fs::path& dir, std::uint32_t shard_id, std::uint32_t shard_count,
                        std::string_view session_id, const GuildCache& cache) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(Errc::io, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  const auto target = path_of(dir, shard_id, shard_count);
  auto tmp = target;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kMagic << session_id << '\n' << cache.serialize();
    out.flush();
    if (!out) return fail(Errc::io, fmt::format("cannot write {}", tmp.string()));
  }
  fs::rename(tmp, target, ec);
  if (ec) return fail(Errc::io, fmt::format("cannot rename {}: {}", tmp.string(), ec.message()));
  return {};
}

std::optional<GuildCache> load_cache(const fs::path& dir, std::uint32_t shard_id, std::uint32_t shard_count,
                                     std::string_view session_id, CacheOptions options, std::string& error) {
  const auto p = path_of(dir, shard_id, shard_count);
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  if (ec) return std::nullopt; // none saved
  std::string text;
  if (size <= kMaxFileBytes) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    text = std::move(ss).str();
  }
  fs::remove(p, ec);
  std::string_view v(text);
  if (v.substr(0, kMagic.size()) != kMagic) {
    error = fmt::format("{} is not a saved guild cache", p.string());
    return std::nullopt;
  }
  v.remove_prefix(kMagic.size());
  auto nl = v.find('\n');
  if (nl == std::string_view::npos || session_id.empty() || v.substr(0, nl) != session_id) return std::nullopt;
  auto restored = GuildCache::restore(v.substr(nl + 1), options);
  if (!restored) {
    error = fmt::format("{}: {}", p.string(), restored.error().message);
    return std::nullopt;
  }
  return std::move(*restored);
}

} // namespace shardline::proxy
