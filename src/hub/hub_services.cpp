// What the hub answers itself, whatever a frame's target says: its status (docs/protocol.md
// §10), IDENTIFY slots (§11), shard sessions (§12) and the control of the supervisor hosting it
// (§13). The rules are in identify_scheduler and session_registry (pure, clock-driven); this
// file turns frames into their calls and their results into frames.

#include "hub/hub_impl.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shardline::hub {

namespace {

double seconds_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

} // namespace

std::optional<json::value> Hub::Impl::current_data() {
  simdjson::dom::element d;
  if (parser_.root()["data"].get(d)) return json::value(json::object{});
  // Service ops are rare next to routed traffic: re-reading their small data object with
  // Boost.JSON keeps the field checks in the typed messages (protocol/hub_messages.hpp).
  boost::system::error_code ec;
  auto v = json::parse(simdjson::minify(d), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v;
}

// ---- status ----------------------------------------------------------------------------------------

protocol::HubStatus Hub::Impl::status(steady::time_point now) {
  protocol::HubStatus s;
  s.hub = opt_.name;
  s.mode = opt_.mode;
  s.host = opt_.host;
  s.port = port_;
  s.legacy_auth = opt_.legacy_auth;
  s.tls = opt_.tls != nullptr;
  s.uptime = seconds_between(started_at_, now);
  s.connections = all_.size();
  s.unauthenticated = pending_.size();
  s.routed = routed_;
  s.rejected = rejected_;
  s.unroutable = unroutable_;
  directory_.for_each([&](const Member& m) {
    auto& c = static_cast<const Connection&>(m);
    protocol::HubClient e;
    e.name = c.name;
    e.role = c.role_name();
    e.proto = c.proto;
    e.address = c.address;
    e.shard_ids = c.shard_ids;
    e.shard_count = c.shard_count;
    e.guild_count = c.guild_count;
    e.generation = c.generation;
    e.connected_for = seconds_between(c.authenticated_at, now);
    e.last_heartbeat_age = seconds_between(c.last_heartbeat, now);
    e.health = protocol::to_string(protocol::health_from_heartbeat(e.last_heartbeat_age, opt_.health));
    if (!c.last_stats.empty()) {
      boost::system::error_code ec;
      auto stats = json::parse(c.last_stats, ec);
      if (!ec && stats.is_object()) {
        e.stats = protocol::ClusterStats::read(protocol::ObjectReader(stats));
        e.stats_age = seconds_between(c.last_stats_at, now);
      }
    }
    s.clients.push_back(std::move(e));
  });
  auto st = identify_.stats();
  s.identify = protocol::IdentifyStatus{st.granted,   st.queued,           st.max_concurrency, st.window_ms,
                                        st.budget_remaining, st.refused_budget, opt_.identify_reserve};
  // A count only: session ids are for the clusters that take shards over, no one else.
  s.sessions_known = sessions_.size();
  s.thresholds = opt_.health;
  s.rest = rest_status();
  return s;
}

// ---- IDENTIFY slots --------------------------------------------------------------------------------

void Hub::Impl::on_identify_request(const ConnPtr& c, const std::string& id) {
  // A v1 peer does not know the op (and gets no error frames anyway).
  if (c->proto != 2) return reject(*c, "unknown_op", "unknown op: identify_request", id);
  if (!c->cluster())
    return reject(*c, "forbidden", "identify_request is for cluster connections (role cluster) only", id);
  if (id.empty()) return reject(*c, "bad_request", "identify_request needs an id (the grant answers it)", id);
  auto data = current_data();
  if (!data) return reject(*c, "bad_request", "identify_request data must be an object", id);
  auto req = protocol::decode<protocol::IdentifyRequest>(*data);
  if (!req) return reject(*c, "bad_request", req.error().message, id);
  auto r = identify_.submit(c->serial, id, *req);
  switch (r.status) {
  case IdentifySubmitResult::Status::bad_request: return reject(*c, "bad_request", r.message, id);
  case IdentifySubmitResult::Status::refused_budget:
    spdlog::warn("identify refused for {} shard {}/{}: {}", c->name, req->shard_id, req->shard_count, r.message);
    return send_error(*c, "identify_budget", r.message, id);
  case IdentifySubmitResult::Status::accepted: break;
  }
  spdlog::debug("identify queued: {} shard {}/{} (id {})", c->name, req->shard_id, req->shard_count, id);
  identify_conns_[c->serial] = c;
  run_identify(); // the slot may be free right now: grant without a timer round trip
}

void Hub::Impl::run_identify() {
  for (auto& o : identify_.poll()) {
    auto it = identify_conns_.find(o.requester);
    auto c = it == identify_conns_.end() ? nullptr : it->second.lock();
    // A closed connection's requests were dropped with it; this only guards the invariant.
    if (!c || c->state != Connection::State::authenticated) continue;
    if (o.kind == IdentifyOutcome::Kind::refused_budget) {
      spdlog::warn("identify refused for {} shard {}/{}: {}", c->name, o.shard_id, o.shard_count, o.message);
      send_error(*c, "identify_budget", o.message, o.tag);
      continue;
    }
    spdlog::info("identify granted: {} shard {}/{} bucket {}{}", c->name, o.shard_id, o.shard_count, o.bucket,
                 o.remaining ? fmt::format(" ({} left today)", *o.remaining) : std::string());
    send(*c, "identify_grant", protocol::IdentifyGrant{o.shard_id, o.shard_count, o.bucket, o.remaining}, o.tag);
  }
  arm_identify();
}

// One timer, owned by the hub and cancelled on stop, always set to the scheduler's next due time
// (or idle when nothing is queued).
void Hub::Impl::arm_identify() {
  if (stopped_) return;
  auto next = identify_.next_due();
  if (!next) {
    if (identify_armed_) identify_timer_.cancel();
    identify_armed_ = false;
    return;
  }
  if (identify_armed_ && identify_armed_at_ == *next) return;
  identify_timer_.expires_at(*next); // cancels the previous wait, if any
  identify_armed_ = true;
  identify_armed_at_ = *next;
  std::weak_ptr<Impl> weak = shared_from_this();
  identify_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped_) return; // re-armed, cancelled, or the hub is gone
    self->identify_armed_ = false;
    self->run_identify();
  });
}

// A closed connection's queued requests are dropped: nobody is left to IDENTIFY with them, and
// they must not hold a bucket for the others.
void Hub::Impl::forget_identify(Connection& c) {
  if (identify_conns_.erase(c.serial) == 0) return;
  if (auto n = identify_.drop(c.serial); n > 0) {
    spdlog::info("identify: dropped {} queued request(s) of {} ({})", n, c.name, c.address);
    arm_identify();
  }
}

// ---- shard sessions --------------------------------------------------------------------------------

// session_report and session_lookup: kept and answered by the hub, whatever `target` says, and
// never forwarded: session ids let a process take a shard's Discord session over, so they reach
// only the cluster that asks for its shards, never other clusters or admin tools.
void Hub::Impl::on_session_op(const ConnPtr& c, std::string_view op_view, const std::string& id) {
  const std::string op(op_view); // op_view points into the parser; copied before anything else
  // A v1 peer does not know the ops (and gets no error frames anyway).
  if (c->proto != 2) return reject(*c, "unknown_op", "unknown op: " + op, id);
  if (!c->cluster()) return reject(*c, "forbidden", op + " is for cluster connections (role cluster) only", id);
  auto data = current_data();
  if (!data) return reject(*c, "bad_request", op + " data must be an object", id);
  if (op == "session_report") return on_session_report(*c, *data, id);
  return on_session_lookup(*c, *data, id);
}

void Hub::Impl::on_session_report(Connection& c, const json::value& data, const std::string& id) {
  auto r = protocol::decode<protocol::SessionReport>(data);
  if (!r) return reject(c, "bad_request", r.error().message, id);
  auto res = sessions_.report(*r, c.name);
  switch (res.status) {
  case SessionReportResult::Status::bad_request: return reject(c, "bad_request", res.message, id);
  case SessionReportResult::Status::too_many_sessions:
    // Warned once per episode: a full store would otherwise log every report of every cluster.
    if (!sessions_full_warned_)
      spdlog::warn("sessions: refused a report of {} ({} entries): {}", c.name, r->sessions.size(), res.message);
    sessions_full_warned_ = true;
    return send_error(c, "too_many_sessions", res.message, id);
  case SessionReportResult::Status::ok: break;
  }
  sessions_full_warned_ = false;
  // Never the session ids themselves: logs are read by more people than the hub's secret.
  spdlog::debug("sessions: {} reported {} of {} shard(s): {} stored, {} deleted, {} ignored", c.name,
                r->sessions.size(), r->shard_count, res.stored, res.deleted, res.ignored);
  if (id.empty()) return; // fire and forget
  send(c, "session_report_ack", protocol::SessionReportAck{res.stored, res.deleted, res.ignored}, id);
}

void Hub::Impl::on_session_lookup(Connection& c, const json::value& data, const std::string& id) {
  if (id.empty())
    return reject(c, "bad_request", "session_lookup needs an id (the answer carries it as reply_to)", id);
  auto l = protocol::decode<protocol::SessionLookup>(data);
  if (!l) return reject(c, "bad_request", l.error().message, id);
  auto found = sessions_.lookup(*l);
  // The answer must fit one frame (1,000,000 bytes), which 4,096 entries of maximal size do not.
  // Entries that do not fit are listed in `more` (their shard ids) for the requester to ask
  // again; 64 KiB is kept for the envelope, `more` itself (<= 4,096 ids) and the echoed id.
  const std::size_t reserve = 64 * 1024 + json::serialize(json::string(id)).size();
  const std::size_t budget = protocol::kMaxFrameBytes > reserve ? protocol::kMaxFrameBytes - reserve : 0;
  std::size_t used = 0;
  protocol::SessionLookupResponse answer;
  const auto now = steady::now();
  for (auto& s : found) {
    if (!answer.more.empty()) {
      answer.more.push_back(s.shard_id);
      continue;
    }
    protocol::SessionLookupEntry e{s.shard_id,  s.shard_count,  s.session_id,
                                   s.seq,       s.resume_url,   s.reported_by,
                                   seconds_between(s.reported_at, now), s.binding};
    const auto size = json::serialize(json::value_from(e)).size() + 1; // + the comma
    if (used + size > budget) {
      answer.more.push_back(s.shard_id);
      continue;
    }
    used += size;
    answer.sessions.push_back(std::move(e));
  }
  spdlog::info("sessions: {} looked up {} shard(s) of {}: {} known{}", c.name, l->shard_ids.size(), l->shard_count,
               found.size(),
               answer.more.empty() ? "" : fmt::format(", {} left for another lookup", answer.more.size()));
  send(c, "session_lookup_response", answer, id);
}

// ---- the supervisor's control ----------------------------------------------------------------------

// launch_request: the operator's tools (role admin) ask the supervisor that hosts this hub
// (status, rolling restart, reshard). Answered at once; what it starts goes on in the supervisor.
void Hub::Impl::on_launch_request(Connection& c, const std::string& id) {
  if (c.proto != 2) return reject(c, "unknown_op", "unknown op: launch_request", id);
  if (c.cluster()) return reject(c, "forbidden", "launch_request is for admin connections only", id);
  if (id.empty()) return reject(c, "bad_request", "launch_request needs an id", id);
  if (!opt_.control) return reject(c, "no_route", "no supervisor runs this hub (start it with shardline launch)", id);
  auto data = current_data();
  if (!data) return reject(c, "bad_request", "launch_request data must be an object", id);
  auto req = protocol::decode<protocol::LaunchRequest>(*data);
  if (!req) return reject(c, "bad_request", req.error().message, id);
  send_data(c, "launch_response", opt_.control(*req), id, false);
}

} // namespace shardline::hub
