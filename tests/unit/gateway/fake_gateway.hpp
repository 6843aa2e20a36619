#pragma once
// A scripted gateway for driving a Shard in unit tests (shard_test.cpp): FakeGateway is the
// WsConnector, answering as Discord does unless told otherwise (HELLO on connect, an ACK for
// every heartbeat, READY for IDENTIFY, RESUMED for RESUME) and recording every payload with its
// time; FakeConnection is one of its websockets, which the test can also close (with or without
// a close code); FakeHost is the ShardHost, granting IDENTIFY slots when the test says.

#include "gateway/shard.hpp"
#include "net/event.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace shardline::gateway::test {

namespace json = boost::json;

// ---- the scripted server ----------------------------------------------------------------------

struct Sent {
  json::object payload;
  steady::time_point at;
  int op() const { return static_cast<int>(payload.at("op").as_int64()); }
  const json::value& d() const { return payload.at("d"); }
};

class FakeConnection final : public WsConnection {
public:
  FakeConnection(asio::io_context& io, GatewayTarget t) : target(std::move(t)), opened(steady::now()), cond_(io.get_executor()) {}

  // ---- the server's side ----
  void push(std::string text, bool binary = false) {
    inbox_.push_back({std::move(text), binary});
    cond_.notify();
  }
  // The server's close frame.
  void server_close(std::uint16_t code) {
    code_ = code;
    end();
  }
  // The TCP connection ends without a close frame.
  void drop() { end(); }

  std::function<void(FakeConnection&, const Sent&)> on_write;
  const GatewayTarget target;
  const steady::time_point opened;
  std::vector<Sent> sent;
  std::optional<std::uint16_t> closed_with; // our close frame's code
  bool forced = false;
  bool ended() const { return ended_; }

  // The first payload that is not a heartbeat (a beat may go first: it jumps the queue).
  const Sent& first_command() const {
    for (auto& s : sent)
      if (s.op() != 1) return s;
    throw std::runtime_error("nothing but heartbeats sent");
  }

  std::vector<Sent> sent_with_op(int op) const {
    std::vector<Sent> out;
    for (auto& s : sent)
      if (s.op() == op) out.push_back(s);
    return out;
  }

  // ---- WsConnection ----
  asio::awaitable<Result<WsMessage>> read() override {
    auto ready = co_await cond_.wait_until([this] { return !inbox_.empty() || ended_; }, steady::time_point::max());
    (void)ready;
    if (inbox_.empty()) co_return fail(Errc::closed, "closed");
    current_ = std::move(inbox_.front());
    inbox_.pop_front();
    co_return WsMessage{current_.text, current_.binary};
  }

  asio::awaitable<Result<void>> write(std::string_view text) override {
    if (ended_) co_return fail(Errc::closed, "write after the end");
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    EXPECT_FALSE(ec) << "the shard sent something that is not JSON: " << text;
    EXPECT_LE(text.size(), 4096u);
    if (ec || !v.is_object()) co_return Result<void>();
    sent.push_back({std::move(v.as_object()), steady::now()});
    if (on_write) on_write(*this, sent.back());
    co_return Result<void>();
  }

  asio::awaitable<Result<void>> close(std::uint16_t code) override {
    closed_with = code;
    end();
    co_return Result<void>();
  }

  std::optional<std::uint16_t> close_code() const override { return code_; }

  void force_close() override {
    forced = true;
    end();
  }

private:
  struct Message {
    std::string text;
    bool binary = false;
  };
  void end() {
    ended_ = true;
    cond_.notify();
  }

  net::Condition cond_;
  std::deque<Message> inbox_;
  Message current_;
  bool ended_ = false;
  std::optional<std::uint16_t> code_;
};

// A gateway that answers as Discord does unless told otherwise: HELLO on connect, an ACK for
// every heartbeat, READY for IDENTIFY, RESUMED for RESUME.
class FakeGateway final : public WsConnector {
public:
  explicit FakeGateway(asio::io_context& io) : io_(io) {}

  std::uint32_t heartbeat_interval = 45'000; // 0: no HELLO
  bool ack_heartbeats = true;
  bool answer_identify = true;
  bool answer_resume = true;
  bool invalidate_resumes = false; // RESUME is answered INVALID_SESSION (false): the session is gone
  int refuse_connects = 0;
  // Connections to this host never open: connect() waits for its deadline, then times out (a
  // resume URL whose host drops packets).
  std::string unreachable_host;
  std::string session_id = "0123456789abcdef";
  std::string resume_url = "ws://resume.test:7001";
  std::uint64_t seq = 0;
  std::vector<GatewayTarget> attempts;
  std::vector<steady::time_point> attempt_times;
  std::vector<std::shared_ptr<FakeConnection>> conns;

  FakeConnection& last() { return *conns.back(); }
  std::size_t count(int op) const {
    std::size_t n = 0;
    for (auto& c : conns) n += c->sent_with_op(op).size();
    return n;
  }

  // A dispatch on the newest connection, with the next sequence number.
  void dispatch(std::string_view type, std::string_view d) {
    last().push(fmt::format(R"({{"op":0,"s":{},"t":"{}","d":{}}})", ++seq, type, d));
  }

  asio::awaitable<Result<std::shared_ptr<WsConnection>>> connect(GatewayTarget target,
                                                                steady::time_point deadline) override {
    attempts.push_back(target);
    attempt_times.push_back(steady::now());
    if (refuse_connects > 0) {
      --refuse_connects;
      co_return fail(Errc::connect_failed, "cannot connect to the test gateway: refused");
    }
    if (!unreachable_host.empty() && target.host == unreachable_host) {
      asio::steady_timer until(io_, deadline);
      auto [ec] = co_await until.async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;
      co_return fail(Errc::timeout, "cannot connect to the test gateway: timed out");
    }
    auto c = std::make_shared<FakeConnection>(io_, std::move(target));
    c->on_write = [this](FakeConnection& conn, const Sent& s) { answer(conn, s); };
    if (heartbeat_interval)
      c->push(fmt::format(R"({{"op":10,"s":null,"t":null,"d":{{"heartbeat_interval":{}}}}})", heartbeat_interval));
    conns.push_back(c);
    co_return std::shared_ptr<WsConnection>(c);
  }

private:
  void answer(FakeConnection& c, const Sent& s) {
    if (s.op() == 1 && ack_heartbeats) c.push(R"({"op":11,"d":null})");
    if (s.op() == 2 && answer_identify)
      c.push(fmt::format(R"({{"op":0,"s":{},"t":"READY","d":{{"v":10,"session_id":"{}","resume_gateway_url":"{}",)"
                         R"("user":{{"id":"42"}},"guilds":[{{"id":"1001","unavailable":true}},)"
                         R"({{"id":"1002","unavailable":true}}]}}}})",
                         ++seq, session_id, resume_url));
    if (s.op() == 6 && invalidate_resumes) c.push(R"({"op":9,"d":false})");
    else if (s.op() == 6 && answer_resume) c.push(fmt::format(R"({{"op":0,"s":{},"t":"RESUMED","d":{{}}}})", ++seq));
  }

  asio::io_context& io_;
};

// ---- the host -----------------------------------------------------------------------------------

class FakeHost final : public ShardHost {
public:
  explicit FakeHost(asio::io_context& io) : granted_(io.get_executor()) {}

  bool grant_at_once = true;
  std::optional<Error> refuse; // acquire_identify answers this
  int slot_requests = 0;
  std::vector<std::string> dispatches;
  std::vector<bool> readies; // `resumed` of each on_ready
  int session_updates = 0;
  int sessions_lost = 0;
  std::vector<steady::time_point> lost_at;
  std::optional<std::string> stopped;
  std::string fresh_url; // fresh_gateway_url's answer
  int fresh_url_requests = 0;

  void grant() { granted_.set(); }
  asio::awaitable<std::string> fresh_gateway_url(std::uint32_t) override {
    ++fresh_url_requests;
    co_return fresh_url;
  }

  asio::awaitable<Result<void>> acquire_identify(std::uint32_t) override {
    ++slot_requests;
    if (refuse) co_return *refuse;
    if (!grant_at_once) {
      auto got = co_await granted_.wait_until(steady::time_point::max());
      (void)got;
      granted_.reset();
    }
    co_return Result<void>();
  }
  void on_dispatch(Shard&, std::string_view type, std::string_view) override { dispatches.emplace_back(type); }
  void on_ready(Shard&, bool resumed) override { readies.push_back(resumed); }
  void on_session_update(Shard&) override { ++session_updates; }
  void on_session_lost(Shard&) override {
    ++sessions_lost;
    lost_at.push_back(steady::now());
  }
  void on_stopped(Shard&, const std::string& reason) override { stopped = reason; }

private:
  net::Event granted_;
};

} // namespace shardline::gateway::test
