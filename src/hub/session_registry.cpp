#include "hub/session_registry.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace shardline::hub {

namespace json = boost::json;

namespace {

// A non-negative integer no larger than `max`; integral doubles (1.0) are accepted, as a JSON
// writer may emit them, everything else (strings, fractions, negatives, bools) is not.
bool read_uint(const json::value& v, std::uint64_t max, std::uint64_t& out) {
  if (v.is_uint64()) out = v.get_uint64();
  else if (v.is_int64() && v.get_int64() >= 0) out = static_cast<std::uint64_t>(v.get_int64());
  else if (v.is_double() && v.get_double() >= 0 && v.get_double() <= 9007199254740992.0 /* 2^53 */ &&
           v.get_double() == std::floor(v.get_double()))
    out = static_cast<std::uint64_t>(v.get_double());
  else return false;
  return out <= max;
}

// Reads the required integer `key` of `o`. Returns the error message, or empty.
template <class T>
std::string uint_field(const json::object& o, std::string_view key, T& out, std::string_view where = {}) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return fmt::format("{}{} is required", where, key);
  std::uint64_t n = 0;
  constexpr auto max = std::numeric_limits<T>::max();
  if (!read_uint(*v, max, n)) return fmt::format("{}{} must be an integer 0..{}", where, key, max);
  out = static_cast<T>(n);
  return {};
}

std::string check_shard_count(std::uint32_t n) {
  if (n < 1 || n > kMaxSessionShardCount) return fmt::format("shard_count must be 1..{}", kMaxSessionShardCount);
  return {};
}

} // namespace

std::string validate_session_report(const SessionReport& r) {
  if (auto err = check_shard_count(r.shard_count); !err.empty()) return err;
  if (r.sessions.size() > kMaxSessionsPerFrame)
    return fmt::format("sessions has {} entries, at most {} per report", r.sessions.size(), kMaxSessionsPerFrame);
  for (std::size_t i = 0; i < r.sessions.size(); ++i) {
    const auto& s = r.sessions[i];
    if (s.shard_id >= r.shard_count)
      return fmt::format("sessions[{}].shard_id {} is not below shard_count {}", i, s.shard_id, r.shard_count);
    if (!s.session_id) continue; // a deletion needs nothing else
    if (!valid_session_id(*s.session_id))
      return fmt::format("sessions[{}].session_id must be 1..{} characters of A-Z a-z 0-9 _ - (or null)", i,
                         kMaxSessionIdChars);
    if (!valid_resume_url(s.resume_url))
      return fmt::format("sessions[{}].resume_url must be a ws:// or wss:// URL of at most {} printable characters",
                         i, kMaxResumeUrlChars);
  }
  return {};
}

std::string validate_session_lookup(const SessionLookup& l) {
  if (auto err = check_shard_count(l.shard_count); !err.empty()) return err;
  if (l.shard_ids.size() > kMaxSessionsPerFrame)
    return fmt::format("shard_ids has {} entries, at most {} per lookup", l.shard_ids.size(), kMaxSessionsPerFrame);
  for (std::size_t i = 0; i < l.shard_ids.size(); ++i)
    if (l.shard_ids[i] >= l.shard_count)
      return fmt::format("shard_ids[{}] {} is not below shard_count {}", i, l.shard_ids[i], l.shard_count);
  return {};
}

std::string parse_session_report(const json::object& data, SessionReport& out) {
  out = SessionReport{};
  if (auto err = uint_field(data, "shard_count", out.shard_count); !err.empty()) return err;
  auto* arr = data.if_contains("sessions");
  if (!arr || !arr->is_array()) return "sessions must be an array";
  const auto& a = arr->get_array();
  // Count first: a huge array is refused before anything is copied out of it.
  if (a.size() > kMaxSessionsPerFrame)
    return fmt::format("sessions has {} entries, at most {} per report", a.size(), kMaxSessionsPerFrame);
  out.sessions.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto where = fmt::format("sessions[{}].", i);
    if (!a[i].is_object()) return fmt::format("sessions[{}] must be an object", i);
    const auto& o = a[i].get_object();
    SessionReportItem item;
    if (auto err = uint_field(o, "shard_id", item.shard_id, where); !err.empty()) return err;
    auto* sid = o.if_contains("session_id");
    if (!sid) return where + "session_id is required (null deletes the shard's session)";
    if (sid->is_string()) item.session_id = std::string(sid->get_string());
    else if (!sid->is_null()) return where + "session_id must be a string or null";
    // A deletion may leave seq and resume_url out; when present they are still checked, so a
    // peer's encoding bug shows up instead of being ignored.
    const bool deleting = !item.session_id;
    if (auto* v = o.if_contains("seq"); !deleting || (v && !v->is_null())) {
      if (auto err = uint_field(o, "seq", item.seq, where); !err.empty()) return err;
    }
    if (auto* v = o.if_contains("resume_url"); v && !v->is_null()) {
      if (!v->is_string()) return where + "resume_url must be a string";
      if (v->get_string().size() > kMaxResumeUrlChars)
        return fmt::format("{}resume_url is longer than {} characters", where, kMaxResumeUrlChars);
      item.resume_url = std::string(v->get_string());
    } else if (!deleting) {
      return where + "resume_url is required";
    }
    out.sessions.push_back(std::move(item));
  }
  return validate_session_report(out);
}

std::string parse_session_lookup(const json::object& data, SessionLookup& out) {
  out = SessionLookup{};
  if (auto err = uint_field(data, "shard_count", out.shard_count); !err.empty()) return err;
  auto* arr = data.if_contains("shard_ids");
  if (!arr || !arr->is_array()) return "shard_ids must be an array";
  const auto& a = arr->get_array();
  if (a.size() > kMaxSessionsPerFrame)
    return fmt::format("shard_ids has {} entries, at most {} per lookup", a.size(), kMaxSessionsPerFrame);
  out.shard_ids.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::uint64_t n = 0;
    if (!read_uint(a[i], std::numeric_limits<std::uint32_t>::max(), n))
      return fmt::format("shard_ids[{}] must be an integer 0..{}", i, std::numeric_limits<std::uint32_t>::max());
    out.shard_ids.push_back(static_cast<std::uint32_t>(n));
  }
  return validate_session_lookup(out);
}

SessionRegistry::SessionRegistry(Clock clock, SessionRegistryOptions options)
    : clock_(std::move(clock)), opt_(options) {}

SessionReportResult SessionRegistry::report(const SessionReport& r, std::string_view reporter) {
  using S = SessionReportResult::Status;
  SessionReportResult out;
  if (auto err = validate_session_report(r); !err.empty()) return {S::bad_request, err};
  expire(); // expired entries must not count against the cap

  // The cap applies to the state after the whole report, which is applied all or nothing: a
  // report that deletes some shards and adds others is judged by what it leaves. Only presence
  // matters for the count, so a dry run tracks that per shard the report touches.
  std::unordered_map<std::uint32_t, bool> present;
  std::size_t count = entries_.size();
  for (const auto& s : r.sessions) {
    auto [it, fresh] = present.try_emplace(s.shard_id, false);
    if (fresh) it->second = entries_.contains(Key{r.shard_count, s.shard_id});
    const bool keeps = s.session_id.has_value();
    if (keeps != it->second) {
      count = keeps ? count + 1 : count - 1;
      it->second = keeps;
    }
  }
  if (count > opt_.max_entries)
    return {S::too_many_sessions,
            fmt::format("the hub holds at most {} sessions; this report would leave {}", opt_.max_entries, count)};

  const auto now = clock_();
  for (const auto& s : r.sessions) {
    const Key key{r.shard_count, s.shard_id};
    auto it = entries_.find(key);
    if (!s.session_id) {
      if (it == entries_.end()) {
        ++out.ignored;
      } else {
        erase(it);
        ++out.deleted;
      }
      continue;
    }
    if (it != entries_.end() && it->second.session_id == *s.session_id && it->second.seq > s.seq) {
      // Out of order: an older snapshot of the session the hub already has a newer one of.
      ++out.ignored;
      continue;
    }
    if (it == entries_.end()) {
      it = entries_.emplace(key, StoredSession{}).first;
    } else {
      by_time_.erase({it->second.reported_at, key});
    }
    auto& e = it->second;
    e.shard_id = s.shard_id;
    e.shard_count = r.shard_count;
    e.session_id = *s.session_id;
    e.seq = s.seq;
    e.resume_url = s.resume_url;
    e.reported_by = std::string(reporter);
    e.reported_at = now;
    by_time_.emplace(now, key);
    ++out.stored;
  }
  return out;
}

std::vector<StoredSession> SessionRegistry::lookup(const SessionLookup& l) {
  std::vector<StoredSession> out;
  if (!validate_session_lookup(l).empty()) return out;
  expire();
  std::unordered_set<std::uint32_t> seen;
  for (auto id : l.shard_ids) {
    if (!seen.insert(id).second) continue;
    if (auto it = entries_.find(Key{l.shard_count, id}); it != entries_.end()) out.push_back(it->second);
  }
  return out;
}

std::size_t SessionRegistry::expire() {
  const auto now = clock_();
  std::size_t n = 0;
  // Older than max_age is expired; exactly max_age is still served.
  while (!by_time_.empty() && now - by_time_.begin()->first > opt_.max_age) {
    const auto key = by_time_.begin()->second;
    by_time_.erase(by_time_.begin());
    entries_.erase(key);
    ++n;
  }
  return n;
}

std::size_t SessionRegistry::size() {
  expire();
  return entries_.size();
}

void SessionRegistry::erase(std::map<Key, StoredSession>::iterator it) {
  if (it == entries_.end()) return;
  by_time_.erase({it->second.reported_at, it->first});
  entries_.erase(it);
}

} // namespace shardline::hub
