#pragma once
// A process's side of the bot's REST limits (docs/rest.md): every Discord REST call of a
// cluster, its own (operator command answers) and its bots' (the endpoint's /api/v10 forward),
// waits in acquire() for its turn, goes straight to Discord (no extra hop), and hands the answer
// to report(). Through the hub (rest_acquire / rest_grant, docs/protocol.md §13.3) the turn is
// the whole bot's; alone (no hub, or SHARD_REST_COORDINATION=local) it is this process's only,
// the ecosystem's default.
//
// Through the hub, the gate keeps what its answers taught (the bucket each route's answers
// named, what was left, when the window ends, and the global tokens its requests hold) and
// hands it to the hub after every relink (rest_sync): a restarted hub starts from the bot's real
// state rather than from nothing, and does not burst past the limits.
//
// Runs on the cluster's io_context thread, like everything it talks to.

#include "core/clock.hpp"
#include "ratelimit/rest_limit_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <memory>
#include <string>

namespace shardline::link {
class HubLink;
}

namespace shardline::ratelimit {

struct RestPermit {
  std::uint64_t grant = 0;
  RestRoute route;
  bool local = false; // decided in this process (a version-1 hub cannot coordinate)
};

struct RestAdmission {
  enum class Kind {
    granted,
    refused_wait,  // it would wait longer than SHARD_REST_MAX_WAIT_MS
    refused_guard, // the invalid-request guard blocks the route (or the bot)
    unavailable,   // no answer from the hub within the wait (down, or restarting)
  };
  Kind kind = Kind::granted;
  RestPermit permit;
  double retry_after_s = 0;
  std::string message;
  // What a refusal is called in the X-Shardline-RateLimit header: max-wait, invalid-guard,
  // coordinator-unavailable.
  std::string_view header_value() const;
};

class RestGate {
public:
  // Decides alone, with `options` (global_per_sec, max_wait, the guard).
  static std::shared_ptr<RestGate> local(boost::asio::io_context& io, RestLimitOptions options);
  // Asks the hub over the link given to attach(); `options.max_wait` bounds a wait (plus two
  // seconds for the hub's own answer). Requests before attach() wait for it within that time.
  static std::shared_ptr<RestGate> through_hub(boost::asio::io_context& io, RestLimitOptions options);
  // The link to the hub (through_hub only; ignored by a local gate). The gate registers itself
  // as the link's on_linked callback, to hand the hub what it knows after every relink.
  virtual void attach(std::shared_ptr<link::HubLink> link) { (void)link; }
  virtual ~RestGate() = default;

  // Waits for this request's turn, until `deadline` at the latest (and never past max_wait).
  // `retry`: it got a 429 and goes again, ahead of its bucket.
  virtual boost::asio::awaitable<RestAdmission> acquire(RestRoute route, bool retry,
                                                        steady::time_point deadline = steady::time_point::max()) = 0;
  // The answer (status 0: none came). Every granted permit is reported exactly once, or released.
  virtual void report(const RestPermit& permit, const RestObservation& answer) = 0;
  // The grant was not used (the caller gave up before sending).
  virtual void release(const RestPermit& permit) = 0;
  // For stats_broadcast (shardline clusters --json): requests, waited, answered_locally,
  // rate_limited {user, global, shared, banned}, invalid_window.
  boost::json::object stats() const;
  virtual std::string_view mode() const = 0;

protected:
  RestGate() = default;
  void count_answer(const RestObservation& o, steady::time_point now);
  void count_admission(const RestAdmission& a, steady::time_point asked_at, steady::time_point now);

  std::uint64_t requests_ = 0, waited_ = 0, answered_locally_ = 0, unavailable_ = 0;
  std::uint64_t limited_user_ = 0, limited_global_ = 0, limited_shared_ = 0, banned_ = 0;
  std::deque<steady::time_point> invalid_; // this process's 401/403/429 answers, last 10 minutes
};

} // namespace shardline::ratelimit
