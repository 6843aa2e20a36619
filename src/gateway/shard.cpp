// A shard's connection loop: connect (to the session's resume_gateway_url when it has one),
// read, inflate and parse every message and hand it to the protocol (shard_protocol.cpp), then
// decide from how the connection ended whether to resume, start a new session or stop, and
// reconnect after the right delay. Also the Shard's public face.

#include "gateway/gateway_commands.hpp"
#include "gateway/gateway_url.hpp"
#include "gateway/shard_impl.hpp"
#include "net/connect.hpp"
#include "net/spawn_owned.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <random>

namespace shardline::gateway {

const char* to_string(ShardStatus s) {
  switch (s) {
  case ShardStatus::starting: return "starting";
  case ShardStatus::connecting: return "connecting";
  case ShardStatus::waiting_slot: return "waiting_slot";
  case ShardStatus::identifying: return "identifying";
  case ShardStatus::resuming: return "resuming";
  case ShardStatus::ready: return "ready";
  case ShardStatus::reconnecting: return "reconnecting";
  case ShardStatus::stopped: return "stopped";
  }
  return "unknown";
}

namespace {

using namespace std::chrono_literals;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxPayloadBytes = 4096;  // Discord's limit on what a client sends
constexpr std::size_t kMaxQueuedCommands = 512; // beyond, send_command refuses
// A payload buffer grown past this by a large message (a big GUILD_CREATE is hundreds of KB) is
// given back afterwards: 16 shards each keeping their largest message would cost more than
// their guilds do.
constexpr std::size_t kKeepBufferBytes = 64 * 1024;

// Reconnecting after connections that failed before READY or RESUMED (refused, closed, a
// RECONNECT while resuming): 0.5-1 s, doubling to 30-60 s, jittered so shards spread out.
// Reconnecting at once would loop, and a shard without a session would spend an IDENTIFY on
// every turn.
const net::BackoffOptions kFailureBackoff{0.5s, 30s, 1.0};
// After a connection that reached READY or RESUMED (a RECONNECT, a resumable close): at once,
// within this jitter.
constexpr auto kQuickReconnect = 250ms;
// Discord: wait 1-5 s before a new IDENTIFY.
constexpr auto kReidentifyMin = 1000ms;
constexpr auto kReidentifySpread = 4000ms;

std::function<double()> default_random() {
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
}

std::chrono::milliseconds scaled(std::chrono::milliseconds d, double factor) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(d.count()) * factor));
}

} // namespace

Shard::Impl::Impl(asio::io_context& io_, ShardOptions o, ShardHost& host_, std::shared_ptr<WsConnector> connector_,
                  std::function<double()> random_, Shard& owner_)
    : io(io_), opt(std::move(o)), host(host_), connector(std::move(connector_)),
      random(random_ ? std::move(random_) : default_random()), owner(owner_), limiter(real_clock()),
      backoff(kFailureBackoff, static_cast<std::uint64_t>(random() * 9007199254740992.0)), backoff_timer(io_) {}

// ---- the connection loop ----------------------------------------------------------------------

std::chrono::milliseconds Shard::Impl::reconnect_delay(NextStep step) {
  auto delay = reached_ready ? scaled(kQuickReconnect, random()) : backoff.next_ms();
  if (step == NextStep::reidentify) delay = std::max(delay, kReidentifyMin + scaled(kReidentifySpread, random()));
  return delay;
}

asio::awaitable<void> Shard::Impl::run(std::shared_ptr<Impl> self) {
  NextStep step = NextStep::resume;
  bool first = true;
  while (!self->stopping) {
    if (!first) {
      ++self->counters.reconnects;
      self->status = ShardStatus::reconnecting;
      self->backoff_timer.expires_after(self->reconnect_delay(step));
      auto [ec] = co_await self->backoff_timer.async_wait(use_tuple);
      (void)ec;
      if (self->stopping) break;
    }
    first = false;
    if (self->gateway_url_failures >= std::max<std::uint32_t>(self->opt.url_attempts, 1)) {
      co_await refresh_gateway_url(self);
      if (self->stopping) break;
    }
    step = co_await self->connect_and_serve();
    if (self->status == ShardStatus::stopped) break;
  }
  self->finish_shutdown();
}

asio::awaitable<NextStep> Shard::Impl::connect_and_serve() {
  status = ShardStatus::connecting;
  reached_ready = false;
  // A session resumes at its resume_gateway_url, which may be gone (a session of another
  // environment, a node Discord retired): url_failed() falls back to the gateway URL.
  const bool at_resume_url = !session_id.empty() && !resume_url.empty() && resume_url != opt.gateway_url;
  const std::string url = at_resume_url ? resume_url : opt.gateway_url;
  auto target = parse_gateway_url(url, opt.compress);
  if (!target && at_resume_url) {
    // Saved or reported by someone else: not worth stopping the shard over.
    spdlog::warn("shard [{}, {}]: resume URL of session {} is not a gateway URL ({}); resuming at {}", opt.shard_id,
                 opt.shard_count, session_for_log(session_id), target.error().message, opt.gateway_url);
    resume_url = opt.gateway_url;
    co_return NextStep::resume;
  }
  if (!target) {
    stop(fmt::format("gateway URL: {}", target.error().message));
    co_return NextStep::resume;
  }
  const auto connect_timeout = at_resume_url ? std::min(opt.connect_timeout, opt.resume_url_timeout) : opt.connect_timeout;
  const auto hello_timeout = at_resume_url ? std::min(opt.hello_timeout, opt.resume_url_timeout) : opt.hello_timeout;
  const auto deadline = steady::now() + connect_timeout;
  auto opened = co_await connector->connect(std::move(*target), deadline);
  if (stopping) co_return NextStep::resume;
  if (!opened) {
    spdlog::warn("shard {}: {}", opt.shard_id, opened.error().message);
    url_failed(at_resume_url, opened.error().message);
    co_return NextStep::resume;
  }
  const std::uint64_t g = ++gen;
  conn = std::move(*opened);
  auto ws = conn; // this connection, for the loop below
  hello_seen = false;
  close_requested = false;
  next = NextStep::decide_by_close_code;
  outq.clear();
  limiter.reset();
  inflater.reset();
  writer_wake = std::make_shared<net::Condition>(io.get_executor());
  heartbeat_timer = std::make_shared<asio::steady_timer>(io);
  net::spawn_owned(io, writer(shared_from_this(), ws, writer_wake, g), "gateway shard writer");

  std::optional<std::uint16_t> server_code;
  bool protocol_error = false;
  {
    // HELLO must come within hello_timeout, or the connection is useless.
    net::Watchdog no_hello(io.get_executor(), steady::now() + hello_timeout, [this, g] {
      if (gen != g || hello_seen || !conn) return;
      spdlog::warn("shard {}: no HELLO within the deadline; reconnecting", opt.shard_id);
      conn->force_close();
    });
    for (;;) {
      auto msg = co_await ws->read();
      if (!msg) {
        server_code = ws->close_code();
        break;
      }
      if (!ingest(*msg)) {
        protocol_error = true;
        break;
      }
    }
  }
  // The connection is over: stale tasks see the new generation and end.
  ++gen;
  ws->force_close();
  conn.reset();
  if (writer_wake) writer_wake->notify();
  if (heartbeat_timer) heartbeat_timer->cancel();
  outq.clear();
  if (!stopping && status != ShardStatus::stopped) {
    if (hello_seen) (at_resume_url ? resume_url_failures : gateway_url_failures) = 0;
    else url_failed(at_resume_url, "the connection ended before HELLO");
  }
  if (stopping || status == ShardStatus::stopped || protocol_error) co_return NextStep::resume;
  if (next != NextStep::decide_by_close_code) co_return next;
  auto decision = decide_close(server_code);
  spdlog::info("shard {}: connection closed ({}): {}", opt.shard_id,
               server_code ? std::to_string(*server_code) : std::string("no close code"), decision.reason);
  switch (decision.action) {
  case CloseAction::resume: co_return NextStep::resume;
  case CloseAction::reidentify: forget_session(); co_return NextStep::reidentify;
  case CloseAction::stop: stop(std::string(decision.reason)); co_return NextStep::resume;
  }
  co_return NextStep::resume;
}

void Shard::Impl::url_failed(bool at_resume_url, const std::string& why) {
  const auto attempts = std::max<std::uint32_t>(opt.url_attempts, 1);
  if (!at_resume_url) {
    ++gateway_url_failures;
    return;
  }
  if (++resume_url_failures < attempts) return;
  // The session may still live: Discord resumes it at the gateway URL too, or answers
  // INVALID_SESSION, and the shard identifies anew.
  spdlog::warn("shard [{}, {}]: resume URL {} failed {} times in a row ({}); resuming session {} at the gateway "
               "URL {} instead",
               opt.shard_id, opt.shard_count, resume_url, resume_url_failures, why, session_for_log(session_id),
               opt.gateway_url);
  resume_url = opt.gateway_url;
  resume_url_failures = 0;
}

asio::awaitable<void> Shard::Impl::refresh_gateway_url(std::shared_ptr<Impl> self) {
  self->gateway_url_failures = 0;
  auto fresh = co_await self->host.fresh_gateway_url(self->opt.shard_id);
  if (self->stopping || fresh.empty() || fresh == self->opt.gateway_url) co_return;
  if (!parse_gateway_url(fresh, self->opt.compress)) co_return;
  spdlog::warn("shard [{}, {}]: gateway URL {} keeps failing; the API now names {}", self->opt.shard_id,
               self->opt.shard_count, self->opt.gateway_url, fresh);
  // A session that had fallen back to the old gateway URL resumes at the new one.
  if (self->resume_url == self->opt.gateway_url) self->resume_url = fresh;
  self->opt.gateway_url = std::move(fresh);
}

// The ingest path, once per message of every shard: no allocation once the buffers have grown.
bool Shard::Impl::ingest(const WsMessage& msg) {
  counters.bytes_in += msg.data.size();
  if (msg.binary) {
    auto r = inflater.feed(msg.data, text);
    if (r == ZlibInflater::Result::need_more) return true;
    if (r == ZlibInflater::Result::error) {
      spdlog::warn("shard {}: corrupt zlib-stream; reconnecting", opt.shard_id);
      return false;
    }
  } else {
    text.assign(msg.data);
  }
  GatewayPayload p;
  std::string perr;
  if (!parser.parse(text, p, perr)) {
    spdlog::warn("shard {}: unreadable payload ({}); reconnecting", opt.shard_id, perr);
    return false;
  }
  if (!handle(p)) return false;
  if (text.capacity() > kKeepBufferBytes) std::string().swap(text);
  return true;
}

void Shard::Impl::stop(std::string reason) {
  if (status == ShardStatus::stopped) return;
  status = ShardStatus::stopped;
  stop_reason = std::move(reason);
  spdlog::error("shard [{}, {}] stopped: {}", opt.shard_id, opt.shard_count, stop_reason);
  if (conn) end_connection(NextStep::resume, kResumeCloseCode);
  backoff_timer.cancel();
  host.on_stopped(owner, stop_reason);
}

void Shard::Impl::finish_shutdown() {
  if (shutdown_timer) shutdown_timer->cancel();
  if (auto done = std::move(shutdown_done)) {
    shutdown_done = nullptr;
    done();
  }
}

// ---- Shard ------------------------------------------------------------------------------------

Shard::Shard(asio::io_context& io, ShardOptions options, ShardHost& host, ssl::context& tls)
    : Shard(io, options, host, websocket_connector(tls, options.connect_timeout)) {}

Shard::Shard(asio::io_context& io, ShardOptions options, ShardHost& host, std::shared_ptr<WsConnector> connector,
             std::function<double()> random)
    : impl_(std::make_shared<Impl>(io, std::move(options), host, std::move(connector), std::move(random), *this)) {}

Shard::~Shard() {
  impl_->stopping = true;
  if (impl_->conn) impl_->conn->force_close();
}

void Shard::start(std::optional<SavedSession> saved) {
  auto& s = *impl_;
  if (saved && saved->shard_id == s.opt.shard_id && saved->shard_count == s.opt.shard_count &&
      !saved->session_id.empty()) {
    s.session_id = saved->session_id;
    s.seq = saved->seq;
    s.resume_url = saved->resume_url;
    spdlog::info("shard [{}, {}]: saved session {} at seq {}: will RESUME", s.opt.shard_id, s.opt.shard_count,
                 session_for_log(saved->session_id), saved->seq);
  }
  // A failure of the loop is a bug: logged by spawn_owned; the shard stops where it is.
  net::spawn_owned(s.io, Impl::run(impl_), "gateway shard connection loop", [impl = impl_](const std::exception&) {
    spdlog::error("shard {}: stopped after its connection loop failed", impl->opt.shard_id);
    ++impl->gen;
    if (impl->conn) impl->conn->force_close();
    impl->status = ShardStatus::stopped;
    impl->finish_shutdown();
  });
}

void Shard::shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
  auto& s = *impl_;
  if (s.stopping && (s.shutdown_done || s.shutdown_timer)) {
    // Already shutting down (SIGTERM, then superseded): both callers are told, once, when
    // the first shutdown finishes; its deadline stands.
    if (done) {
      auto first = std::move(s.shutdown_done);
      s.shutdown_done = [first = std::move(first), done = std::move(done)] {
        if (first) first();
        done();
      };
    }
    return;
  }
  s.stopping = true;
  s.backoff_timer.cancel();
  if (!s.conn && s.status != ShardStatus::connecting) {
    // Between connections (or stopped): nothing to close.
    if (s.status != ShardStatus::stopped) s.status = ShardStatus::stopped;
    if (done) done();
    return;
  }
  s.shutdown_done = std::move(done);
  s.shutdown_timer = std::make_unique<asio::steady_timer>(s.io, deadline);
  s.shutdown_timer->async_wait([impl = impl_](const boost::system::error_code& ec) {
    if (ec) return;
    if (impl->conn) impl->conn->force_close();
    impl->finish_shutdown();
  });
  // Resumable: the session (saved by the host) is taken over by the next process.
  s.end_connection(NextStep::resume, kResumeCloseCode);
}

bool Shard::send_command(int op, std::string_view d_json) {
  auto& s = *impl_;
  if (!s.connected() || s.status != ShardStatus::ready || s.outq.size() >= kMaxQueuedCommands) return false;
  auto payload = command_payload(op, d_json);
  if (!payload) {
    // A bot's bug: Discord would close the connection (4002) over it.
    spdlog::warn("shard {}: gateway command (op {}) not sent: {}", s.opt.shard_id, op, payload.error().message);
    return false;
  }
  if (payload->size() > kMaxPayloadBytes) return false;
  s.queue(std::move(*payload), false);
  return true;
}

std::uint32_t Shard::id() const { return impl_->opt.shard_id; }
std::uint32_t Shard::count() const { return impl_->opt.shard_count; }
ShardStatus Shard::status() const { return impl_->status; }
std::optional<std::chrono::microseconds> Shard::latency() const { return impl_->latency; }
const ShardCounters& Shard::counters() const { return impl_->counters; }
const std::string& Shard::stop_reason() const { return impl_->stop_reason; }
std::size_t Shard::guild_count() const { return impl_->guilds.count(); }
std::size_t Shard::unavailable_guilds() const { return impl_->guilds.unavailable(); }
std::uint64_t Shard::member_count() const { return impl_->guilds.members(); }
bool Shard::guilds_changed() const { return impl_->guilds.changed(); }
std::vector<GuildRecord> Shard::take_guilds() { return impl_->guilds.take(); }
void Shard::restore_guilds(const std::vector<GuildRecord>& guilds) { impl_->guilds.restore(guilds); }

SavedSession Shard::session() const {
  SavedSession s;
  s.shard_id = impl_->opt.shard_id;
  s.shard_count = impl_->opt.shard_count;
  s.session_id = impl_->session_id;
  s.seq = impl_->seq;
  s.resume_url = impl_->resume_url;
  s.saved_at_unix_ms = wall_clock_ms();
  return s;
}

} // namespace shardline::gateway
