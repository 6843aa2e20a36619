#include "gateway/guild_snapshot.hpp"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <system_error>

namespace shardline::gateway {

namespace {

constexpr char kMagic[8] = {'S', 'L', 'G', 'U', 'I', 'L', 'D', '1'};
constexpr std::size_t kMaxGuilds = 1u << 20;   // far above Discord's 2,500 per shard
constexpr std::size_t kMaxSessionId = 256;

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T)); // native byte order: the file never leaves this machine
  out.append(b, sizeof(T));
}

template <class T>
bool get(const std::string& in, std::size_t& at, T& v) {
  if (in.size() - at < sizeof(T)) return false;
  std::memcpy(&v, in.data() + at, sizeof(T));
  at += sizeof(T);
  return true;
}

} // namespace

std::filesystem::path GuildSnapshotStore::path_of(std::uint32_t shard_id, std::uint32_t shard_count) const {
  return dir_ / fmt::format("guilds-{}-of-{}.bin", shard_id, shard_count);
}

bool GuildSnapshotStore::save(std::uint32_t shard_id, std::uint32_t shard_count, const std::string& session_id,
                              const std::vector<GuildRecord>& guilds, std::string& error) const {
  std::string out(kMagic, sizeof kMagic);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(session_id.size()));
  out += session_id;
  put<std::uint64_t>(out, guilds.size());
  out.reserve(out.size() + guilds.size() * 13);
  for (auto& g : guilds) {
    put(out, g.id);
    put(out, g.member_count);
    put<std::uint8_t>(out, g.unavailable ? 1 : 0);
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    error = fmt::format("cannot create {}: {}", dir_.string(), ec.message());
    return false;
  }
  auto path = path_of(shard_id, shard_count);
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!f) {
      error = fmt::format("cannot write {}", tmp.string());
      return false;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    error = fmt::format("cannot rename {}: {}", tmp.string(), ec.message());
    return false;
  }
  return true;
}

std::optional<std::vector<GuildRecord>> GuildSnapshotStore::load(std::uint32_t shard_id, std::uint32_t shard_count,
                                                                 const std::string& session_id) const {
  std::ifstream f(path_of(shard_id, shard_count), std::ios::binary);
  if (!f) return std::nullopt;
  std::string in((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (in.size() < sizeof kMagic || std::memcmp(in.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  std::size_t at = sizeof kMagic;
  std::uint32_t id_len = 0;
  if (!get(in, at, id_len) || id_len > kMaxSessionId || in.size() - at < id_len) return std::nullopt;
  if (in.compare(at, id_len, session_id) != 0 || id_len != session_id.size()) return std::nullopt;
  at += id_len;
  std::uint64_t n = 0;
  if (!get(in, at, n) || n > kMaxGuilds || (in.size() - at) != n * 13) return std::nullopt;
  std::vector<GuildRecord> out(n);
  for (auto& g : out) {
    std::uint8_t u = 0;
    get(in, at, g.id);
    get(in, at, g.member_count);
    get(in, at, u);
    g.unavailable = u != 0;
  }
  return out;
}

void GuildSnapshotStore::remove(std::uint32_t shard_id, std::uint32_t shard_count) const {
  std::error_code ec;
  std::filesystem::remove(path_of(shard_id, shard_count), ec);
}

} // namespace shardline::gateway
