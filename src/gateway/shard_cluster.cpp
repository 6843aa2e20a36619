// ShardCluster: plans this process's shards from GET /gateway/bot, runs them, keeps their
// sessions (SHARD_DATA_DIR and the hub), and hands their dispatches to bot code. Its IDENTIFY
// slots are in identify_slots.cpp, what it reports to the IPC network in cluster_reports.cpp.

#include "gateway/shard_cluster.hpp"

#include "core/sharding.hpp"
#include "link/hub_link.hpp"
#include "net/backoff.hpp"
#include "rest/rest_cache.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>

namespace shardline::gateway {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kRestTimeout = std::chrono::seconds(15);
// The hub forgets a session 600 s after its last report; a resume from a sequence a few seconds
// old only replays a little more.
constexpr auto kSessionReportEvery = std::chrono::seconds(5);
// At start, how long to wait for the hub link (to ask it for sessions this disk does not
// have) before starting without them.
constexpr auto kHubLookupWait = std::chrono::seconds(5);
// How long GET /gateway/bot's answer, saved in SHARD_DATA_DIR, serves the next process start.
constexpr auto kGatewayBotCacheFor = std::chrono::seconds(60);
// A shard whose gateway URL keeps failing asks GET /gateway/bot again, at most this often.
constexpr auto kGatewayRefreshEvery = std::chrono::seconds(10);

} // namespace

ShardCluster::ShardCluster(asio::io_context& io, const Config& cfg, std::string mode)
    : io_(io), cfg_(cfg), mode_(std::move(mode)), tls_(std::make_unique<ssl::context>(ssl::context::tls_client)),
      sessions_(cfg.data_dir / "sessions", SessionBinding(cfg.discord_api_url, cfg.discord_token)),
      guild_snapshots_(cfg.data_dir / "sessions") {
  active_ = !cfg.standby;
  tls_->set_options(ssl::context::default_workarounds | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  tls_->set_default_verify_paths();
  tls_->set_verify_mode(ssl::verify_peer);
}

ShardCluster::~ShardCluster() = default;

asio::awaitable<void> ShardCluster::start() {
  co_await plan();
  if (!shutting_down_) co_await run();
}

asio::awaitable<void> ShardCluster::plan() {
  // GET /gateway/bot: the gateway URL, the shard count Discord recommends and the budget.
  // Unreachable or 5xx: retry with backoff (a cluster started before the network is up);
  // 401: the token is wrong, and retrying cannot fix it.
  // A sibling process's answer of the last minute will do (a respawn, a rolling restart): the
  // hub keeps the budget's exact count as IDENTIFYs are granted. Looked at again before every
  // retry, so a process that got a 429 takes a sibling's answer instead of asking again.
  rest::RestCache cache(cfg_.data_dir, cfg_.discord_api_url, cfg_.discord_token);
  auto from_cache = [&] {
    std::string ignored;
    auto cached = cache.load("gateway_bot", kGatewayBotCacheFor);
    if (!cached || !rest::parse_gateway_bot(cached->body, bot_, ignored)) return false;
    bot_.reset_after_ms -= std::min<std::uint64_t>(bot_.reset_after_ms, cached->age.count());
    spdlog::info("GET /gateway/bot answered {} s ago (SHARD_DATA_DIR): not asked again", cached->age.count() / 1000);
    return true;
  };
  asio::steady_timer retry(io_);
  // 1, 2, 4 ... 60 s between attempts. On the heap: its random generator (unused without
  // jitter) would take kilobytes of the coroutine's frame.
  auto backoff = std::make_unique<net::Backoff>(std::chrono::seconds(1), std::chrono::seconds(60), /*jitter=*/0.0);
  while (!from_cache()) {
    std::string path = "/gateway/bot";
    auto r = co_await rest::rest_get(io_, *tls_, cfg_.discord_api_url, std::move(path), cfg_.discord_token,
                                     kRestTimeout);
    std::string error;
    if (r && r->status == 200 && rest::parse_gateway_bot(r->body, bot_, error)) {
      cache.save("gateway_bot", r->body);
      break;
    }
    if (r && (r->status == 401 || r->status == 403))
      throw GatewayStartError(fmt::format("GET {}/gateway/bot answered {}: DISCORD_TOKEN is not a valid bot token",
                                          cfg_.discord_api_url, r->status));
    std::chrono::milliseconds delay = backoff->next_ms();
    // Rate-limited: Discord says how long, and asking sooner only earns another 429.
    if (r && r->status == 429)
      delay = std::chrono::milliseconds(static_cast<std::int64_t>(std::clamp(r->retry_after_s, 0.0, 60.0) * 1000) + 50);
    // A body that does not parse is retried like a 5xx: a proxy's error page is not the
    // operator's mistake (DISCORD_API_URL pointing elsewhere keeps failing, and says so).
    spdlog::warn("GET {}/gateway/bot failed ({}); retrying in {:.1f} s", cfg_.discord_api_url,
                 r && r->status == 200 ? error + " (is DISCORD_API_URL right?)" : rest::describe(r),
                 delay.count() / 1000.0);
    retry.expires_after(delay);
    co_await retry.async_wait(use_tuple);
    if (shutting_down_) co_return;
  }
  shard_count_ = cfg_.shard_count.value_or(bot_.shards);
  if (cfg_.shard_ids.empty()) {
    shard_ids_.resize(shard_count_);
    std::iota(shard_ids_.begin(), shard_ids_.end(), 0u);
  } else {
    shard_ids_ = cfg_.shard_ids;
    for (auto id : shard_ids_)
      if (id >= shard_count_)
        throw GatewayStartError(fmt::format("SHARD_IDS has shard {} but the shard count is {}{}: fix SHARD_IDS or "
                                            "SHARD_COUNT", id, shard_count_,
                                            cfg_.shard_count ? "" : " (SHARD_COUNT=auto, from /gateway/bot)"));
  }
  budget_remaining_ = bot_.remaining;
  budget_reset_at_ = steady::now() + std::chrono::milliseconds(bot_.reset_after_ms);
  bucket_free_.assign(bot_.max_concurrency, steady::time_point{});
  spdlog::info("gateway {}: {} shards of {} here ({}), max_concurrency {}, session_start_limit {}/{} (resets in {} s)",
               bot_.url, shard_ids_.size(), shard_count_, fmt::join(shard_ids_, ","), bot_.max_concurrency,
               bot_.remaining, bot_.total, bot_.reset_after_ms / 1000);
  if (auto low = budget_low()) spdlog::error("{}", *low);
}

asio::awaitable<void> ShardCluster::run() {

  // Sessions this disk does not have may be held by the hub (the shards ran on another machine,
  // or in a process whose disk is gone).
  std::vector<std::uint32_t> missing;
  for (auto id : shard_ids_)
    if (!sessions_.load(id, shard_count_)) missing.push_back(id);
  auto from_hub = co_await sessions_from_hub(missing);
  if (shutting_down_) co_return;

  for (auto id : shard_ids_) {
    ShardOptions so;
    so.shard_id = id;
    so.shard_count = shard_count_;
    so.token = cfg_.discord_token;
    so.intents = cfg_.intents;
    so.large_threshold = cfg_.large_threshold;
    so.compress = cfg_.gateway_compress;
    so.gateway_url = bot_.url;
    auto shard = std::make_shared<Shard>(io_, so, *this, *tls_);
    std::string error;
    auto saved = sessions_.load(id, shard_count_, &error);
    if (!error.empty()) spdlog::warn("shard {}: {}", id, error);
    if (!saved)
      if (auto it = from_hub.find(id); it != from_hub.end()) saved = it->second;
    if (saved)
      if (auto guilds = guild_snapshots_.load(id, shard_count_, saved->session_id)) shard->restore_guilds(*guilds);
    shards_.emplace(id, shard);
    shard->start(std::move(saved));
  }
  schedule_reports();
}

asio::awaitable<std::map<std::uint32_t, SavedSession>> ShardCluster::sessions_from_hub(std::vector<std::uint32_t> ids) {
  std::map<std::uint32_t, SavedSession> out;
  if (!link_ || ids.empty()) co_return out;
  co_await link_->wait_linked(steady::now() + kHubLookupWait);
  if (shutting_down_) co_return out;
  auto found = co_await link_->lookup_sessions(shard_count_, ids, std::chrono::milliseconds(3000));
  if (!found) {
    spdlog::info("no sessions from the hub for shards without a saved one ({})", found.error().message);
    co_return out;
  }
  for (auto& r : *found) {
    SavedSession s;
    static_cast<protocol::ShardSession&>(s) = std::move(r);
    // The same rule as for the files: the hub may hold sessions of another environment (a hub
    // that outlived a switch of DISCORD_API_URL, or reports of an older Shardline).
    if (auto refused = sessions_.binding().refusal(s, shard_count_)) {
      spdlog::warn("shard {}: not resuming the session {} the hub holds: {}", s.shard_id,
                   session_for_log(s.session_id), *refused);
      continue;
    }
    spdlog::info("shard {}: session {} at seq {} from the hub", s.shard_id, session_for_log(s.session_id), s.seq);
    out.emplace(s.shard_id, std::move(s));
  }
  co_return out;
}

// A shard's gateway URL keeps failing: GET /gateway/bot again, past SHARD_DATA_DIR's copy (which
// may name the gateway of an environment that is gone: a simulator restarted on another port
// behind the same API URL). One request for all the shards that ask together, and at most one
// per kGatewayRefreshEvery.
asio::awaitable<std::string> ShardCluster::fresh_gateway_url(std::uint32_t) {
  if (auto pending = gateway_refresh_) {
    auto answered = co_await pending->wait_until(steady::now() + kRestTimeout + std::chrono::seconds(1));
    (void)answered;
    co_return bot_.url;
  }
  if (shutting_down_ || (gateway_refreshed_at_ && steady::now() - *gateway_refreshed_at_ < kGatewayRefreshEvery))
    co_return bot_.url;
  gateway_refreshed_at_ = steady::now();
  auto done = std::make_shared<net::Event>(io_.get_executor());
  gateway_refresh_ = done;
  std::string path = "/gateway/bot";
  auto r = co_await rest::rest_get(io_, *tls_, cfg_.discord_api_url, std::move(path), cfg_.discord_token,
                                   kRestTimeout);
  rest::GatewayBot fresh;
  std::string error;
  if (r && r->status == 200 && rest::parse_gateway_bot(r->body, fresh, error)) {
    rest::RestCache(cfg_.data_dir, cfg_.discord_api_url, cfg_.discord_token).save("gateway_bot", r->body);
    if (fresh.url != bot_.url) spdlog::warn("GET /gateway/bot names another gateway now: {} (was {})", fresh.url, bot_.url);
    bot_.url = fresh.url;
  } else {
    spdlog::warn("GET {}/gateway/bot for a fresh gateway URL failed ({})", cfg_.discord_api_url,
                 r && r->status == 200 ? error : rest::describe(r));
  }
  gateway_refresh_.reset();
  done->set();
  co_return bot_.url;
}

void ShardCluster::report_sessions() {
  if (!link_ || !link_->linked()) return;
  std::vector<protocol::ShardSession> out;
  for (auto& [id, shard] : shards_) {
    auto s = shard->session();
    if (s.session_id.empty()) continue;
    sessions_.binding().bind(s); // a process that looks it up checks it belongs to it
    out.push_back(std::move(s));
  }
  // A lost session is reported as deleted (an empty session id) unless the shard already has a
  // new one (reported above, which replaces it at the hub).
  for (auto id : lost_sessions_)
    if (shards_.at(id)->session().session_id.empty()) out.push_back({id, shard_count_, "", 0, "", ""});
  if (out.empty()) return;
  if (link_->report_sessions(shard_count_, std::move(out))) lost_sessions_.clear();
}

void ShardCluster::schedule_reports() {
  if (shutting_down_) return;
  if (!report_timer_) report_timer_ = std::make_unique<asio::steady_timer>(io_);
  report_timer_->expires_after(kSessionReportEvery);
  report_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutting_down_) return;
    report_sessions();
    schedule_reports();
  });
}

// The session (every second while events flow) and, when it changed, the guild list with it:
// both describe the same sequence number, so a RESUME from that number rebuilds the list
// exactly. Guild lists change with every GUILD_CREATE at start and rarely after.
//
// The frequent saves go to the writer thread (state_writer.hpp), with copies of what they save.
// The final one (all_guilds, at shutdown) is durable (fsync) and done here, after every queued
// save, so that it is the last word; the frequent ones need only survive the process.
void ShardCluster::save_state(Shard& shard, bool all_guilds) {
  auto s = shard.session();
  if (s.session_id.empty()) return;
  std::optional<std::vector<GuildRecord>> guilds;
  if (all_guilds || shard.guilds_changed()) guilds = shard.take_guilds();
  auto write = [this, s = std::move(s), guilds = std::move(guilds), durable = all_guilds] {
    std::string error;
    if (!sessions_.save(s, error, durable))
      spdlog::warn("shard {}: cannot save its session: {}", s.shard_id, error);
    if (guilds && !guild_snapshots_.save(s.shard_id, s.shard_count, s.session_id, *guilds, error))
      spdlog::warn("shard {}: cannot save its guild list: {}", s.shard_id, error);
  };
  if (!all_guilds) return state_writer_.post(std::move(write));
  state_writer_.flush();
  write();
}

void ShardCluster::shutdown(std::chrono::milliseconds deadline, std::function<void()> done, bool save_state_now) {
  shutting_down_ = true;
  if (report_timer_) report_timer_->cancel();
  // Superseded: the saved state is the newer process's now; what is queued must not overwrite it.
  if (!save_state_now) state_writer_.discard();
  if (save_state_now) report_sessions(); // the hub gets the last sequences too
  if (shards_.empty()) {
    if (done) done();
    return;
  }
  auto left = std::make_shared<std::size_t>(shards_.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& [id, shard] : shards_) {
    // Saved now, with the last sequence handled: the next process resumes from here.
    if (save_state_now) save_state(*shard, true);
    shard->shutdown(deadline, [left, finish] {
      if (--*left == 0 && *finish) {
        auto f = std::move(*finish);
        *finish = nullptr;
        f();
      }
    });
  }
}

void ShardCluster::on(std::string type, DispatchHandler handler) { handlers_.emplace(std::move(type), std::move(handler)); }

bool ShardCluster::send(std::uint32_t shard_id, int op, std::string_view d_json) {
  auto it = shards_.find(shard_id);
  return it != shards_.end() && it->second->send_command(op, d_json);
}

std::optional<std::uint32_t> ShardCluster::shard_of_guild(std::uint64_t guild_id) const {
  if (shard_count_ == 0) return std::nullopt;
  auto id = shard_for_guild(guild_id, shard_count_);
  if (!shards_.count(id)) return std::nullopt;
  return id;
}

Shard* ShardCluster::shard(std::uint32_t shard_id) {
  auto it = shards_.find(shard_id);
  return it == shards_.end() ? nullptr : it->second.get();
}

bool ShardCluster::all_ready() const {
  return !shards_.empty() && std::all_of(shards_.begin(), shards_.end(), [](auto& kv) {
    return kv.second->status() == ShardStatus::ready;
  });
}

// ---- shard events -----------------------------------------------------------------------------

void ShardCluster::set_active(bool active) {
  if (active_ == active) return;
  active_ = active;
  spdlog::info("layout of {} shards: events {} bot code", shard_count_, active ? "go to" : "no longer go to");
}

void ShardCluster::on_dispatch(Shard& shard, std::string_view type, std::string_view data) {
  if (tap_) tap_(shard, type, data);
  if (handlers_.empty() || !active_) return;
  // A throwing handler is bot code's bug: logged, and the shard keeps running.
  auto call = [&](const DispatchHandler& h) {
    try {
      h(shard, type, data);
    } catch (const std::exception& e) {
      spdlog::error("shard {}: handler for {} threw: {}", shard.id(), type, e.what());
    } catch (...) {
      spdlog::error("shard {}: handler for {} threw", shard.id(), type);
    }
  };
  auto [b, e] = handlers_.equal_range(type);
  for (auto it = b; it != e; ++it) call(it->second);
  auto [ab, ae] = handlers_.equal_range(std::string_view("*"));
  for (auto it = ab; it != ae; ++it) call(it->second);
}

void ShardCluster::on_ready(Shard&, bool resumed) {
  if (!resumed) report_sessions(); // a new session: the hub knows it at once
  if (all_ready()) spdlog::info("all {} shards ready", shards_.size());
}

void ShardCluster::on_session_update(Shard& shard) {
  // After shutdown began the state was saved once, final; a superseded process saves nothing.
  if (!shutting_down_) save_state(shard, false);
}

void ShardCluster::on_session_lost(Shard& shard) {
  // Once shutting down (or superseded), the saved state may already be the next process's.
  if (shutting_down_) return;
  // In order with the saves queued before it: none of them may bring the session back.
  state_writer_.post([this, id = shard.id(), count = shard.count()] {
    sessions_.remove(id, count);
    guild_snapshots_.remove(id, count);
  });
  lost_sessions_.push_back(shard.id());
}

// The shard has logged why; the other shards keep running, and shard_status shows the reason.
void ShardCluster::on_stopped(Shard&, const std::string&) {}

} // namespace shardline::gateway
