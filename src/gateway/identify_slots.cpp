// ShardCluster's IDENTIFY slots (docs/gateway.md, "IDENTIFY slots for every process of the
// bot"): from the hub when the cluster is on the IPC network, paced in this process otherwise,
// and never below SHARD_IDENTIFY_RESERVE of the daily budget.

#include "gateway/shard_cluster.hpp"

#include "link/hub_link.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace shardline::gateway {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Margin on top of the window between two IDENTIFYs of a bucket: the second must not reach
// Discord less than a window after the first, whatever the network does in between.
constexpr auto kIdentifySlack = std::chrono::milliseconds(250);
// How long to wait for a grant before asking again. The hub keeps a repeated request's place
// in its queue, so asking again costs nothing; it bounds how long a wait that nobody needs
// any more (its shard reconnected and asked anew) lingers.
constexpr auto kSlotRequestTimeout = std::chrono::seconds(60);

} // namespace

std::chrono::milliseconds ShardCluster::budget_resets_in() const {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(budget_reset_at_ - steady::now()));
}

std::optional<std::string> ShardCluster::budget_low() {
  if (bot_.total == 0) return std::nullopt;
  if (steady::now() >= budget_reset_at_) {
    // Discord refills session_start_limit once its reset_after has passed; the next period
    // is a day.
    budget_remaining_ = bot_.total;
    budget_reset_at_ = steady::now() + std::chrono::hours(24);
  }
  if (budget_remaining_ > cfg_.identify_reserve) return std::nullopt;
  return fmt::format("session_start_limit: {} IDENTIFYs left of {} (SHARD_IDENTIFY_RESERVE keeps {}); no new "
                     "session until the budget resets in about {} s. Shards with a saved session still RESUME.",
                     budget_remaining_, bot_.total, cfg_.identify_reserve, budget_resets_in().count() / 1000);
}

asio::awaitable<bool> ShardCluster::wait_for_budget(std::uint32_t shard_id, std::string reason,
                                                    std::function<bool()> abandoned) {
  spdlog::error("shard {}: not identifying: {}", shard_id, reason);
  asio::steady_timer wait(io_);
  wait.expires_after(std::clamp(budget_resets_in(), std::chrono::milliseconds(1000), std::chrono::milliseconds(60'000)));
  co_await wait.async_wait(use_tuple);
  co_return !shutting_down_ && !abandoned();
}

asio::awaitable<Result<void>> ShardCluster::acquire_identify(std::uint32_t shard_id) {
  if (shutting_down_) co_return fail(Errc::cancelled, "shutting down");
  const auto wait_id = ++slot_waits_[shard_id];
  auto superseded = [this, shard_id, wait_id] { return slot_waits_[shard_id] != wait_id; };
  // Below the reserve no new session starts (a restart loop must not burn the budget): the
  // shard waits, heartbeating, until the budget refills.
  while (auto low = budget_low())
    if (!co_await wait_for_budget(shard_id, *low, superseded)) co_return fail(Errc::cancelled, "no longer needed");
  if (!link_) co_return co_await local_slot(shard_id);
  // On the IPC network the hub grants slots for every process of the bot. While the hub is
  // unreachable the shard waits (with its connection heartbeating): pacing locally could
  // collide with the other processes.
  bool warned = false;
  for (;;) {
    protocol::IdentifyRequest req;
    req.shard_id = shard_id;
    req.shard_count = shard_count_;
    req.max_concurrency = bot_.max_concurrency;
    req.window_ms = cfg_.identify_window_ms;
    req.budget = protocol::SessionBudget{bot_.total, budget_remaining_,
                                         static_cast<std::uint64_t>(budget_resets_in().count())};
    auto r = co_await link_->request_identify_slot(req, std::chrono::duration_cast<std::chrono::milliseconds>(kSlotRequestTimeout));
    if (shutting_down_) co_return fail(Errc::cancelled, "shutting down");
    if (superseded()) co_return fail(Errc::cancelled, "superseded by a newer request of the same shard");
    if (r) {
      if (budget_remaining_ > 0) --budget_remaining_;
      if (r->remaining) budget_remaining_ = std::min(budget_remaining_, *r->remaining);
      co_return Result<void>();
    }
    const auto& e = r.error();
    if (e.is(Errc::busy)) {
      // The hub's view of the budget, for the whole bot: wait as for our own.
      if (!co_await wait_for_budget(shard_id, e.message, superseded)) co_return fail(Errc::cancelled, "no longer needed");
      continue;
    }
    if (e.is(Errc::timeout)) continue; // still queued at the hub: ask again, same place
    if (!e.is(Errc::not_connected)) {
      // A legacy (v1) link, a hub that does not know identify_request, or a refused request: no
      // shared slots exist, so pace this process's IDENTIFYs as if it were alone.
      spdlog::warn("shard {}: the hub grants no IDENTIFY slots ({}); pacing IDENTIFYs in this process only", shard_id,
                   e.message);
      co_return co_await local_slot(shard_id);
    }
    if (!warned) {
      spdlog::warn("shard {}: waiting for an IDENTIFY slot from the hub ({})", shard_id, e.message);
      warned = true;
    }
    // Asks again as soon as the link is up; a second at most, so a shutdown or a newer request
    // of the shard ends this wait.
    auto linked = co_await link_->wait_linked(steady::now() + std::chrono::seconds(1));
    (void)linked;
    if (shutting_down_) co_return fail(Errc::cancelled, "shutting down");
    if (superseded()) co_return fail(Errc::cancelled, "superseded by a newer request of the same shard");
  }
}

// Without a hub: one IDENTIFY per bucket per window (plus slack), buckets in shard order as
// the shards ask.
asio::awaitable<Result<void>> ShardCluster::local_slot(std::uint32_t shard_id) {
  auto bucket = shard_id % std::max<std::uint32_t>(1, bot_.max_concurrency);
  auto at = std::max(steady::now(), bucket_free_[bucket]);
  bucket_free_[bucket] = at + std::chrono::milliseconds(cfg_.identify_window_ms) + kIdentifySlack;
  if (at > steady::now()) {
    asio::steady_timer wait(io_, at);
    co_await wait.async_wait(use_tuple);
  }
  if (shutting_down_) co_return fail(Errc::cancelled, "shutting down");
  if (budget_remaining_ > 0) --budget_remaining_;
  co_return Result<void>();
}

} // namespace shardline::gateway
