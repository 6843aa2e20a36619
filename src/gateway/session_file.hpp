#pragma once
// A shard's resumable session, kept on disk in SHARD_DATA_DIR so that a restarted cluster
// process (crash, kill -9, rolling restart) RESUMEs instead of spending an IDENTIFY. One small
// JSON file per shard, replaced atomically (write a temporary file, fsync, rename), so a crash
// in the middle of a save leaves the previous state, never a torn one.
//
// A session is bound to what it belongs to (SessionBinding): the bot (its token), the Discord it
// was made with (DISCORD_API_URL: a test's simulator is not Discord) and the layout (the shard
// count). A data directory brought from elsewhere (another environment, a simulator that is
// gone) must not send a shard after a resume URL that no longer exists.

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
  // A digest of the API base alone (SessionBinding), only to say which part differs when
  // `binding` (the base's) does not match; `binding` alone decides.
  std::string binding_api;
};

// What sessions of this process belong to, and the rule that refuses those of anything else.
// Neither the token nor the API URL is written anywhere: a file holds two keyed digests, and
// the token cannot be recovered from them.
//
// A session without a binding (saved by a Shardline before bindings, or by hand) is refused:
// nothing says where it came from, and a RESUME of a session that is not ours costs at best a
// failed round trip, at worst (a resume URL that is gone) a shard that never comes up. It costs
// one IDENTIFY per shard, once, after an upgrade.
class SessionBinding {
public:
  SessionBinding(std::string_view api_base, std::string_view token);

  // Lowercase hex of HMAC-SHA256 over the API base and `shard_count`, keyed by a digest of the
  // token: equal for the same bot, API and layout, and different if any of them differs.
  std::string binding(std::uint32_t shard_count) const;
  // A short digest of the API base alone, so a refusal can say which of the three differs.
  const std::string& api_digest() const { return api_digest_; }
  // Why `s` may not be resumed by a shard of `shard_count` shards here; nullopt if it may.
  // Compares in constant time.
  std::optional<std::string> refusal(const SavedSession& s, std::uint32_t shard_count) const;
  // Writes this process's binding into `s`.
  void bind(SavedSession& s) const;

private:
  std::string key_;        // a digest of the token: the token itself is not kept here
  std::string api_base_;   // without trailing '/'
  std::string api_digest_; // 16 hex digits
};

// How a session id appears in logs: its first 8 characters, enough to follow one session
// through a log, not enough to resume it (with the token, a whole id would be).
inline std::string session_for_log(const std::string& session_id) { return session_id.substr(0, 8); }

class SessionFileStore {
public:
  // `dir` is created on the first save. Every session saved is bound with `binding`, and one
  // loaded that is not bound to it is refused.
  SessionFileStore(std::filesystem::path dir, SessionBinding binding);

  // Writes <dir>/shard-<id>-of-<count>.json. Returns false (and sets `error`) on I/O failure;
  // never throws.
  // `durable` false skips the fsyncs: the file then survives the process (kill -9) but not
  // necessarily the machine; for the frequent saves while events flow, where an fsync per
  // shard per second would hold up the io thread.
  bool save(const SavedSession& s, std::string& error, bool durable = true) const;
  // The saved session of that shard layout, if any, well-formed and bound to this process
  // (otherwise treated as absent, and why reported in `error` when given).
  std::optional<SavedSession> load(std::uint32_t shard_id, std::uint32_t shard_count,
                                   std::string* error = nullptr) const;
  // Deletes it (a session Discord invalidated must not be tried again). Missing is fine.
  void remove(std::uint32_t shard_id, std::uint32_t shard_count) const;
  std::filesystem::path path_of(std::uint32_t shard_id, std::uint32_t shard_count) const;
  const std::filesystem::path& dir() const { return dir_; }
  const SessionBinding& binding() const { return binding_; }

private:
  std::filesystem::path dir_;
  SessionBinding binding_;
};

} // namespace shardline::gateway
