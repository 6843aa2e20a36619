// A shard on one connection (../shared/discord/gateway.md, "Connection lifecycle"): what it says
// and answers. HELLO starts the heartbeats (the first at interval x jitter) and then RESUME, or
// IDENTIFY once the host grants a slot; dispatches move the sequence and the session; RECONNECT
// and INVALID_SESSION end the connection with what to do next; a beat without an ACK since the
// last one closes a zombie connection. Everything sent goes through one paced writer.

#include "gateway/gateway_commands.hpp"
#include "gateway/shard_impl.hpp"
#include "net/spawn_owned.hpp"

#include <spdlog/spdlog.h>

namespace shardline::gateway {

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kCloseDeadline = std::chrono::seconds(2); // then the socket is closed without ceremony
constexpr auto kSessionSaveEvery = std::chrono::seconds(1);
} // namespace

// ---- sending ----------------------------------------------------------------------------------

void Shard::Impl::queue(std::string payload, bool heartbeat) {
  if (!connected()) return;
  if (heartbeat) outq.push_front({std::move(payload), true});
  else outq.push_back({std::move(payload), false});
  ++queued;
  if (writer_wake) writer_wake->notify();
}

// An answer to the server's HEARTBEAT request must not reset the ACK check, or a request just
// before a beat would look like a zombie.
void Shard::Impl::send_heartbeat(bool scheduled) {
  if (scheduled) {
    heartbeat_acked = false;
    heartbeat_sent = steady::now();
  }
  queue(heartbeat_payload(seq), true);
}

void Shard::Impl::end_connection(NextStep step, std::uint16_t code) {
  if (!conn || close_requested) return;
  next = step;
  close_requested = true;
  close_code = code;
  outq.clear();
  if (writer_wake) writer_wake->notify();
  auto timer = std::make_shared<asio::steady_timer>(io, kCloseDeadline);
  timer->async_wait([self = shared_from_this(), g = gen, timer](const boost::system::error_code& ec) {
    if (!ec && self->gen == g && self->conn) self->conn->force_close();
  });
}

// The connection's stream and wake-up are held by this coroutine until its last operation
// completes, even if the reader has already moved on to a new connection.
asio::awaitable<void> Shard::Impl::writer(std::shared_ptr<Impl> self, std::shared_ptr<WsConnection> ws,
                                          std::shared_ptr<net::Condition> wake, std::uint64_t g) {
  Impl& s = *self;
  for (;;) {
    if (s.gen != g || !s.conn) co_return;
    if (s.close_requested) {
      auto closed = co_await ws->close(s.close_code);
      (void)closed; // the reader sees the close completing (or the forced close)
      co_return;
    }
    // Wakes when this connection ends or closes, or anything is queued (a heartbeat jumps the
    // queue: it may go while an ordinary command waits for its share).
    const auto seen = s.queued;
    auto changed = [&s, g, seen] { return s.gen != g || !s.conn || s.close_requested || s.queued != seen; };
    if (s.outq.empty()) {
      auto woken = co_await wake->wait_until(changed, steady::time_point::max());
      (void)woken;
      continue;
    }
    // Heartbeats may use the whole limit; anything else waits for its share (CommandLimiter).
    const bool heartbeat = s.outq.front().heartbeat;
    if (!s.limiter.try_acquire(heartbeat)) {
      auto woken = co_await wake->wait_until(changed, s.limiter.next_allowed(heartbeat));
      (void)woken;
      continue;
    }
    auto payload = std::move(s.outq.front());
    s.outq.pop_front();
    auto sent = co_await ws->write(payload.text);
    if (!sent) {
      ws->force_close();
      co_return;
    }
  }
}

// ---- heartbeats -------------------------------------------------------------------------------

asio::awaitable<void> Shard::Impl::heartbeater(std::shared_ptr<Impl> self, std::shared_ptr<asio::steady_timer> timer,
                                               std::uint64_t g, std::uint32_t interval_ms) {
  // The first beat at interval * jitter, as Discord asks, so shards started together do not
  // beat together.
  timer->expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(interval_ms * self->random())));
  for (;;) {
    auto [ec] = co_await timer->async_wait(use_tuple);
    (void)ec;
    if (self->gen != g || !self->conn || self->close_requested) co_return;
    if (!self->heartbeat_acked) {
      // No ACK since the last beat: a zombie connection. Close it (not with 1000/1001, so the
      // session survives) and resume on a new one.
      ++self->counters.zombies;
      spdlog::warn("shard {}: no HEARTBEAT_ACK within {} ms: zombie connection, reconnecting to resume",
                   self->opt.shard_id, interval_ms);
      self->end_connection(NextStep::resume, kResumeCloseCode);
      co_return;
    }
    self->send_heartbeat(true);
    timer->expires_after(std::chrono::milliseconds(interval_ms));
  }
}

// ---- IDENTIFY / RESUME ------------------------------------------------------------------------

void Shard::Impl::send_resume() {
  status = ShardStatus::resuming;
  ++counters.resumes;
  spdlog::info("shard {}: RESUME session {} at seq {}", opt.shard_id, session_for_log(session_id), seq);
  queue(resume_payload(opt.token, session_id, seq), false);
}

asio::awaitable<void> Shard::Impl::identify_when_allowed(std::shared_ptr<Impl> self, std::uint64_t g) {
  self->status = ShardStatus::waiting_slot;
  auto allowed = co_await self->host.acquire_identify(self->opt.shard_id);
  if (self->gen != g || !self->connected() || self->stopping) co_return; // the slot goes unused; harmless
  if (!allowed) {
    self->stop(allowed.error().message);
    co_return;
  }
  self->status = ShardStatus::identifying;
  ++self->counters.identifies;
  spdlog::info("shard [{}, {}]: IDENTIFY", self->opt.shard_id, self->opt.shard_count);
  const auto& o = self->opt;
  self->queue(identify_payload({o.token, o.intents, o.shard_id, o.shard_count, o.large_threshold}), false);
}

// ---- receiving --------------------------------------------------------------------------------

void Shard::Impl::forget_session() {
  if (session_id.empty()) return;
  session_id.clear();
  resume_url.clear();
  seq = 0;
  host.on_session_lost(owner);
}

void Shard::Impl::save_session() {
  if (session_id.empty()) return;
  last_session_save = steady::now();
  host.on_session_update(owner);
}

bool Shard::Impl::handle(const GatewayPayload& p) {
  switch (p.op) {
  case opcode::hello: {
    if (hello_seen) return true;
    std::uint32_t interval = 0;
    if (!parser.hello_interval(p.data, interval) || interval == 0) {
      spdlog::warn("shard {}: HELLO without a heartbeat_interval; reconnecting", opt.shard_id);
      return false;
    }
    hello_seen = true;
    heartbeat_acked = true;
    net::spawn_owned(io, heartbeater(shared_from_this(), heartbeat_timer, gen, interval), "gateway shard heartbeats");
    limiter.set_heartbeat_reserve(CommandLimiter::reserve_for(std::chrono::milliseconds(interval)));
    if (!session_id.empty()) send_resume();
    else net::spawn_owned(io, identify_when_allowed(shared_from_this(), gen), "gateway shard IDENTIFY");
    return true;
  }
  case opcode::heartbeat: // the server asks for one now
    send_heartbeat(false);
    return true;
  case opcode::heartbeat_ack:
    heartbeat_acked = true;
    latency = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - heartbeat_sent);
    return true;
  case opcode::reconnect:
    spdlog::info("shard {}: RECONNECT requested; resuming on a new connection", opt.shard_id);
    end_connection(NextStep::resume, kResumeCloseCode);
    return true;
  case opcode::invalid_session: {
    const bool resumable = PayloadParser::invalid_session_resumable(p.data);
    spdlog::warn("shard {}: INVALID_SESSION ({})", opt.shard_id, resumable ? "resumable" : "not resumable");
    if (resumable && !session_id.empty()) {
      end_connection(NextStep::resume, kResumeCloseCode);
    } else {
      forget_session();
      end_connection(NextStep::reidentify, kResumeCloseCode);
    }
    return true;
  }
  case opcode::dispatch: break;
  default: return true; // an opcode a client does not receive: ignore
  }
  if (p.seq && *p.seq > seq) seq = *p.seq;
  ++counters.events;
  if (p.type == "READY") {
    ReadyInfo r;
    if (!parser.ready(p.data, r)) {
      spdlog::error("shard {}: READY without session_id or resume_gateway_url; reconnecting", opt.shard_id);
      return false;
    }
    session_id = std::move(r.session_id);
    resume_url = std::move(r.resume_gateway_url);
    resume_url_failures = 0;
    guilds.start_session(r.guild_ids);
    status = ShardStatus::ready;
    backoff.reset();
    reached_ready = true;
    spdlog::info("shard [{}, {}]: READY, session {}, {} guilds", opt.shard_id, opt.shard_count,
                 session_for_log(session_id), r.guild_ids.size());
    host.on_ready(owner, false);
    save_session();
  } else if (p.type == "RESUMED") {
    status = ShardStatus::ready;
    backoff.reset();
    reached_ready = true;
    spdlog::info("shard [{}, {}]: RESUMED session {} at seq {}", opt.shard_id, opt.shard_count,
                 session_for_log(session_id), seq);
    host.on_ready(owner, true);
    save_session();
  } else if (p.type == "GUILD_CREATE" || p.type == "GUILD_DELETE" || p.type == "GUILD_UPDATE") {
    GuildInfo g;
    if (parser.guild(p.data, g)) guilds.apply(p.type, g);
  }
  host.on_dispatch(owner, p.type, p.data);
  if (steady::now() - last_session_save >= kSessionSaveEvery) save_session();
  return true;
}

} // namespace shardline::gateway
