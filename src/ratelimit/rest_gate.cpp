#include "ratelimit/rest_gate.hpp"

#include "link/hub_link.hpp"
#include "net/event.hpp"
#include "protocol/rest_messages.hpp"

#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <unordered_map>
#include <unordered_set>

namespace shardline::ratelimit {

namespace asio = boost::asio;
namespace json = boost::json;

std::string_view RestAdmission::header_value() const {
  switch (kind) {
  case Kind::granted: return "";
  case Kind::refused_wait: return "max-wait";
  case Kind::refused_guard: return "invalid-guard";
  case Kind::unavailable: return "coordinator-unavailable";
  }
  return "";
}

void RestGate::count_answer(const RestObservation& o, steady::time_point now) {
  if (o.status == 429) {
    if (o.global) ++limited_global_;
    else if (o.scope == "shared") ++limited_shared_;
    else if (o.scope.empty() && !o.has_bucket_headers()) ++banned_;
    else ++limited_user_;
  }
  if (o.invalid()) invalid_.push_back(now);
  while (!invalid_.empty() && now - invalid_.front() > std::chrono::minutes(10)) invalid_.pop_front();
}

void RestGate::count_admission(const RestAdmission& a, steady::time_point asked_at, steady::time_point now) {
  ++requests_;
  if (a.kind == RestAdmission::Kind::granted) {
    if (now - asked_at > std::chrono::milliseconds(1)) ++waited_;
  } else {
    ++answered_locally_;
    if (a.kind == RestAdmission::Kind::unavailable) ++unavailable_;
  }
}

json::object RestGate::stats() const {
  auto now = steady::now();
  std::size_t invalid = 0;
  for (auto t : invalid_)
    if (now - t <= std::chrono::minutes(10)) ++invalid;
  return json::object{{"mode", mode()},
                      {"requests", requests_},
                      {"waited", waited_},
                      {"answered_locally", answered_locally_},
                      {"unavailable", unavailable_},
                      {"rate_limited", json::object{{"user", limited_user_},
                                                    {"global", limited_global_},
                                                    {"shared", limited_shared_},
                                                    {"banned", banned_}}},
                      {"invalid_window", invalid}};
}

namespace {

RestAdmission from_decision(const RestDecision& d, const RestRoute& route) {
  RestAdmission a;
  a.permit = RestPermit{d.grant, route};
  a.retry_after_s = d.retry_after_s;
  a.message = d.message;
  a.kind = d.kind == RestDecision::Kind::granted         ? RestAdmission::Kind::granted
           : d.kind == RestDecision::Kind::refused_guard ? RestAdmission::Kind::refused_guard
                                                         : RestAdmission::Kind::refused_wait;
  return a;
}

// ---- alone -------------------------------------------------------------------------------------

class LocalGate final : public RestGate, public std::enable_shared_from_this<LocalGate> {
public:
  LocalGate(asio::io_context& io, RestLimitOptions o)
      : state_(o, real_clock()), timer_(io), wake_(io.get_executor()), max_wait_(o.max_wait) {}

  std::string_view mode() const override { return "local"; }

  asio::awaitable<RestAdmission> acquire(RestRoute route, bool retry, steady::time_point until) override {
    auto self = shared_from_this();
    const auto asked = steady::now();
    const auto tag = std::to_string(++next_tag_);
    state_.submit(0, tag, route, retry);
    run();
    const auto deadline = std::min(until, asked + max_wait_ + std::chrono::seconds(1));
    // Named, not a temporary in the co_await (g++ 12).
    auto ready = [this, &tag] { return decided_.count(tag) > 0; };
    co_await wake_.wait_until(ready, deadline);
    RestAdmission a;
    if (auto it = decided_.find(tag); it != decided_.end()) {
      a = from_decision(it->second, route);
      decided_.erase(it);
    } else {
      // The caller's deadline came first: a turn given later is handed back unused.
      abandoned_.insert(tag);
      a.kind = RestAdmission::Kind::refused_wait;
      a.message = "no turn for Discord's rate limit before the caller's deadline";
      a.retry_after_s = 1;
    }
    count_admission(a, asked, steady::now());
    co_return a;
  }

  void report(const RestPermit& p, const RestObservation& o) override {
    count_answer(o, steady::now());
    state_.report(p.grant, p.route, o);
    run();
  }
  void release(const RestPermit& p) override {
    state_.release_unused(p.grant);
    run();
  }

private:
  void run() {
    for (auto& d : state_.poll()) {
      if (abandoned_.erase(d.tag)) {
        if (d.kind == RestDecision::Kind::granted) state_.release_unused(d.grant);
        continue;
      }
      decided_[d.tag] = std::move(d);
    }
    for (auto& a : state_.take_alerts()) spdlog::error("{}", a);
    wake_.notify();
    auto next = state_.next_due();
    if (!next || (armed_ && armed_at_ == *next)) return;
    timer_.expires_at(*next);
    armed_ = true;
    armed_at_ = *next;
    std::weak_ptr<LocalGate> weak = shared_from_this();
    timer_.async_wait([weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->armed_ = false;
      self->run();
    });
  }

  RestLimitState state_;
  asio::steady_timer timer_;
  net::Condition wake_;
  millis max_wait_;
  bool armed_ = false;
  steady::time_point armed_at_{};
  std::uint64_t next_tag_ = 0;
  std::unordered_map<std::string, RestDecision> decided_;
  std::unordered_set<std::string> abandoned_;
};

// ---- through the hub ------------------------------------------------------------------------------

class HubGate final : public RestGate, public std::enable_shared_from_this<HubGate> {
public:
  HubGate(asio::io_context& io, RestLimitOptions o)
      : attached_(io.get_executor()), wait_(o.max_wait + std::chrono::seconds(2)), local_(RestGate::local(io, o)) {}

  std::string_view mode() const override { return "hub"; }

  void attach(std::shared_ptr<link::HubLink> l) override {
    link_ = std::move(l);
    std::weak_ptr<HubGate> weak = shared_from_this();
    link_->on_linked([weak] {
      if (auto self = weak.lock()) self->sync();
    });
    attached_.set();
  }

  asio::awaitable<RestAdmission> acquire(RestRoute route, bool retry, steady::time_point until) override {
    auto self = shared_from_this();
    const auto asked = steady::now();
    const auto deadline = std::min(until, asked + wait_);
    if (link_ && link_->speaks_v1()) {
      // A version-1 hub (the seed's) has no coordinator and no request ids: this process
      // decides alone, as with SHARD_REST_COORDINATION=local.
      auto local = co_await local_->acquire(std::move(route), retry, deadline);
      local.permit.local = true;
      co_return local;
    }
    RestAdmission a;
    a.permit.route = route;
    // The link is made once the shards are planned; the hub may be restarting: the request
    // waits for both within its time.
    if (!link_) co_await attached_.wait_until(deadline);
    a.kind = RestAdmission::Kind::unavailable;
    a.message = "not linked to the hub (its REST coordinator) within SHARD_REST_MAX_WAIT_MS";
    // A hub that restarts drops what it had queued: the request asks the new one, within its time.
    for (int tries = 0; link_ && steady::now() < deadline && tries < 100; ++tries) {
      if (!link_->linked() && !co_await link_->wait_linked(deadline)) break;
      auto data = protocol::to_data(protocol::RestAcquire{route.route, route.major, route.global_exempt, retry});
      auto left = std::chrono::ceil<millis>(deadline - steady::now());
      auto server = link_->server_name();
      auto r = co_await link_->request("rest_acquire", std::move(data), std::move(server), std::max(left, millis(1)));
      if (!r && r.error().is(Errc::not_connected)) continue; // the link dropped while it waited
      if (r && r->op == "rest_grant") {
        auto g = r->as<protocol::RestGrant>();
        if (g && g->granted) {
          a.kind = RestAdmission::Kind::granted;
          a.permit.grant = g->grant;
          in_flight_global_ += route.global_exempt ? 0 : 1;
        } else if (g) {
          a.kind = g->reason == "invalid_guard" ? RestAdmission::Kind::refused_guard : RestAdmission::Kind::refused_wait;
          a.retry_after_s = g->retry_after;
          a.message = g->message;
        } else {
          a.message = "the hub's rest_grant was malformed: " + g.error().message;
        }
      } else {
        a.message = !r ? "the hub's REST coordinator did not answer: " + r.error().message
                       : "the hub refused rest_acquire: " + r->error_code() + " " + r->error_message();
      }
      break;
    }
    if (a.kind == RestAdmission::Kind::unavailable) {
      a.retry_after_s = 1;
      spdlog::warn("rest: {} answered here with 429: {}", route.route, a.message);
    }
    count_admission(a, asked, steady::now());
    co_return a;
  }

  void report(const RestPermit& p, const RestObservation& o) override {
    if (p.local) return local_->report(p, o);
    const auto now = steady::now();
    count_answer(o, now);
    if (!p.route.global_exempt) {
      if (in_flight_global_ > 0) --in_flight_global_;
      // Only the last second's are worth a sync: older ones are dropped here, so the list stays
      // at most a second of this process's requests.
      while (!releases_.empty() && releases_.front() <= now) releases_.pop_front();
      releases_.push_back(now + std::chrono::seconds(1));
    }
    remember(p.route, o, now);
    protocol::RestReport r;
    r.grant = p.grant;
    r.route = p.route.route;
    r.major = p.route.major;
    r.exempt = p.route.global_exempt;
    r.status = o.status;
    r.bucket = o.bucket;
    r.limit = o.limit;
    r.remaining = o.remaining;
    r.reset_after = o.reset_after_s;
    r.scope = o.scope;
    r.global = o.global;
    r.retry_after = o.retry_after_s;
    // A report lost with the link is what rest_sync replays from `seen_`.
    if (link_) (void)link_->send("rest_report", protocol::to_data(r), link_->server_name());
  }

  void release(const RestPermit& p) override {
    if (p.local) return local_->release(p);
    if (!p.route.global_exempt && in_flight_global_ > 0) --in_flight_global_;
    protocol::RestReport r;
    r.grant = p.grant;
    r.route = p.route.route;
    r.major = p.route.major;
    r.unused = true;
    if (link_) (void)link_->send("rest_report", protocol::to_data(r), link_->server_name());
  }

private:
  struct Seen {
    std::string route, major, bucket;
    std::uint32_t limit = 0, remaining = 0;
    steady::time_point reset_at{};
  };

  void remember(const RestRoute& route, const RestObservation& o, steady::time_point now) {
    if (!o.has_bucket_headers()) return;
    auto key = route.route + "|" + route.major;
    if (seen_.size() >= protocol::kMaxRestSyncItems && !seen_.count(key)) {
      // Full: forget windows already over.
      std::erase_if(seen_, [&](auto& kv) { return kv.second.reset_at <= now; });
      if (seen_.size() >= protocol::kMaxRestSyncItems) return;
    }
    auto end = now + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(*o.reset_after_s));
    auto& s = seen_[key];
    if (s.reset_at > now && end < s.reset_at + std::chrono::milliseconds(50) && s.remaining < *o.remaining) {
      // An older answer of the same window, arriving late: the lower count stands.
      return;
    }
    s = Seen{route.route, route.major, o.bucket, *o.limit, *o.remaining, end};
  }

  // After every (re)link: what this process saw, for a hub that may have just started.
  void sync() {
    const auto now = steady::now();
    protocol::RestSync s;
    for (auto& [key, v] : seen_) {
      if (v.reset_at <= now) continue;
      s.buckets.push_back(protocol::RestSyncItem{v.route, v.major, v.bucket, v.limit, v.remaining,
                                                 std::chrono::duration<double>(v.reset_at - now).count()});
      if (s.buckets.size() >= protocol::kMaxRestSyncItems) break;
    }
    while (!releases_.empty() && releases_.front() <= now) releases_.pop_front();
    for (auto t : releases_) {
      if (s.global_releases_ms.size() >= protocol::kMaxRestSyncReleases) break;
      s.global_releases_ms.push_back(static_cast<std::uint32_t>(std::chrono::ceil<millis>(t - now).count()));
    }
    // Requests still out hold a token until a second after their answer: at least that long.
    for (std::uint32_t i = 0; i < in_flight_global_ && s.global_releases_ms.size() < protocol::kMaxRestSyncReleases; ++i)
      s.global_releases_ms.push_back(1000);
    (void)link_->send("rest_sync", protocol::to_data(s), link_->server_name());
    spdlog::info("rest: synced {} bucket(s) and {} recent request(s) with the hub", s.buckets.size(),
                 s.global_releases_ms.size());
  }

  std::shared_ptr<link::HubLink> link_;
  net::Event attached_;
  millis wait_;
  std::shared_ptr<RestGate> local_; // for a version-1 hub
  std::unordered_map<std::string, Seen> seen_;
  std::deque<steady::time_point> releases_;
  std::uint32_t in_flight_global_ = 0;
};

} // namespace

std::shared_ptr<RestGate> RestGate::local(asio::io_context& io, RestLimitOptions options) {
  return std::make_shared<LocalGate>(io, options);
}

std::shared_ptr<RestGate> RestGate::through_hub(asio::io_context& io, RestLimitOptions options) {
  return std::make_shared<HubGate>(io, options);
}

} // namespace shardline::ratelimit
