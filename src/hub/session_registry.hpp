#pragma once
// Discord sessions of every shard of the bot, held by the hub (docs/protocol.md §12).
//
// A cluster saves its shards' sessions on local disk so a restarted process RESUMEs instead of
// spending an IDENTIFY. A cluster restarted elsewhere (another machine, a lost disk, a replacement
// spawned by a supervisor) has no such disk, so clusters also report their sessions to the hub and
// a new process looks them up there. This class is the pure store: validation, the merge rule, the
// cap and expiry. No sockets, no timers; it reads the time through the Clock it is given, so tests
// drive it with a ManualClock.

#include "core/clock.hpp"
#include "protocol/hub_messages.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shardline::hub {


using protocol::SessionLookup;
using protocol::SessionReport;
using protocol::SessionReportItem;

struct StoredSession {
  std::uint32_t shard_id = 0;
  std::uint32_t shard_count = 0;
  std::string session_id;
  std::uint64_t seq = 0;
  std::string resume_url;
  std::string binding;     // as reported (opaque here; empty: none)
  std::string reported_by; // the reporting cluster's name
  steady::time_point reported_at{};
};

struct SessionReportResult {
  enum class Status { ok, bad_request, too_many_sessions } status = Status::ok;
  std::string message;     // bad_request / too_many_sessions: the reason, for the error frame
  std::size_t stored = 0;  // entries written (new, newer, or the same seq refreshed)
  std::size_t deleted = 0; // entries removed by a null session_id
  std::size_t ignored = 0; // stale (same session, lower seq) or deleting what was not stored
};

struct SessionRegistryOptions {
  // Entries kept in all. Each costs at most ~1 KiB; the cap bounds what broken or hostile peers
  // can make the hub hold (one entry per (shard, shard_count) ever reported, until expiry).
  std::size_t max_entries = 1u << 16;
  // Discord does not keep a session resumable much longer than a few minutes after its
  // connection closes: an older entry would only make the new process fail a RESUME.
  std::chrono::seconds max_age{600};
};

class SessionRegistry {
public:
  explicit SessionRegistry(Clock clock, SessionRegistryOptions options = {});

  // Applies a whole report, or nothing (bad_request, too_many_sessions). Entries apply in array
  // order. Per (shard_id, shard_count): an entry with the stored session_id and a lower seq is
  // stale (reports from before and after a reconnect can arrive out of order) and ignored; the
  // same seq refreshes the entry's time; a higher seq or another session_id replaces it.
  SessionReportResult report(const SessionReport& r, std::string_view reporter);
  // The sessions known for these shards of this layout, each once, in the order asked; unknown
  // shards are left out. Expired entries are dropped first. Invalid input yields nothing (the
  // the hub decodes lookups with protocol::SessionLookup::read, which applies the same rules, and answers bad_request).
  std::vector<StoredSession> lookup(const SessionLookup& l);
  // Drops every entry older than max_age. Cheap when nothing expired (entries are kept in time
  // order too), so the hub calls it from its sweeper.
  std::size_t expire();
  // Entries held, after expiry.
  std::size_t size();

  const SessionRegistryOptions& options() const { return opt_; }

private:
  using Key = std::pair<std::uint32_t, std::uint32_t>; // shard_count, shard_id
  void erase(std::map<Key, StoredSession>::iterator it);

  Clock clock_;
  SessionRegistryOptions opt_;
  std::map<Key, StoredSession> entries_;
  std::set<std::pair<steady::time_point, Key>> by_time_; // oldest first, for expiry
};

} // namespace shardline::hub
