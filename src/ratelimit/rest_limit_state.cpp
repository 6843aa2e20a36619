#include "ratelimit/rest_limit_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <cmath>
#include <utility>

namespace shardline::ratelimit {

namespace {

using dsec = std::chrono::duration<double>;

steady::duration seconds(double s) { return std::chrono::duration_cast<steady::duration>(dsec(s)); }
double to_s(steady::duration d) { return std::max(0.0, dsec(d).count()); }

constexpr std::size_t kMaxBuckets = 100'000; // idle ones are dropped first (prune)

void earliest(std::optional<steady::time_point>& slot, steady::time_point t) {
  if (!slot || t < *slot) slot = t;
}

} // namespace

RestLimitState::RestLimitState(RestLimitOptions options, Clock clock)
    : opt_(options), clock_(std::move(clock)), started_(clock_()),
      guard_(opt_.invalid_limit, opt_.route_invalid_limit, opt_.invalid_window),
      next_grant_((std::uint64_t{std::random_device{}()} << 32 | std::random_device{}()) & ~(std::uint64_t{1} << 63)) {
  if (next_grant_ == 0) next_grant_ = 1;
  grace_until_ = started_ + opt_.start_grace;
  if (opt_.global_per_sec == 0) opt_.global_per_sec = 1;
}

namespace {

// "PUT /channels/{channel}/x" -> "/channels/{channel}/x"
std::string_view path_of(std::string_view route) {
  auto sp = route.find(' ');
  return sp == std::string_view::npos ? route : route.substr(sp + 1);
}

} // namespace

std::string RestLimitState::key_for(const RestRoute& r) const {
  auto h = hashes_.find(r.route);
  if (h != hashes_.end()) return "h:" + h->second + "|" + r.major;
  // Not answered yet: Discord shares a bucket between methods of one path (adding and removing
  // a reaction), so until this route's own answer it is taken to share the bucket another
  // method of its path has. A wrong guess (GET and POST of messages differ) only slows it
  // until that answer.
  if (auto a = path_hashes_.find(std::string(path_of(r.route))); a != path_hashes_.end())
    return "h:" + a->second + "|" + r.major;
  // Nothing answered on this path yet: its methods share one provisional bucket, probing one
  // request at a time between them.
  return "r:" + std::string(path_of(r.route)) + "|" + r.major;
}

RestLimitState::Bucket& RestLimitState::bucket(const std::string& key) {
  auto [it, fresh] = buckets_.try_emplace(key);
  if (fresh) it->second.key = key;
  return it->second;
}

void RestLimitState::repend(Bucket& b) {
  if (b.pending_seq) pending_.erase({b.pending_seq, &b});
  b.pending_seq = b.queue.empty() ? 0 : b.queue.front().seq;
  if (b.pending_seq) pending_.insert({b.pending_seq, &b});
}


void RestLimitState::dequeued(std::uint64_t requester) {
  if (auto it = queued_by_.find(requester); it != queued_by_.end() && --it->second == 0) queued_by_.erase(it);
}

void RestLimitState::submit(std::uint64_t requester, std::string tag, const RestRoute& route, bool retry) {
  auto now = clock_();
  ++counters_.requests;
  if (queued_by_[requester] >= opt_.max_queued_per_requester) {
    RestDecision d;
    d.kind = RestDecision::Kind::refused_wait;
    d.requester = requester;
    d.tag = std::move(tag);
    d.retry_after_s = 1;
    d.message = fmt::format("{} requests of this process are already waiting for Discord's rate limits",
                            opt_.max_queued_per_requester);
    ++counters_.refused_wait;
    ready_.push_back(std::move(d));
    next_due_ = now;
    return;
  }
  ++queued_by_[requester];
  auto& b = bucket(key_for(route));
  b.last_used = now;
  if (retry) {
    // Ahead of the queue: it was granted before everyone waiting here.
    const auto seq = b.queue.empty() ? next_seq_++ : b.queue.front().seq;
    b.queue.push_front(Waiter{requester, std::move(tag), route, now, seq});
    repend(b);
    return;
  }
  b.queue.push_back(Waiter{requester, std::move(tag), route, now, next_seq_++});
  // Known already to wait longer than max_wait behind the queue: refused now, not in max_wait.
  if (const double est = estimate_wait(b, route.global_exempt, now); est * 1000.0 > double(opt_.max_wait.count())) {
    auto& w = b.queue.back();
    RestDecision d;
    d.kind = RestDecision::Kind::refused_wait;
    d.requester = requester;
    d.tag = std::move(w.tag);
    d.retry_after_s = est;
    d.message = fmt::format("{} would wait {:.3f} s for Discord's rate limit, over the {} ms allowed "
                            "(SHARD_REST_MAX_WAIT_MS)",
                            route.route, est, opt_.max_wait.count());
    ++counters_.refused_wait;
    ready_.push_back(std::move(d));
    b.queue.pop_back();
    dequeued(requester);
    next_due_ = now;
  }
  repend(b);
}

double RestLimitState::estimate_wait(Bucket& b, bool exempt, steady::time_point now) const {
  // The wait of the last request in this bucket's queue, from what is known now.
  double wait = 0;
  if (b.blocked_until > now) wait = to_s(b.blocked_until - now);
  if (!exempt && global_blocked_until_ > now) wait = std::max(wait, to_s(global_blocked_until_ - now));
  if (b.limit > 0 && b.window_s > 0) {
    const std::uint32_t ahead = static_cast<std::uint32_t>(b.queue.size()); // this one included
    const bool rolls = b.reset_at && now >= *b.reset_at;
    const std::uint32_t avail = rolls ? b.limit : b.remaining;
    if (ahead > avail) {
      const double to_reset = rolls ? 0 : b.reset_at ? to_s(*b.reset_at - now) : b.window_s;
      const std::uint32_t windows = (ahead - avail + b.limit - 1) / b.limit; // new windows needed
      wait = std::max(wait, to_reset + (windows - 1) * b.window_s);
    }
  }
  return wait;
}

void RestLimitState::roll_window(Bucket& b, steady::time_point now) {
  if (!b.reset_at || now < *b.reset_at || b.limit == 0) return;
  // Grants still in flight may land in the new window: they count against it.
  b.rolled_at = b.reset_at;
  b.reset_at.reset();
  ++b.generation;
  b.remaining = b.limit > b.in_flight ? b.limit - b.in_flight : 0;
}

bool RestLimitState::may_go(Bucket& b, const Waiter& w, steady::time_point now,
                            std::optional<steady::time_point>& wake) {
  if (now < b.blocked_until) {
    earliest(wake, b.blocked_until);
    return false;
  }
  roll_window(b, now);
  if (b.limit == 0 || b.probing) {
    if (b.in_flight > 0) return false; // the probe's answer wakes it
    // A probe of this route and major may still be out under its provisional key (its
    // bucket's hash was learned on another major since): its answer comes first.
    if (b.key.compare(0, 2, "h:") == 0) {
      auto p = buckets_.find("r:" + std::string(path_of(w.route.route)) + "|" + w.route.major);
      if (p != buckets_.end() && p->second.in_flight > 0) return false;
    }
    if (b.probing && b.remaining == 0) {
      if (b.reset_at) earliest(wake, *b.reset_at);
      return false;
    }
  } else if (b.remaining == 0) {
    if (b.reset_at) {
      earliest(wake, *b.reset_at);
      return false;
    }
    // The window rolled over and its answers told nothing (no headers, errors, a window
    // already over): with nothing in flight to tell, one request probes.
    if (b.in_flight > 0) return false;
  }
  if (!w.route.global_exempt) {
    if (now < grace_until_) {
      earliest(wake, grace_until_);
      return false;
    }
    if (now < global_blocked_until_) {
      earliest(wake, global_blocked_until_);
      return false;
    }
    while (!global_releases_.empty() && *global_releases_.begin() <= now) global_releases_.erase(global_releases_.begin());
    if (global_in_flight_ + global_releases_.size() >= opt_.global_per_sec) {
      if (!global_releases_.empty()) earliest(wake, *global_releases_.begin());
      return false; // else every token is in flight: an answer frees one
    }
  }
  return true;
}

std::vector<RestDecision> RestLimitState::poll() {
  const auto now = clock_();
  std::vector<RestDecision> out = std::exchange(ready_, {});
  // Leases of grants never reported: their tokens come back as if answered now.
  while (!leases_.empty() && leases_.front().first <= now) {
    auto id = leases_.front().second;
    leases_.pop_front();
    release_unused(id);
  }
  guard_.slide(now);
  if (now - last_prune_ > std::chrono::seconds(10)) prune(now);

  std::optional<steady::time_point> wake;
  std::vector<Bucket*> order;
  order.reserve(pending_.size());
  for (auto& [seq, b] : pending_) order.push_back(b);
  for (std::size_t next = 0; next < order.size(); ++next) {
    auto* b = order[next];
    while (!b->queue.empty()) {
      auto& w = b->queue.front();
      // Its route's bucket was learned since it queued: it waits in that bucket, in order.
      if (auto k = key_for(w.route); k != b->key) {
        auto& to = bucket(k);
        auto at = std::upper_bound(to.queue.begin(), to.queue.end(), w.seq,
                                   [](std::uint64_t s, const Waiter& x) { return s < x.seq; });
        to.queue.insert(at, std::move(w));
        b->queue.pop_front();
        repend(to);
        if (std::find(order.begin() + static_cast<std::ptrdiff_t>(next) + 1, order.end(), &to) == order.end()) {
          if (std::find(order.begin(), order.end(), &to) == order.end()) order.push_back(&to);
          else earliest(wake, now); // already looked at in this poll: the next one sees it
        }
        continue;
      }
      RestDecision d;
      d.requester = w.requester;
      d.tag = w.tag;
      d.waited_s = to_s(now - w.submitted);
      if (auto why = guard_.refusal(w.route.route)) {
        d.kind = RestDecision::Kind::refused_guard;
        d.message = std::move(*why);
        d.retry_after_s = guard_.retry_after_s(now);
        ++counters_.refused_guard;
        dequeued(b->queue.front().requester);
        out.push_back(std::move(d));
        b->queue.pop_front();
        continue;
      }
      const auto deadline = w.submitted + opt_.max_wait;
      std::optional<steady::time_point> head_wake;
      if (may_go(*b, w, now, head_wake)) {
        d.kind = RestDecision::Kind::granted;
        d.grant = next_grant_++;
        if (b->limit > 0 && b->remaining > 0) --b->remaining;
        ++b->in_flight;
        b->last_used = now;
        const bool global = !w.route.global_exempt;
        if (global) ++global_in_flight_;
        grants_[d.grant] = Grant{b->key, b->generation, global};
        leases_.emplace_back(now + opt_.lease, d.grant);
        ++counters_.granted;
        if (d.waited_s > 0.001) ++counters_.waited; // more than the time a poll takes
        dequeued(b->queue.front().requester);
        out.push_back(std::move(d));
        b->queue.pop_front();
        continue;
      }
      // It cannot go now: refused once it has waited max_wait, or when it cannot go before that.
      if (now >= deadline || (head_wake && *head_wake > deadline)) {
        d.kind = RestDecision::Kind::refused_wait;
        d.retry_after_s = std::max(0.001, head_wake ? to_s(*head_wake - now) : 1.0);
        d.message = fmt::format("{} would wait over {} ms for Discord's rate limit (SHARD_REST_MAX_WAIT_MS)",
                                w.route.route, opt_.max_wait.count());
        ++counters_.refused_wait;
        dequeued(b->queue.front().requester);
        out.push_back(std::move(d));
        b->queue.pop_front();
        continue;
      }
      if (head_wake) earliest(wake, *head_wake);
      earliest(wake, deadline);
      break;
    }
    repend(*b);
  }
  next_due_ = wake;
  if (!leases_.empty()) earliest(next_due_, leases_.front().first);
  return out;
}

void RestLimitState::free_global(steady::time_point release_at) {
  if (global_in_flight_ > 0) --global_in_flight_;
  global_releases_.insert(release_at);
}

void RestLimitState::release_unused(std::uint64_t id) {
  auto it = grants_.find(id);
  if (it == grants_.end()) return;
  auto now = clock_();
  auto b = buckets_.find(it->second.bucket_key);
  if (b != buckets_.end() && b->second.in_flight > 0) --b->second.in_flight;
  // It may have reached Discord after all: its global token is held a second more.
  if (it->second.global) free_global(now + std::chrono::seconds(1));
  grants_.erase(it);
}

void RestLimitState::learn_hash(const RestRoute& route, const std::string& hash) {
  if (auto known = hashes_.find(route.route); known != hashes_.end() && known->second == hash) return;
  hashes_[route.route] = hash;
  path_hashes_.try_emplace(std::string(path_of(route.route)), hash);
  // Requests of this route queued under another key move to its bucket at the next poll, each
  // in its turn (poll re-homes a head whose key changed); other routes' stay where they are.
}

void RestLimitState::learn_timing(Bucket& b, const RestObservation& o, steady::time_point now,
                                  std::optional<std::uint64_t> grant_generation) {
  const auto limit = *o.limit;
  const auto after = *o.reset_after_s;
  const auto end = now + seconds(after);
  b.window_s = std::max(b.window_s, after);
  const auto half = seconds(b.window_s / 2);
  const std::uint32_t left = *o.remaining > b.in_flight ? *o.remaining - b.in_flight : 0;
  if (b.limit == 0 || b.probing) {
    // The first answer (or the first since a restart): Discord's word, less what is in flight.
    b.limit = limit;
    b.remaining = b.probing ? std::min(b.remaining, left) : left;
    if (b.probing && b.reset_at && *b.reset_at > end) b.remaining = left; // the hint was older
    b.reset_at = end;
    b.probing = false;
    return;
  }
  b.limit = limit;
  if (b.rolled_at && end < *b.rolled_at + half) return; // an answer of the window already over
  // Every grant of the bot is counted here, so Discord's Remaining (which has not seen the
  // grants still on their way) only lowers the count when others used the bucket too.
  if (!b.reset_at) {
    // Only an answer to a grant of this window tells when it ends; one granted before the
    // roll landed in the window before (or tells nothing certain).
    if (grant_generation && *grant_generation != b.generation) return;
    b.reset_at = end; // the first answer of the window rolled over locally
    b.remaining = std::min(b.remaining, *o.remaining);
  } else if (end > *b.reset_at + half) {
    // It landed in a newer window than this one: that window is the current one.
    b.rolled_at = b.reset_at;
    b.reset_at = end;
    ++b.generation;
    b.remaining = left;
  } else {
    if (end < *b.reset_at) b.reset_at = end;
    b.remaining = std::min(b.remaining, *o.remaining);
  }
}

void RestLimitState::report(std::uint64_t id, const RestRoute& route, const RestObservation& o) {
  const auto now = clock_();
  ++counters_.answers;
  std::optional<std::uint64_t> generation;
  std::string granted_in;
  if (auto it = grants_.find(id); it != grants_.end()) {
    generation = it->second.generation;
    granted_in = it->second.bucket_key;
    auto b = buckets_.find(it->second.bucket_key);
    if (b != buckets_.end() && b->second.in_flight > 0) --b->second.in_flight;
    if (it->second.global) free_global(now + std::chrono::seconds(1));
    grants_.erase(it);
  }
  if (o.status == 0) return; // no answer: nothing learned
  if (!o.bucket.empty()) learn_hash(route, o.bucket);
  auto& b = bucket(key_for(route));
  b.last_used = now;
  if (o.has_bucket_headers())
    learn_timing(b, o, now, granted_in == b.key ? generation : std::nullopt);
  if (o.invalid()) guard_.count(route.route, now);
  if (o.status != 429) return;
  const auto until = now + seconds(o.retry_after_s);
  if (o.global) {
    ++counters_.rate_limited_global;
    global_blocked_until_ = std::max(global_blocked_until_, until);
  } else if (o.scope.empty() && !o.has_bucket_headers()) {
    // No scope and no bucket headers: not Discord's API but Cloudflare in front of it, which
    // bans an IP for the invalid requests it sent. Everything waits.
    ++counters_.banned;
    global_blocked_until_ = std::max(global_blocked_until_, until);
  } else {
    (o.scope == "shared" ? counters_.rate_limited_shared : counters_.rate_limited_user)++;
    b.blocked_until = std::max(b.blocked_until, until);
    if (o.scope != "shared") {
      // Our count was wrong: the window ends when Discord says, and nothing is left in it.
      b.remaining = 0;
      b.reset_at = until;
    }
  }
}

std::size_t RestLimitState::drop(std::uint64_t requester) {
  std::size_t n = 0;
  for (auto& [key, b] : buckets_) {
    auto before = b.queue.size();
    std::erase_if(b.queue, [&](const Waiter& w) { return w.requester == requester; });
    queued_by_.erase(requester);
    if (b.queue.size() != before) {
      n += before - b.queue.size();
      repend(b);
    }
  }
  return n;
}

void RestLimitState::hint(const RestHint& h) {
  if (h.limit == 0 || h.route.empty()) return;
  const auto now = clock_();
  // What a process saw in the last minute, no more: a hint cannot block a bucket for long.
  const double reset_after_s = std::min(std::max(0.0, h.reset_after_s), 60.0);
  RestRoute r{h.route, h.major, false};
  if (!h.bucket.empty() && !hashes_.count(h.route)) learn_hash(r, h.bucket);
  auto& b = bucket(key_for(r));
  if (b.limit > 0 && !b.probing) return; // a real answer already came: it knows better
  const auto end = now + seconds(reset_after_s);
  if (b.probing && b.reset_at && *b.reset_at > now) {
    // Several processes' views of one bucket: the most cautious of each.
    b.remaining = std::min(b.remaining, h.remaining);
    b.reset_at = std::max(*b.reset_at, end);
  } else {
    b.remaining = h.remaining;
    b.reset_at = end;
  }
  b.limit = h.limit;
  b.window_s = std::max(b.window_s, reset_after_s);
  b.probing = true;
  b.last_used = now;
}

void RestLimitState::hint_global(const std::vector<millis>& releases) {
  const auto now = clock_();
  // A token is held at most a second after an answer: nothing further ahead is believed.
  for (auto d : releases)
    if (d > millis(0) && d <= std::chrono::seconds(1)) global_releases_.insert(now + d);
  // The first processes back after a restart start a grace in which the others (reconnecting
  // within their backoff's jitter) report theirs; only early in this coordinator's life, so a
  // process relinking later cannot hold the bot up.
  if (!releases.empty() && now - started_ < std::chrono::seconds(30) && !grace_started_) {
    grace_started_ = true;
    grace_until_ = std::max(grace_until_, now + opt_.start_grace);
  }
}

std::vector<std::string> RestLimitState::take_alerts() { return guard_.take_alerts(); }

void RestLimitState::prune(steady::time_point now) {
  last_prune_ = now;
  // Idle buckets whose window is over hold nothing worth keeping.
  const bool full = buckets_.size() > kMaxBuckets;
  std::erase_if(buckets_, [&](auto& kv) {
    auto& b = kv.second;
    if (!b.queue.empty() || b.in_flight > 0 || b.pending_seq) return false;
    const bool over = (!b.reset_at || *b.reset_at < now) && b.blocked_until < now;
    return over && (full || now - b.last_used > std::chrono::minutes(10));
  });
}

RestLimitStats RestLimitState::stats() const {
  auto s = counters_;
  s.invalid_window = guard_.in_window();
  s.buckets = buckets_.size();
  for (auto& [key, b] : buckets_) s.queued += b.queue.size();
  s.in_flight = grants_.size();
  const auto later = global_releases_.upper_bound(clock_());
  s.global_in_use = global_in_flight_ + static_cast<std::size_t>(std::distance(later, global_releases_.end()));
  s.blocked_routes = guard_.blocked_routes();
  return s;
}

} // namespace shardline::ratelimit
