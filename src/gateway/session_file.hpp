#pragma once
// A shard's resumable session, kept on disk in SHARD_DATA_DIR so that a restarted cluster
// process (crash, kill -9, rolling restart) RESUMEs instead of spending an IDENTIFY. One small
// JSON file per shard, replaced atomically (write a temporary file, fsync, rename), so a crash
// in the middle of a save leaves the previous state, never a torn one.

#include "protocol/session_fields.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace shardline::gateway {

// A shard's session (protocol::ShardSession, the one struct the hub and the link use too) and
// when it was saved.
struct SavedSession : protocol::ShardSession {
  std::int64_t saved_at_unix_ms = 0;
};

// How a session id appears in logs: its first 8 characters, enough to follow one session
// through a log, not enough to resume it (with the token, a whole id would be).
inline std::string session_for_log(const std::string& session_id) { return session_id.substr(0, 8); }

class SessionFileStore {
public:
  // `dir` is created on the first save.
  explicit SessionFileStore(std::filesystem::path dir);

  // Writes <dir>/shard-<id>-of-<count>.json. Returns false (and sets `error`) on I/O failure;
  // never throws.
  // `durable` false skips the fsyncs: the file then survives the process (kill -9) but not
  // necessarily the machine; for the frequent saves while events flow, where an fsync per
  // shard per second would hold up the io thread.
  bool save(const SavedSession& s, std::string& error, bool durable = true) const;
  // The saved session of that shard layout, if any and well-formed (a corrupt file is
  // treated as absent, and reported in `error` when given).
  std::optional<SavedSession> load(std::uint32_t shard_id, std::uint32_t shard_count,
                                   std::string* error = nullptr) const;
  // Deletes it (a session Discord invalidated must not be tried again). Missing is fine.
  void remove(std::uint32_t shard_id, std::uint32_t shard_count) const;
  std::filesystem::path path_of(std::uint32_t shard_id, std::uint32_t shard_count) const;
  const std::filesystem::path& dir() const { return dir_; }

private:
  std::filesystem::path dir_;
};

} // namespace shardline::gateway
