#pragma once
// A shard's guild cache kept across a restart of its cluster process: written at shutdown,
// beside the session the shard saves at the same moment (so both describe the same sequence
// number), and read back when the restarted shard RESUMEs that session, which brings no
// READY and no GUILD_CREATEs. Without it a bot process connecting to the restarted endpoint
// would wait for a READY that never comes.
//
// <dir>/cache-<id>-of-<count>.bin: "SLPC1\n", the Discord session id, "\n", then
// GuildCache::serialize(). Replaced atomically (temporary file, rename). A file of another
// session is ignored: its cache describes a session that is gone.

#include "proxy/guild_cache.hpp"

#include "core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace shardline::proxy {

Result<void> save_cache(const std::filesystem::path& dir, std::uint32_t shard_id, std::uint32_t shard_count,
                        std::string_view session_id, const GuildCache& cache);

// The cache saved for exactly this session; nullopt if there is none, it belongs to another
// session, or it does not read back (`error` says why when it is there but unusable). The
// file is removed once read: a later session must not find it.
std::optional<GuildCache> load_cache(const std::filesystem::path& dir, std::uint32_t shard_id,
                                     std::uint32_t shard_count, std::string_view session_id, CacheOptions options,
                                     std::string& error);

} // namespace shardline::proxy
