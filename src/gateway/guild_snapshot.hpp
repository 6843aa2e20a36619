#pragma once
// The guilds a shard's session holds, kept beside its saved session. A RESUME replays only
// the events a process missed, never the GUILD_CREATEs of its session's start, so a restarted
// process that resumes would otherwise report zero guilds until the next IDENTIFY. Written
// when the list has changed (at most every few seconds, and at shutdown), tied to the session
// id: a snapshot of another session is never used.
//
// Binary, because a shard holds up to 2,500 guilds and the snapshot is rewritten while events
// flow: magic, version, session id, then (guild id, member_count, unavailable) records.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace shardline::gateway {

struct GuildRecord {
  std::uint64_t id = 0;
  std::uint32_t member_count = 0;
  bool unavailable = false;
};

class GuildSnapshotStore {
public:
  explicit GuildSnapshotStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Replaces <dir>/guilds-<id>-of-<count>.bin (temporary file, then rename). False and
  // `error` on I/O failure; never throws.
  bool save(std::uint32_t shard_id, std::uint32_t shard_count, const std::string& session_id,
            const std::vector<GuildRecord>& guilds, std::string& error) const;
  // The snapshot, if it exists, is well-formed and belongs to `session_id`.
  std::optional<std::vector<GuildRecord>> load(std::uint32_t shard_id, std::uint32_t shard_count,
                                               const std::string& session_id) const;
  void remove(std::uint32_t shard_id, std::uint32_t shard_count) const;

private:
  std::filesystem::path path_of(std::uint32_t shard_id, std::uint32_t shard_count) const;
  std::filesystem::path dir_;
};

} // namespace shardline::gateway
