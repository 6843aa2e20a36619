// The link's side of the hub's services for a bot's shards: IDENTIFY slots (docs/protocol.md
// §11) and shard sessions (§12).

#include "link/link_impl.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <unordered_set>

namespace shardline::link {

asio::awaitable<Result<protocol::IdentifyGrant>> HubLink::Impl::request_identify_slot(
    protocol::IdentifyRequest req, std::chrono::milliseconds timeout) {
  if (!linked_) co_return fail(Errc::not_connected, "not linked to the hub");
  // A v1 link carries no request ids, so no grant could be matched to this request.
  if (v1_) co_return fail(Errc::unsupported, "IDENTIFY slots need IPC protocol v2 (the hub speaks version 1)");
  auto self = shared_from_this();
  // Named, not a temporary in the co_await: g++ 12 destroys such temporaries twice.
  auto data = protocol::to_data(req);
  auto r = co_await request("identify_request", std::move(data), server_name_, timeout);
  if (!r) {
    if (r.error().is(Errc::not_connected)) co_return fail(Errc::not_connected, "the link to the hub dropped");
    co_return fail(Errc::timeout, "no identify_grant within " + std::to_string(timeout.count()) + " ms");
  }
  if (r->op == "identify_grant") co_return r->as<protocol::IdentifyGrant>();
  auto code = r->error_code();
  auto message = r->error_message();
  if (code == "identify_budget") co_return fail(Errc::busy, message);
  if (code == "unknown_op") co_return fail(Errc::unsupported, "the hub does not grant IDENTIFY slots: " + message);
  co_return fail(Errc::bad_input, (r->is_error() ? code : "unexpected reply " + r->op) +
                                      (message.empty() ? "" : ": " + message));
}

Result<void> HubLink::Impl::report_sessions(std::uint32_t shard_count, std::vector<protocol::ShardSession> sessions) {
  if (!linked_) return fail(Errc::not_connected, "not linked to the hub");
  // A v1 link cannot carry the op, an admin may not send it, an older hub does not know it.
  if (v1_ || opt_.admin || hub_lacks_sessions_)
    return fail(Errc::unsupported, "this link cannot report shard sessions");
  if (shard_count < 1 || shard_count > protocol::kMaxSessionShardCount) {
    spdlog::warn("not reporting sessions to the hub: shard_count {} is not 1..{}", shard_count,
                 protocol::kMaxSessionShardCount);
    return fail(Errc::bad_input, "shard_count out of range");
  }
  // The hub refuses a whole report for one bad entry: leave bad entries out here instead. Each
  // frame stays under 4,096 entries and ~900 KB (4,096 entries of maximal size would pass the
  // 1,000,000-byte frame cap); valid entries need no JSON escaping, so sizes add up.
  constexpr std::size_t kMaxReportBytes = 900'000;
  constexpr std::size_t kEntryOverhead = 96; // keys, punctuation, two integers
  protocol::SessionReport batch{shard_count, {}};
  std::size_t bytes = 0;
  auto flush = [&] {
    if (batch.sessions.empty()) return;
    (void)send("session_report", protocol::to_data(batch), server_name_);
    batch.sessions.clear();
    bytes = 0;
  };
  for (auto& s : sessions) {
    const char* why = nullptr;
    if (s.shard_id >= shard_count) why = "shard_id is not below shard_count";
    else if (!s.session_id.empty() && !protocol::valid_session_id(s.session_id)) why = "malformed session_id";
    else if (!s.session_id.empty() && !protocol::valid_resume_url(s.resume_url)) why = "resume_url is not a ws(s):// URL";
    if (why) {
      spdlog::warn("not reporting the session of shard {}/{} to the hub: {}", s.shard_id, shard_count, why);
      continue;
    }
    const std::size_t size = kEntryOverhead + s.session_id.size() + s.resume_url.size() + s.binding.size();
    if (batch.sessions.size() >= protocol::kMaxSessionsPerFrame || bytes + size > kMaxReportBytes) flush();
    protocol::SessionReportItem item{s.shard_id, std::nullopt, 0, {}, {}};
    if (!s.session_id.empty()) {
      item.session_id = std::move(s.session_id);
      item.seq = s.seq;
      item.resume_url = std::move(s.resume_url);
      // A binding the hub would refuse would sink the whole report: sent unbound instead (and
      // then not resumed from the hub).
      if (protocol::valid_session_binding(s.binding)) item.binding = std::move(s.binding);
    }
    batch.sessions.push_back(std::move(item));
    bytes += size;
  }
  flush();
  return {};
}

asio::awaitable<Result<std::vector<protocol::ShardSession>>> HubLink::Impl::lookup_sessions(
    std::uint32_t shard_count, std::vector<std::uint32_t> shard_ids, std::chrono::milliseconds timeout) {
  if (!linked_) co_return fail(Errc::not_connected, "not linked to the hub");
  if (v1_ || opt_.admin) co_return fail(Errc::unsupported, "this link cannot look shard sessions up");
  if (shard_count < 1 || shard_count > protocol::kMaxSessionShardCount)
    co_return fail(Errc::bad_input, "shard_count out of range");
  auto self = shared_from_this(); // see request()
  const auto deadline = steady::now() + timeout;
  // Ids the hub would refuse (out of range) cannot have a session; duplicates add nothing.
  std::vector<std::uint32_t> todo;
  {
    std::unordered_set<std::uint32_t> seen;
    for (auto id : shard_ids)
      if (id < shard_count && seen.insert(id).second) todo.push_back(id);
  }
  std::vector<protocol::ShardSession> out;
  std::size_t next = 0;
  std::vector<std::uint32_t> again; // `more` of the last answer: known, did not fit its frame
  while (next < todo.size() || !again.empty()) {
    protocol::SessionLookup ask{shard_count, {}};
    if (!again.empty()) {
      ask.shard_ids = std::move(again);
      again.clear();
    } else {
      const auto n = std::min(protocol::kMaxSessionsPerFrame, todo.size() - next);
      const auto from = todo.begin() + static_cast<std::ptrdiff_t>(next);
      ask.shard_ids.assign(from, from + static_cast<std::ptrdiff_t>(n));
      next += n;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
    if (left <= std::chrono::milliseconds::zero()) co_return fail(Errc::timeout, "session lookup timed out");
    auto data = protocol::to_data(ask);
    auto r = co_await request("session_lookup", std::move(data), server_name_, left);
    if (!r || r->op != "session_lookup_response") {
      auto why = !r ? r.error().message : r->is_error() ? r->error_code() + ": " + r->error_message()
                                                        : "unexpected reply " + r->op;
      spdlog::warn("session lookup at the hub failed: {}", why);
      if (!r) co_return r.error();
      co_return fail(r->error_code() == "unknown_op" ? Errc::unsupported : Errc::refused, why);
    }
    auto answer = protocol::SessionLookupResponse::read(protocol::ObjectReader(json::value(r->data)));
    const std::unordered_set<std::uint32_t> asked(ask.shard_ids.begin(), ask.shard_ids.end());
    // The hub is authenticated, but its answer is still checked: a shard's session must be one
    // this process asked for, of its layout, and usable for a RESUME.
    for (auto& e : answer.sessions) {
      if (e.shard_count != shard_count || !asked.count(e.shard_id) || !protocol::valid_session_id(e.session_id) ||
          !protocol::valid_resume_url(e.resume_url))
        continue;
      // A malformed binding is no binding: the session is then refused as unbound.
      if (!protocol::valid_session_binding(e.binding)) e.binding.clear();
      out.push_back(protocol::ShardSession{e.shard_id, e.shard_count, std::move(e.session_id), e.seq,
                                           std::move(e.resume_url), std::move(e.binding)});
    }
    for (auto id : answer.more)
      if (asked.count(id)) again.push_back(id);
    // Each round must shrink what is left, or a confused hub would keep this loop going.
    if (!again.empty() && again.size() >= ask.shard_ids.size()) {
      spdlog::warn("session lookup at the hub made no progress ({} shard(s) left)", again.size());
      co_return fail(Errc::protocol, "session lookup at the hub made no progress");
    }
  }
  co_return out;
}

} // namespace shardline::link
