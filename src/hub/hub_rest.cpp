// The hub's REST coordinator (docs/rest.md, docs/protocol.md §13.3): every cluster asks it before
// a Discord REST call (rest_acquire, answered with rest_grant when the bot's limits allow),
// reports the answer (rest_report), and after each (re)link tells what it last saw (rest_sync).
// The rules are in ratelimit/rest_limit_state (pure, clock-driven); this file turns frames into
// its calls and its decisions into frames, with one timer for what is due next.

#include "hub/hub_impl.hpp"
#include "protocol/rest_messages.hpp"

#include <spdlog/spdlog.h>

namespace shardline::hub {

namespace {

ratelimit::RestObservation observation(const protocol::RestReport& r) {
  ratelimit::RestObservation o;
  o.status = r.status;
  o.bucket = r.bucket;
  o.limit = r.limit;
  o.remaining = r.remaining;
  o.reset_after_s = r.reset_after;
  o.scope = r.scope;
  o.global = r.global;
  o.retry_after_s = r.status == 429 ? std::max(r.retry_after, 0.001) : 0;
  return o;
}

} // namespace

void Hub::Impl::on_rest_op(const ConnPtr& c, std::string_view op_view, const std::string& id) {
  const std::string op(op_view); // op_view points into the parser
  if (c->proto != 2) return reject(*c, "unknown_op", "unknown op: " + op, id);
  if (!c->cluster()) return reject(*c, "forbidden", op + " is for cluster connections (role cluster) only", id);
  auto data = current_data();
  if (!data) return reject(*c, "bad_request", op + " data must be an object", id);
  if (op == "rest_acquire") {
    if (id.empty()) return reject(*c, "bad_request", "rest_acquire needs an id (the grant answers it)", id);
    auto a = protocol::decode<protocol::RestAcquire>(*data);
    if (!a) return reject(*c, "bad_request", a.error().message, id);
    rest_conns_[c->serial] = c;
    rest_.submit(c->serial, id, ratelimit::RestRoute{a->route, a->major, a->exempt}, a->retry);
  } else if (op == "rest_report") {
    auto r = protocol::decode<protocol::RestReport>(*data);
    if (!r) return reject(*c, "bad_request", r.error().message, id);
    if (r->unused) rest_.release_unused(r->grant);
    else rest_.report(r->grant, ratelimit::RestRoute{r->route, r->major, r->exempt}, observation(*r));
  } else {
    auto s = protocol::decode<protocol::RestSync>(*data);
    if (!s) return reject(*c, "bad_request", s.error().message, id);
    for (auto& b : s->buckets)
      rest_.hint(ratelimit::RestHint{b.route, b.major, b.bucket, b.limit, b.remaining, b.reset_after});
    // A connection's first sync only: a process that relinks over and over must not keep the
    // global limit's tokens held with the same requests.
    std::vector<millis> releases;
    if (rest_synced_.insert(c->serial).second)
      for (auto ms : s->global_releases_ms) releases.emplace_back(ms);
    rest_.hint_global(releases);
    spdlog::info("rest: {} synced {} bucket(s) and {} recent request(s)", c->name, s->buckets.size(), releases.size());
  }
  run_rest();
}

void Hub::Impl::run_rest() {
  for (auto& d : rest_.poll()) {
    auto it = rest_conns_.find(d.requester);
    auto c = it == rest_conns_.end() ? nullptr : it->second.lock();
    if (!c || c->state != Connection::State::authenticated) {
      // Its connection closed after this was granted: nobody will use or report the grant.
      if (d.kind == ratelimit::RestDecision::Kind::granted) rest_.release_unused(d.grant);
      continue;
    }
    protocol::RestGrant g;
    g.granted = d.kind == ratelimit::RestDecision::Kind::granted;
    g.grant = d.grant;
    if (!g.granted) {
      g.reason = d.kind == ratelimit::RestDecision::Kind::refused_guard ? "invalid_guard" : "max_wait";
      g.retry_after = d.retry_after_s;
      g.message = d.message;
    }
    send(*c, "rest_grant", g, d.tag);
  }
  for (auto& a : rest_.take_alerts()) spdlog::error("{}", a);
  arm_rest();
}

// One timer, owned by the hub and cancelled on stop, set to the coordinator's next due time.
void Hub::Impl::arm_rest() {
  if (stopped_) return;
  auto next = rest_.next_due();
  if (!next) {
    if (rest_armed_) rest_timer_.cancel();
    rest_armed_ = false;
    return;
  }
  if (rest_armed_ && rest_armed_at_ == *next) return;
  rest_timer_.expires_at(*next);
  rest_armed_ = true;
  rest_armed_at_ = *next;
  std::weak_ptr<Impl> weak = shared_from_this();
  rest_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped_) return;
    self->rest_armed_ = false;
    self->run_rest();
  });
}

void Hub::Impl::forget_rest(Connection& c) {
  rest_synced_.erase(c.serial);
  if (rest_conns_.erase(c.serial) == 0) return;
  if (auto n = rest_.drop(c.serial); n > 0) {
    spdlog::info("rest: dropped {} queued request(s) of {} ({})", n, c.name, c.address);
    run_rest();
  }
}

json::object Hub::Impl::rest_status() const {
  auto s = rest_.stats();
  json::array blocked;
  for (auto& r : s.blocked_routes) blocked.push_back(json::string(r));
  return json::object{{"global_per_sec", rest_.options().global_per_sec},
                      {"requests", s.requests},
                      {"granted", s.granted},
                      {"waited", s.waited},
                      {"refused", json::object{{"max_wait", s.refused_wait}, {"invalid_guard", s.refused_guard}}},
                      {"answers", s.answers},
                      {"rate_limited", json::object{{"user", s.rate_limited_user},
                                                    {"global", s.rate_limited_global},
                                                    {"shared", s.rate_limited_shared},
                                                    {"banned", s.banned}}},
                      {"invalid_window", s.invalid_window},
                      {"buckets", s.buckets},
                      {"queued", s.queued},
                      {"in_flight", s.in_flight},
                      {"global_in_use", s.global_in_use},
                      {"blocked_routes", std::move(blocked)}};
}

} // namespace shardline::hub
