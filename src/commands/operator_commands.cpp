#include "commands/operator_commands.hpp"

#include "admin/cluster_embed.hpp"
#include "admin/cluster_report.hpp"
#include "commands/command_set.hpp"
#include "core/text.hpp"
#include "gateway/shard_cluster.hpp"
#include "link/hub_link.hpp"
#include "net/spawn_owned.hpp"
#include "protocol/body.hpp"
#include "rest/rest_cache.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace shardline::commands {

namespace json = boost::json;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Discord allows 3 s for an interaction's first answer, counted from when it sent the event.
// Past this much of it, defer (and edit later), leaving the rest for the network.
constexpr auto kDeferAfter = std::chrono::milliseconds(1500);
constexpr auto kCallbackDeadline = std::chrono::milliseconds(2900);
// An edit of the original response may come up to 15 minutes later; ours come within
// SHARD_COMMAND_TIMEOUT_MS and this margin.
constexpr auto kEditMargin = std::chrono::seconds(10);
constexpr auto kRestCallTimeout = std::chrono::seconds(10);
// Invocations handled at once; more are dropped (each costs REST calls Discord rate-limits).
constexpr std::size_t kMaxInFlight = 32;
// Refusals to strangers under way at once: they never take the owners' slots above.
constexpr std::size_t kMaxRefusalsInFlight = 8;
constexpr std::size_t kMaxQueuedPosts = 16;
constexpr int kEphemeral = 64;
constexpr auto kApplicationCacheFor = std::chrono::minutes(5);

json::object text_message(std::string text, bool ephemeral) {
  json::object m{{"content", cap_characters(std::move(text), 2000)}, {"allowed_mentions", json::object{{"parse", json::array{}}}}};
  if (ephemeral) m["flags"] = kEphemeral;
  return m;
}

json::object embed_message(json::object embed, bool ephemeral = false) {
  json::object m{{"embeds", json::array{std::move(embed)}}, {"allowed_mentions", json::object{{"parse", json::array{}}}}};
  if (ephemeral) m["flags"] = kEphemeral;
  return m;
}

std::string slash_or_prefix(const Invocation& in, const Config& cfg) {
  return (in.slash ? "/" : cfg.command_prefix) + name_of(in.command);
}

bool ok_status(unsigned s) { return s >= 200 && s < 300; }
// A response with a 2xx status (a transport failure is not one).
bool ok_status(const Result<rest::RestResponse>& r) { return r && ok_status(r->status); }


} // namespace

// What a deferred answer waits on: the message, once made.
struct Pending {
  explicit Pending(asio::io_context& io) : done(io) { done.expires_at(steady::time_point::max()); }
  std::optional<json::object> message;
  asio::steady_timer done;
};

OperatorCommands::OperatorCommands(asio::io_context& io, const Config& cfg, gateway::ShardCluster& cluster, Clock clock)
    : io_(io), cfg_(cfg), cluster_(cluster), clock_(clock),
      cooldowns_(clock, std::chrono::milliseconds(static_cast<std::int64_t>(cfg.command_cooldown_s * 1000))),
      escaped_prefix_(json_escape(cfg.command_prefix)) {}

OperatorCommands::~OperatorCommands() = default;

void OperatorCommands::attach() {
  cluster_.on("INTERACTION_CREATE", [this](gateway::Shard&, std::string_view, std::string_view data) { on_interaction(data); });
  if (cfg_.command_prefix.empty()) return;
  constexpr std::uint64_t kGuildMessages = 1u << 9, kMessageContent = 1u << 15;
  if ((cfg_.intents & (kGuildMessages | kMessageContent)) != (kGuildMessages | kMessageContent))
    spdlog::warn("prefix commands ({}clusters...) need DISCORD_INTENTS to include GUILD_MESSAGES (512) and "
                 "MESSAGE_CONTENT (32768); without them only the slash commands work",
                 cfg_.command_prefix);
  cluster_.on("MESSAGE_CREATE", [this](gateway::Shard&, std::string_view, std::string_view data) {
    // Every message of every guild passes here: most are ruled out without parsing.
    if (may_hold_prefix_command(data, escaped_prefix_)) on_message(data);
  });
}

void OperatorCommands::set_link(link::HubLink* link) {
  link_ = link;
  if (link_) link_->on_broadcast([this](const link::BroadcastMessage& b) { deliver_broadcast(b); });
}

void OperatorCommands::stop() {
  stopping_ = true;
  for (auto* t : sleeping_) t->cancel(); // start()'s retries and 429 waits end now
}

void OperatorCommands::on_interaction(std::string_view data) {
  if (auto in = parse_interaction(data)) launch(std::move(*in));
}

void OperatorCommands::on_message(std::string_view data) {
  if (auto in = parse_prefix_message(data, cfg_.command_prefix)) launch(std::move(*in));
}

void OperatorCommands::launch(Invocation in) {
  if (stopping_) return;
  const bool owner = owners_.known() && owners_.contains(in.user_id);
  if (!owner && !in.slash) {
    // A prefix message cannot be answered privately: strangers get silence rather than a
    // public reply anyone could make the bot post.
    spdlog::debug("{}{} ignored: user {} is not the bot owner", cfg_.command_prefix, name_of(in.command), in.user_id);
    return;
  }
  auto& slots = owner ? in_flight_ : refusals_in_flight_;
  if (slots >= (owner ? kMaxInFlight : kMaxRefusalsInFlight)) {
    spdlog::warn("operator command {} from user {} dropped: {} already under way", name_of(in.command), in.user_id, slots);
    return;
  }
  ++slots;
  asio::co_spawn(io_, handle(std::move(in), steady::now()), [this, &slots](std::exception_ptr e) {
    --slots;
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("operator command failed: {}", ex.what());
    }
  });
}

// Arguments of co_awaited calls are named locals, moved in: GCC 12 destroys some temporaries of
// a co_await expression twice (a lambda with captures did here).
asio::awaitable<void> OperatorCommands::handle(Invocation in, steady::time_point received) {
  const auto name = slash_or_prefix(in, cfg_);
  if (!owners_.known() || !owners_.contains(in.user_id)) {
    spdlog::debug("{} refused: user {} is not the bot owner", name, in.user_id);
    std::string text = owners_.known() ? fmt::format("⛔ Only the bot owner can use {}.", name)
                                       : "⛔ The bot owner is not known yet (set BOT_OWNER_ID); try again shortly.";
    co_await refuse(std::move(in), std::move(text));
    co_return;
  }
  // The prefix form answers in the channel for everyone to read: the network's addresses
  // stay private (the slash form's answer is ephemeral).
  if (in.command == Command::ipcstatus && !in.slash && in.guild_id != 0) {
    co_await refuse(std::move(in), fmt::format("{}ipcstatus shows the network's addresses: use /ipcstatus (only you "
                                               "see the answer) or send it in a DM.", cfg_.command_prefix));
    co_return;
  }
  if (in.command == Command::broadcastmsg) {
    auto chars = utf8_length(in.argument);
    std::string why;
    if (chars == 0) why = fmt::format("Usage: {} <message> (at most {} characters)", name, kBroadcastMaxChars);
    else if (chars > kBroadcastMaxChars)
      why = fmt::format("❌ That message has {} characters; a broadcast can have at most {}.", chars, kBroadcastMaxChars);
    if (!why.empty()) {
      co_await refuse(std::move(in), std::move(why));
      co_return;
    }
  }
  // After the checks of the input, so a refused message does not cost the owner a use.
  if (auto left = cooldowns_.try_use(in.user_id, name_of(in.command))) {
    std::string text = fmt::format("⏳ {} is on cooldown: try again in {:.1f} s.", name, left->count() / 1000.0);
    co_await refuse(std::move(in), std::move(text));
    co_return;
  }
  spdlog::info("{} by {} ({})", name, in.user_name, in.user_id);
  const bool ephemeral = in.command == Command::ipcstatus; // it shows the network's addresses
  std::optional<json::object> not_ready;
  co_await answer(std::move(in), received, std::move(not_ready), ephemeral);
}

asio::awaitable<void> OperatorCommands::refuse(Invocation in, std::string text) {
  std::optional<json::object> message = text_message(std::move(text), true);
  co_await answer(std::move(in), steady::now(), std::move(message), true);
}

asio::awaitable<json::object> OperatorCommands::produce(Invocation in) {
  switch (in.command) {
  case Command::clusters: co_return co_await clusters_message();
  case Command::ipcstatus: co_return co_await ipc_status_message();
  case Command::broadcastmsg: co_return co_await broadcast_message(std::move(in));
  }
  co_return text_message("Unknown command.", true);
}

asio::awaitable<void> OperatorCommands::produce_into(Invocation in, std::shared_ptr<Pending> pending) {
  try {
    pending->message = co_await produce(std::move(in));
  } catch (const std::exception& e) {
    spdlog::error("operator command: gathering failed: {}", e.what());
    pending->message = text_message("Something went wrong while gathering the answer; see the cluster's log.", true);
  }
  pending->done.cancel();
}

asio::awaitable<void> OperatorCommands::answer(Invocation in, steady::time_point received,
                                               std::optional<json::object> ready, bool ephemeral) {
  const auto what = slash_or_prefix(in, cfg_);
  if (!in.slash) {
    json::object message;
    if (ready) message = std::move(*ready);
    else message = co_await produce(in);
    message.erase("flags"); // a channel message is never ephemeral
    message["message_reference"] = json::object{{"message_id", std::to_string(in.message_id)}, {"fail_if_not_exists", false}};
    auto path = fmt::format("/channels/{}/messages", in.channel_id);
    auto body = json::serialize(message);
    auto r = co_await call("POST", std::move(path), std::move(body), true, steady::now() + kRestCallTimeout);
    if (!ok_status(r)) spdlog::warn("{}: the reply was not posted ({})", what, rest::describe(r));
    co_return;
  }

  auto pending = std::make_shared<Pending>(io_);
  // A broadcast acts on every cluster: it goes out only once Discord has accepted the deferral,
  // so an interaction that can no longer be answered (replayed after a RESUME, too late) is not
  // sent again when the owner retries.
  const bool defer_first = !ready && in.command == Command::broadcastmsg;
  if (ready) pending->message = std::move(*ready);
  else if (!defer_first) net::spawn_owned(io_, produce_into(in, pending), "operator command");
  const auto callback_path = fmt::format("/interactions/{}/{}/callback", in.interaction_id, in.interaction_token);
  if (!pending->message && !defer_first) {
    pending->done.expires_at(received + kDeferAfter);
    co_await pending->done.async_wait(use_tuple);
  }
  if (pending->message) {
    json::object body{{"type", 4}, {"data", std::move(*pending->message)}}; // CHANNEL_MESSAGE_WITH_SOURCE
    auto text = json::serialize(body);
    auto r = co_await call("POST", callback_path, std::move(text), false, received + kCallbackDeadline);
    if (!ok_status(r)) spdlog::warn("{}: the answer was refused ({})", what, rest::describe(r));
    co_return;
  }
  // Not ready in time: "thinking…" now, the answer as an edit of the original response.
  json::object defer{{"type", 5}}; // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
  if (ephemeral) defer["data"] = json::object{{"flags", kEphemeral}};
  auto defer_text = json::serialize(defer);
  auto r = co_await call("POST", callback_path, std::move(defer_text), false, received + kCallbackDeadline);
  if (!ok_status(r)) {
    spdlog::warn("{}: deferring was refused ({})", what, rest::describe(r));
    co_return;
  }
  if (defer_first) net::spawn_owned(io_, produce_into(in, pending), "operator command");
  const auto edit_deadline = steady::now() + std::chrono::milliseconds(cfg_.command_timeout_ms) + kEditMargin;
  if (!pending->message) {
    pending->done.expires_at(edit_deadline);
    co_await pending->done.async_wait(use_tuple);
  }
  auto message = pending->message ? std::move(*pending->message)
                                   : text_message("The answer could not be gathered in time; see the cluster's log.", true);
  message.erase("flags"); // an edit cannot change whether the response is ephemeral
  auto edit_path = fmt::format("/webhooks/{}/{}/messages/@original", in.application_id, in.interaction_token);
  auto edit_text = json::serialize(message);
  auto e = co_await call("PATCH", std::move(edit_path), std::move(edit_text), false, edit_deadline + kEditMargin);
  if (!ok_status(e)) spdlog::warn("{}: the deferred answer was refused ({})", what, rest::describe(e));
}

asio::awaitable<json::object> OperatorCommands::clusters_message() {
  // The hub sends "all" to every cluster but the asker: this cluster's own row comes from here.
  auto report = co_await admin::gather_report(link_, std::chrono::milliseconds(cfg_.command_timeout_ms),
                                              cluster_.stats());
  co_return embed_message(admin::clusters_embed(report));
}

asio::awaitable<json::object> OperatorCommands::ipc_status_message() {
  std::optional<protocol::HubStatus> hub;
  std::optional<link::LinkStatus> status;
  if (link_) status = link_->status();
  if (cfg_.ipc_mode == IpcMode::server && link_ && link_->linked()) {
    auto h = co_await link_->hub_status(std::chrono::milliseconds(cfg_.command_timeout_ms));
    if (h) hub = std::move(*h);
  }
  std::optional<json::object> own_rest;
  if (rest_gate_) own_rest = rest_gate_->stats();
  co_return embed_message(admin::ipc_status_embed(cfg_, hub, status ? &*status : nullptr, own_rest ? &*own_rest : nullptr),
                          true);
}

asio::awaitable<json::object> OperatorCommands::broadcast_message(Invocation in) {
  link::BroadcastMessage b;
  b.source = cfg_.cluster_name;
  b.message = in.argument;
  b.author = fmt::format("{} ({})", in.user_name, in.user_id);
  b.author_id = in.user_id;
  bool sent = link_ && link_->send("broadcast_message", protocol::to_data(static_cast<const protocol::Broadcast&>(b)), "all");
  // This cluster is one of "every cluster": it logs and posts the broadcast like the others.
  spdlog::info("broadcast from {} by {}: {}", b.source, one_log_line(b.author), one_log_line(b.message));
  deliver_broadcast(b);
  if (!sent) co_return text_message("⚠️ Not linked to the hub: only this cluster got the broadcast.", false);
  // The hub handles a connection's frames in order: once it answers this, the broadcast has
  // been routed to every cluster.
  auto h = co_await link_->hub_status(std::chrono::milliseconds(cfg_.command_timeout_ms));
  auto names = h ? admin::cluster_names(*h) : std::vector<std::string>{};
  std::string list;
  for (auto& n : names) list += (list.empty() ? "" : ", ") + n;
  if (!h) co_return text_message("📣 Broadcast sent; the hub did not confirm it in time.", false);
  co_return text_message(fmt::format("📣 Broadcast sent to {} cluster(s): {}", names.size(), cap_characters(list, 1500)), false);
}

void OperatorCommands::deliver_broadcast(const link::BroadcastMessage& b) {
  if (!cfg_.broadcast_channel_id) return;
  if (to_post_.size() >= kMaxQueuedPosts) {
    spdlog::warn("broadcast from {} not posted: {} posts already wait for channel {}", b.source, to_post_.size(),
                 cfg_.broadcast_channel_id);
    return;
  }
  to_post_.push_back(embed_message(admin::broadcast_embed(b)));
  if (!posting_) {
    posting_ = true;
    net::spawn_owned(io_, post_broadcasts(), "broadcast posting");
  }
}

asio::awaitable<void> OperatorCommands::post_broadcasts() {
  // One at a time, in order; call() waits out the channel's rate limit.
  while (!to_post_.empty()) {
    auto body = json::serialize(to_post_.front());
    to_post_.pop_front();
    auto path = fmt::format("/channels/{}/messages", cfg_.broadcast_channel_id);
    auto r = co_await call("POST", std::move(path), std::move(body), true, steady::now() + std::chrono::seconds(60));
    if (!ok_status(r))
      spdlog::warn("cannot post a broadcast to channel {} ({}): check SHARD_BROADCAST_CHANNEL_ID and the bot's "
                   "permission to send messages there",
                   cfg_.broadcast_channel_id, rest::describe(r));
  }
  posting_ = false;
}

asio::awaitable<void> OperatorCommands::start() {
  owners_ = owners_from_setting(cfg_.bot_owner_id);
  auto& ids = cluster_.shard_ids();
  const bool registrar = cfg_.commands_enabled && std::find(ids.begin(), ids.end(), 0u) != ids.end();
  if (owners_.known() && !registrar) {
    spdlog::info("operator commands: owner from BOT_OWNER_ID");
    co_return;
  }
  // The application: who owns it, and its id for registering commands. Retried with backoff
  // while Discord is unreachable or busy; a refusal (401, 403) is not retried.
  ApplicationInfo app;
  // Shared with the other processes of this machine for a few minutes (SHARD_DATA_DIR): a
  // respawn or a rolling restart does not spend the route's rate limit again.
  rest::RestCache cache(cfg_.data_dir, cfg_.discord_api_url, cfg_.discord_token);
  if (auto cached = cache.load("application", kApplicationCacheFor)) {
    std::string ignored;
    if (!parse_application(cached->body, app, ignored)) app = {};
  }
  auto delay = std::chrono::seconds(1);
  while (!stopping_ && !app.id) {
    auto r = co_await call("GET", "/oauth2/applications/@me", "", true, steady::now() + kRestCallTimeout);
    std::string error;
    if (r && r->status == 200 && parse_application(r->body, app, error)) {
      cache.save("application", r->body);
      break;
    }
    if (error.empty()) error = rest::describe(r);
    if (r && r->status >= 400 && r->status < 500 && r->status != 429) {
      spdlog::error("operator commands: cannot read the application ({}); {}", error,
                    owners_.known() ? "commands are not registered" : "set BOT_OWNER_ID, every invocation is refused");
      co_return;
    }
    spdlog::warn("operator commands: reading the application failed ({}); retrying in {} s", error, delay.count());
    co_await sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::seconds(60)); // until Discord answers or the cluster stops
  }
  if (stopping_) co_return;
  if (!owners_.known()) {
    owners_ = app.owners;
    spdlog::info("operator commands: owners from the {}", owners_.source);
  }
  if (registrar) co_await register_commands(app.id);
}

asio::awaitable<bool> OperatorCommands::register_commands(std::uint64_t application_id) {
  const auto path = fmt::format("/applications/{}/commands", application_id);
  // With localizations: the PUT carries the bot's other commands back as Discord has them.
  auto get_path = path + "?with_localizations=true";
  auto got = co_await call("GET", std::move(get_path), "", true, steady::now() + kRestCallTimeout);
  boost::system::error_code ec;
  auto registered = got && got->status == 200 ? json::parse(got->body, ec) : json::value();
  if (!got || got->status != 200 || ec || !registered.is_array()) {
    spdlog::error("operator commands: cannot read the registered commands ({}); slash commands are not registered",
                  rest::describe(got));
    co_return false;
  }
  auto body = commands_to_put(registered.get_array(), operator_command_set());
  if (!body) {
    spdlog::info("operator commands: slash commands already registered (unchanged)");
    co_return true;
  }
  auto put_body = json::serialize(*body);
  auto put = co_await call("PUT", path, std::move(put_body), true, steady::now() + kRestCallTimeout);
  if (!ok_status(put)) {
    spdlog::error("operator commands: registering the slash commands failed ({}: {})", rest::describe(put),
                  cap_characters(put ? put->body : std::string(), 300));
    co_return false;
  }
  spdlog::info("operator commands: registered /clusters, /ipcstatus and /broadcastmsg ({} commands in all)", body->size());
  co_return true;
}

asio::awaitable<Result<rest::RestResponse>> OperatorCommands::call(std::string method, std::string path,
                                                                   std::string body, bool bot_auth,
                                                                   steady::time_point deadline) {
  const auto route = ratelimit::classify_rest_route(method, path);
  for (int attempt = 0;; ++attempt) {
    ratelimit::RestPermit permit;
    if (rest_gate_) {
      auto asked = route; // named: no temporary inside the co_await (g++ 12)
      auto a = co_await rest_gate_->acquire(std::move(asked), attempt > 0, deadline);
      if (a.kind != ratelimit::RestAdmission::Kind::granted) co_return fail(Errc::busy, a.message);
      permit = a.permit;
      if (steady::now() >= deadline) {
        rest_gate_->release(permit);
        co_return fail(Errc::timeout, "out of time waiting for Discord's rate limit");
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) {
      if (rest_gate_) rest_gate_->release(permit);
      co_return fail(Errc::timeout, "out of time");
    }
    rest::RestRequest req{method, path, body, bot_auth ? cfg_.discord_token : std::string()};
    auto r = co_await rest::rest_call(io_, cluster_.discord_tls(), cfg_.discord_api_url, std::move(req),
                                      std::min<std::chrono::milliseconds>(left, kRestCallTimeout));
    if (rest_gate_) rest_gate_->report(permit, r ? r->limits : ratelimit::RestObservation{});
    if (!r || r->status != 429 || attempt == 3) co_return r;
    if (rest_gate_) {
      // The gate learned the wait from this 429: the retry waits its turn there.
      if (steady::now() + std::chrono::duration<double>(r->retry_after_s) >= deadline) co_return r;
      continue;
    }
    // Clamped: a figure from a proxy or a bug must not overflow the conversion or stall for hours.
    auto wait = std::chrono::duration_cast<steady::duration>(
        std::chrono::duration<double>(std::clamp(r->retry_after_s, 0.0, 60.0)));
    if (steady::now() + wait >= deadline) co_return r;
    co_await sleep_for(wait);
  }
}

asio::awaitable<void> OperatorCommands::sleep_for(steady::duration d) {
  asio::steady_timer t(io_, d);
  sleeping_.insert(&t);
  co_await t.async_wait(use_tuple);
  sleeping_.erase(&t);
}

} // namespace shardline::commands
