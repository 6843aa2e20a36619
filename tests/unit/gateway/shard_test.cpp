// A Shard driven through a scripted websocket (../shared/discord/gateway.md): what a bot relies on
// from its shards. Heartbeats start at interval x jitter and keep the interval; IDENTIFY goes
// only with a slot from the host; a saved session is RESUMEd with its sequence; RECONNECT,
// INVALID_SESSION and every close code lead to a resume, a new session after 1-5 s, or a stop;
// a missing HEARTBEAT_ACK closes the connection with a resumable code; the send limiter keeps
// room for heartbeats. Real timers on an io_context the test runs in bounded steps.

#include "gateway/close_policy.hpp"
#include "gateway/fake_gateway.hpp"

#include <zlib.h>

namespace shardline::gateway {
namespace {

using namespace std::chrono_literals;
using test::FakeConnection;
using test::FakeGateway;
using test::FakeHost;
using test::Sent;
namespace json = boost::json;

// ---- the fixture --------------------------------------------------------------------------------

class ShardTest : public ::testing::Test {
protected:
  ShardTest() : gateway(std::make_shared<FakeGateway>(io)), host(io) {
    options.shard_id = 3;
    options.shard_count = 8;
    options.token = "Bot-token \"with\" quotes\\";
    options.intents = 513;
    options.large_threshold = 100;
    options.gateway_url = "ws://gateway.test:7000";
    options.hello_timeout = 2s;
  }
  ~ShardTest() override {
    shard.reset();
    host.grant();
    io.restart();
    io.run_for(20ms);
  }

  // `random`: the jitter source; 0 makes reconnects immediate and a re-IDENTIFY wait exactly 1 s.
  void start(std::optional<SavedSession> saved = std::nullopt, double random = 0.0) {
    shard = std::make_unique<Shard>(io, options, host, gateway, [random] { return random; });
    shard->start(std::move(saved));
  }

  // Runs the io_context until `done` holds, at most `limit`.
  bool run_until(const std::function<bool()>& done, steady::duration limit = 5s) {
    const auto deadline = steady::now() + limit;
    while (!done()) {
      if (steady::now() >= deadline) return false;
      io.restart();
      io.run_for(2ms);
    }
    return true;
  }
  void run_for(steady::duration d) {
    io.restart();
    io.run_for(d);
  }

  bool ready_on_connection(std::size_t n) {
    return run_until([&] { return gateway->conns.size() == n && shard->status() == ShardStatus::ready; });
  }

  // IDENTIFY, READY, and three dispatches (sequence 4).
  void identify_and_flow() {
    start();
    ASSERT_TRUE(ready_on_connection(1));
    for (int i = 0; i < 3; ++i) gateway->dispatch("MESSAGE_CREATE", R"({"id":"1","content":"hi"})");
    ASSERT_TRUE(run_until([&] { return shard->session().seq == 4; }));
  }

  asio::io_context io;
  std::shared_ptr<FakeGateway> gateway;
  FakeHost host;
  ShardOptions options;
  std::unique_ptr<Shard> shard;
};

void expect_resume(const Sent& s, std::string_view token, std::string_view session_id, std::uint64_t seq) {
  ASSERT_EQ(s.op(), 6);
  EXPECT_EQ(s.d().at("token").as_string(), token);
  EXPECT_EQ(s.d().at("session_id").as_string(), session_id);
  EXPECT_EQ(s.d().at("seq").to_number<std::uint64_t>(), seq);
}

// ---- HELLO and heartbeats -----------------------------------------------------------------------

TEST_F(ShardTest, HeartbeatsStartAtIntervalTimesJitterThenKeepTheInterval) {
  gateway->heartbeat_interval = 300;
  host.grant_at_once = false; // no session: heartbeats only
  start(std::nullopt, 0.25);
  ASSERT_TRUE(run_until([&] { return gateway->count(1) >= 3; }, 3s));
  auto beats = gateway->last().sent_with_op(1);
  const auto first = beats[0].at - gateway->last().opened;
  EXPECT_GE(first, 75ms);  // 300 ms x 0.25: not at once...
  EXPECT_LT(first, 225ms); // ...and not a whole interval late
  for (std::size_t i = 1; i < beats.size(); ++i) {
    EXPECT_GE(beats[i].at - beats[i - 1].at, 300ms);
    EXPECT_LT(beats[i].at - beats[i - 1].at, 450ms);
  }
  EXPECT_TRUE(beats[0].d().is_null()); // no dispatch yet
  EXPECT_TRUE(shard->latency().has_value());
}

TEST_F(ShardTest, HeartbeatsCarryTheLastSequenceAndAnswerTheServersRequestAtOnce) {
  identify_and_flow();
  auto before = gateway->count(1);
  gateway->last().push(R"({"op":1,"d":null})"); // the server asks for a beat now
  ASSERT_TRUE(run_until([&] { return gateway->count(1) > before; }, 1s));
  EXPECT_EQ(gateway->last().sent.back().d().to_number<std::uint64_t>(), 4u);
}

TEST_F(ShardTest, NoHelloWithinTheDeadlineMeansANewConnection) {
  gateway->heartbeat_interval = 0;
  options.hello_timeout = 100ms;
  start();
  ASSERT_TRUE(run_until([&] { return gateway->attempts.size() >= 2; }, 3s));
  EXPECT_TRUE(gateway->conns[0]->forced);
  EXPECT_EQ(gateway->count(2), 0u);
}

// ---- IDENTIFY and READY -------------------------------------------------------------------------

TEST_F(ShardTest, IdentifiesOnlyOnceTheHostGrantsASlot) {
  // Beats at 0, 600 and 1200 ms. (Intervals much shorter than Discord's 41 s leave ordinary
  // commands no share of the send limit: the heartbeat reserve takes it all.)
  gateway->heartbeat_interval = 600;
  host.grant_at_once = false;
  start();
  ASSERT_TRUE(run_until([&] { return shard->status() == ShardStatus::waiting_slot; }));
  run_for(1300ms);
  EXPECT_EQ(gateway->count(2), 0u) << "IDENTIFY without a slot";
  EXPECT_GE(gateway->count(1), 3u) << "the connection keeps heartbeating while it waits";
  EXPECT_EQ(host.slot_requests, 1);

  host.grant();
  ASSERT_TRUE(ready_on_connection(1));
  auto ids = gateway->last().sent_with_op(2);
  ASSERT_EQ(ids.size(), 1u);
  auto& d = ids[0].d().as_object();
  EXPECT_EQ(d.at("token").as_string(), options.token); // quotes and backslash escaped by the serializer
  EXPECT_EQ(d.at("intents").to_number<std::uint64_t>(), 513u);
  EXPECT_EQ(d.at("shard"), json::value(json::array{3, 8}));
  EXPECT_EQ(d.at("large_threshold").to_number<int>(), 100);
  EXPECT_EQ(d.at("properties").at("browser").as_string(), "shardline");
  EXPECT_EQ(gateway->attempts[0].host, "gateway.test");
  EXPECT_EQ(gateway->attempts[0].target, "/?v=10&encoding=json&compress=zlib-stream");
}

TEST_F(ShardTest, ReadyMakesTheShardReadyAndSavesTheSession) {
  start();
  ASSERT_TRUE(ready_on_connection(1));
  EXPECT_EQ(host.readies, std::vector<bool>{false});
  EXPECT_GE(host.session_updates, 1);
  auto s = shard->session();
  EXPECT_EQ(s.session_id, gateway->session_id);
  EXPECT_EQ(s.resume_url, gateway->resume_url);
  EXPECT_EQ(s.seq, 1u);
  EXPECT_EQ(shard->guild_count(), 2u);
  EXPECT_EQ(shard->unavailable_guilds(), 2u);
  gateway->dispatch("GUILD_CREATE", R"({"id":"1001","member_count":10,"channels":[]})");
  ASSERT_TRUE(run_until([&] { return shard->unavailable_guilds() == 1; }, 1s));
  EXPECT_EQ(shard->member_count(), 10u);
  EXPECT_EQ(shard->counters().identifies, 1u);
  EXPECT_EQ(host.dispatches, (std::vector<std::string>{"READY", "GUILD_CREATE"}));
}

TEST_F(ShardTest, ARefusedSlotStopsTheShardWithoutIdentifying) {
  host.refuse = Error(Errc::refused, "session_start_limit spent");
  start();
  ASSERT_TRUE(run_until([&] { return shard->status() == ShardStatus::stopped; }));
  run_for(50ms);
  EXPECT_EQ(gateway->count(2), 0u);
  EXPECT_EQ(shard->stop_reason(), "session_start_limit spent");
  EXPECT_TRUE(host.stopped);
}

// ---- RESUME -------------------------------------------------------------------------------------

TEST_F(ShardTest, ASavedSessionIsResumedAtItsUrlWithItsSequenceAndNoSlot) {
  SavedSession saved;
  saved.shard_id = 3;
  saved.shard_count = 8;
  saved.session_id = "saved-session";
  saved.seq = 41;
  saved.resume_url = "ws://resume.test:9000";
  start(saved);
  ASSERT_TRUE(ready_on_connection(1));
  EXPECT_EQ(gateway->attempts[0].host, "resume.test");
  EXPECT_EQ(gateway->attempts[0].port, "9000");
  auto& first = gateway->last().first_command();
  expect_resume(first, options.token, "saved-session", 41);
  EXPECT_EQ(gateway->count(2), 0u);
  EXPECT_EQ(host.slot_requests, 0);
  EXPECT_EQ(host.readies, std::vector<bool>{true});
  EXPECT_EQ(shard->counters().resumes, 1u);
}

TEST_F(ShardTest, ASessionOfAnotherLayoutIsNotResumed) {
  SavedSession saved;
  saved.shard_id = 3;
  saved.shard_count = 16; // another shard count
  saved.session_id = "other-layout";
  saved.seq = 7;
  saved.resume_url = "ws://resume.test:9000";
  start(saved);
  ASSERT_TRUE(ready_on_connection(1));
  EXPECT_EQ(gateway->count(6), 0u);
  EXPECT_EQ(gateway->count(2), 1u);
}

// ---- a resume URL that is gone -----------------------------------------------------------------

SavedSession saved_at(std::string resume_url) {
  SavedSession saved;
  saved.shard_id = 3;
  saved.shard_count = 8;
  saved.session_id = "saved-session";
  saved.seq = 41;
  saved.resume_url = std::move(resume_url);
  return saved;
}

// A session from an environment that is gone (a simulator stopped, a retired node): its resume
// URL refuses every connection. After url_attempts failures the shard resumes at the gateway
// URL instead, within seconds, and the session (which Discord still has) goes on there.
TEST_F(ShardTest, AResumeUrlThatKeepsFailingFallsBackToTheGatewayUrlWithinSeconds) {
  gateway->refuse_connects = 2;
  options.url_attempts = 2;
  const auto started = steady::now();
  start(saved_at("ws://resume.test:9000"));
  ASSERT_TRUE(ready_on_connection(1));
  ASSERT_EQ(gateway->attempts.size(), 3u);
  EXPECT_EQ(gateway->attempts[0].host, "resume.test");
  EXPECT_EQ(gateway->attempts[1].host, "resume.test");
  EXPECT_EQ(gateway->attempts[2].host, "gateway.test") << "the third connection goes to /gateway/bot's URL";
  EXPECT_LT(gateway->attempt_times[2] - started, 3500ms) << "within the backoff of two failures (0.5-1 s, 1-2 s)";
  expect_resume(gateway->last().first_command(), options.token, "saved-session", 41);
  EXPECT_EQ(gateway->count(2), 0u) << "the session lives: no IDENTIFY";
  EXPECT_EQ(host.slot_requests, 0);
  // Reconnects after this go where the session was resumed, not to the dead URL again.
  gateway->last().push(R"({"op":7,"d":null})");
  ASSERT_TRUE(ready_on_connection(2));
  EXPECT_EQ(gateway->attempts[3].host, "gateway.test");
}

// The session is gone there too: INVALID_SESSION, and a new session through the host's
// IDENTIFY slots, as for any invalidated session.
TEST_F(ShardTest, AResumeUrlThatIsGoneWithTheSessionEndsInAnIdentifyThroughTheHost) {
  gateway->refuse_connects = 1;
  gateway->invalidate_resumes = true;
  options.url_attempts = 1;
  const auto started = steady::now();
  start(saved_at("ws://resume.test:9000"));
  ASSERT_TRUE(run_until([&] { return shard->status() == ShardStatus::ready; }, 8s));
  ASSERT_EQ(gateway->attempts.size(), 3u);
  EXPECT_EQ(gateway->attempts[0].host, "resume.test");
  EXPECT_EQ(gateway->attempts[1].host, "gateway.test");
  EXPECT_EQ(gateway->conns[0]->sent_with_op(6).size(), 1u) << "the RESUME was tried at the gateway URL first";
  EXPECT_EQ(gateway->attempts[2].host, "gateway.test");
  EXPECT_EQ(gateway->last().sent_with_op(2).size(), 1u);
  EXPECT_EQ(host.slot_requests, 1) << "the IDENTIFY went through the host";
  EXPECT_EQ(host.sessions_lost, 1);
  EXPECT_EQ(host.readies, std::vector<bool>{false});
  EXPECT_EQ(shard->session().session_id, gateway->session_id);
  EXPECT_LT(steady::now() - started, 6s);
}

// A resume URL whose host never answers costs resume_url_timeout per attempt, not the whole
// connect_timeout (20 s by default).
TEST_F(ShardTest, AResumeUrlThatHangsIsGivenUpWithinTheShortBudget) {
  gateway->unreachable_host = "resume.test";
  options.url_attempts = 2;
  options.resume_url_timeout = 300ms;
  const auto started = steady::now();
  start(saved_at("ws://resume.test:9000"));
  ASSERT_TRUE(ready_on_connection(1));
  ASSERT_EQ(gateway->attempts.size(), 3u);
  EXPECT_EQ(gateway->attempts[2].host, "gateway.test");
  EXPECT_GE(gateway->attempt_times[1] - gateway->attempt_times[0], 300ms) << "each attempt waited its budget";
  EXPECT_LT(gateway->attempt_times[2] - started, 4s);
  expect_resume(gateway->last().first_command(), options.token, "saved-session", 41);
}

// A successful connection to the resume URL resets the count: failures must come in a row.
TEST_F(ShardTest, AResumeUrlThatFailsOnceStaysTheResumeUrl) {
  gateway->refuse_connects = 1;
  options.url_attempts = 2;
  start(saved_at("ws://resume.test:9000"));
  ASSERT_TRUE(ready_on_connection(1));
  ASSERT_EQ(gateway->attempts.size(), 2u);
  EXPECT_EQ(gateway->attempts[1].host, "resume.test");
  gateway->refuse_connects = 1;
  gateway->last().server_close(4000);
  ASSERT_TRUE(ready_on_connection(2));
  EXPECT_EQ(gateway->attempts.back().host, "resume.test") << "one failure after a success is not two in a row";
}

// The gateway URL itself keeps failing (a GET /gateway/bot answer kept from a simulator that is
// gone): the shard asks its host for a fresh one, and resumes or identifies there.
TEST_F(ShardTest, AGatewayUrlThatKeepsFailingIsAskedOfTheHostAgain) {
  gateway->refuse_connects = 2;
  options.url_attempts = 2;
  host.fresh_url = "ws://fresh.test:7100";
  start(saved_at(options.gateway_url)); // resumed at the gateway URL: the simulator's case
  ASSERT_TRUE(ready_on_connection(1));
  ASSERT_EQ(gateway->attempts.size(), 3u);
  EXPECT_EQ(gateway->attempts[1].host, "gateway.test");
  EXPECT_EQ(host.fresh_url_requests, 1);
  EXPECT_EQ(gateway->attempts[2].host, "fresh.test");
  EXPECT_EQ(gateway->attempts[2].port, "7100");
  expect_resume(gateway->last().first_command(), options.token, "saved-session", 41);
}

TEST_F(ShardTest, ReconnectResumesOnANewConnectionAndKeepsTheSequence) {
  identify_and_flow();
  const auto asked = steady::now();
  gateway->last().push(R"({"op":7,"d":null})");
  ASSERT_TRUE(ready_on_connection(2));
  auto& old = *gateway->conns[0];
  ASSERT_TRUE(old.closed_with);
  EXPECT_NE(*old.closed_with, 1000); // 1000 and 1001 would end the session
  EXPECT_NE(*old.closed_with, 1001);
  EXPECT_EQ(gateway->attempts[1].host, "resume.test");
  EXPECT_EQ(gateway->attempts[1].port, "7001");
  expect_resume(gateway->last().first_command(), options.token, gateway->session_id, 4);
  EXPECT_EQ(gateway->count(2), 1u) << "a RECONNECT must not cost an IDENTIFY";
  EXPECT_LT(gateway->attempt_times[1] - asked, 500ms) << "a clean RECONNECT reconnects at once";
  EXPECT_EQ(shard->counters().reconnects, 1u);
}

TEST_F(ShardTest, InvalidSessionTrueResumes) {
  identify_and_flow();
  gateway->last().push(R"({"op":9,"d":true})");
  ASSERT_TRUE(ready_on_connection(2));
  expect_resume(gateway->last().first_command(), options.token, gateway->session_id, 4);
  EXPECT_EQ(host.sessions_lost, 0);
  EXPECT_EQ(gateway->count(2), 1u);
}

TEST_F(ShardTest, InvalidSessionFalseStartsANewSessionAfterAtLeastOneSecond) {
  identify_and_flow();
  gateway->session_id = "fedcba9876543210";
  const auto told = steady::now();
  gateway->last().push(R"({"op":9,"d":false})");
  ASSERT_TRUE(ready_on_connection(2));
  EXPECT_EQ(host.sessions_lost, 1);
  EXPECT_EQ(gateway->count(6), 0u) << "an invalidated session must not be resumed";
  auto ids = gateway->last().sent_with_op(2);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_GE(ids[0].at - told, 1s) << "Discord asks 1-5 s before a new IDENTIFY";
  EXPECT_EQ(host.slot_requests, 2);
  EXPECT_EQ(gateway->attempts[1].host, "gateway.test") << "a new session starts at /gateway/bot's URL";
  EXPECT_EQ(shard->session().session_id, "fedcba9876543210");
}

// ---- close codes --------------------------------------------------------------------------------

enum class Expect { resume, reidentify, stop };

struct CloseCase {
  std::optional<std::uint16_t> code; // nullopt: the connection ends without a close frame
  Expect expect;
};

std::string close_case_name(const ::testing::TestParamInfo<CloseCase>& info) {
  return info.param.code ? "code" + std::to_string(*info.param.code) : std::string("no_code");
}

class ShardCloseCodes : public ShardTest, public ::testing::WithParamInterface<CloseCase> {};

// The table of ../shared/discord/gateway.md, "Close codes", written out here rather than taken
// from close_policy: the shard must do what Discord says, whatever the policy table holds.
INSTANTIATE_TEST_SUITE_P(
    ShardDiscordTable, ShardCloseCodes,
    ::testing::Values(CloseCase{4000, Expect::resume}, CloseCase{4001, Expect::resume},
                      CloseCase{4002, Expect::resume}, CloseCase{4003, Expect::resume},
                      CloseCase{4004, Expect::stop}, CloseCase{4005, Expect::resume},
                      CloseCase{4007, Expect::reidentify}, CloseCase{4008, Expect::resume},
                      CloseCase{4009, Expect::reidentify}, CloseCase{4010, Expect::stop},
                      CloseCase{4011, Expect::stop}, CloseCase{4012, Expect::stop}, CloseCase{4013, Expect::stop},
                      CloseCase{4014, Expect::stop}, CloseCase{1000, Expect::resume}, CloseCase{1001, Expect::resume},
                      CloseCase{4999, Expect::resume}, CloseCase{std::nullopt, Expect::resume}),
    close_case_name);

TEST_P(ShardCloseCodes, TheShardDoesWhatDiscordSays) {
  const auto [code, expect] = GetParam();
  identify_and_flow();
  const auto closed = steady::now();
  if (code) gateway->last().server_close(*code);
  else gateway->last().drop();
  switch (expect) {
  case Expect::resume:
    ASSERT_TRUE(ready_on_connection(2));
    expect_resume(gateway->last().first_command(), options.token, gateway->session_id, 4);
    EXPECT_EQ(gateway->count(2), 1u);
    EXPECT_EQ(host.sessions_lost, 0);
    break;
  case Expect::reidentify: {
    ASSERT_TRUE(ready_on_connection(2));
    EXPECT_EQ(host.sessions_lost, 1);
    EXPECT_EQ(gateway->count(6), 0u);
    auto ids = gateway->last().sent_with_op(2);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_GE(ids[0].at - closed, 1s);
    break;
  }
  case Expect::stop:
    ASSERT_TRUE(run_until([&] { return shard->status() == ShardStatus::stopped; }));
    run_for(300ms);
    EXPECT_EQ(gateway->attempts.size(), 1u) << "a stopped shard does not reconnect";
    ASSERT_TRUE(host.stopped);
    EXPECT_NE(host.stopped->find(std::to_string(*code)), std::string::npos) << *host.stopped;
    EXPECT_EQ(shard->stop_reason(), *host.stopped);
    break;
  }
}

// ---- zombies, backoff, shutdown -----------------------------------------------------------------

TEST_F(ShardTest, AMissingHeartbeatAckClosesAZombieWithAResumableCodeAndResumes) {
  gateway->heartbeat_interval = 600;
  gateway->ack_heartbeats = false;
  start();
  ASSERT_TRUE(run_until([&] { return gateway->conns.size() == 2 && shard->status() == ShardStatus::ready; }, 3s));
  auto& zombie = *gateway->conns[0];
  ASSERT_TRUE(zombie.closed_with);
  EXPECT_EQ(*zombie.closed_with, kResumeCloseCode);
  EXPECT_EQ(shard->counters().zombies, 1u);
  expect_resume(gateway->last().first_command(), options.token, gateway->session_id, 1);
}

TEST_F(ShardTest, FailedConnectionsBackOffAndReadyResetsTheSchedule) {
  gateway->refuse_connects = 2;
  start();
  ASSERT_TRUE(ready_on_connection(1));
  ASSERT_EQ(gateway->attempts.size(), 3u);
  auto first_wait = gateway->attempt_times[1] - gateway->attempt_times[0];
  auto second_wait = gateway->attempt_times[2] - gateway->attempt_times[1];
  EXPECT_GE(first_wait, 500ms);
  EXPECT_GE(second_wait, 1000ms) << "the delay doubles while connecting keeps failing";
  EXPECT_GT(second_wait, first_wait);
  // READY reset the schedule: the next resumable close reconnects at once.
  const auto closed = steady::now();
  gateway->last().server_close(4000);
  ASSERT_TRUE(ready_on_connection(2));
  EXPECT_LT(gateway->attempt_times[3] - closed, 400ms);
}

TEST_F(ShardTest, ShutdownClosesWithAResumableCodeAndReports) {
  identify_and_flow();
  bool done = false;
  shard->shutdown(1s, [&] { done = true; });
  ASSERT_TRUE(run_until([&] { return done; }, 3s));
  ASSERT_TRUE(gateway->last().closed_with);
  EXPECT_EQ(*gateway->last().closed_with, kResumeCloseCode);
  run_for(100ms);
  EXPECT_EQ(gateway->attempts.size(), 1u);
  EXPECT_EQ(shard->session().session_id, gateway->session_id) << "the session survives for the next process";
}

// ---- sending ------------------------------------------------------------------------------------

TEST_F(ShardTest, SendCommandRefusesWhatDiscordWouldReject) {
  host.grant_at_once = false;
  start();
  ASSERT_TRUE(run_until([&] { return shard->status() == ShardStatus::waiting_slot; }));
  EXPECT_FALSE(shard->send_command(3, R"({"status":"online"})")) << "not ready yet";
  host.grant();
  ASSERT_TRUE(ready_on_connection(1));
  EXPECT_FALSE(shard->send_command(8, R"({"guild_id":"1", "query":)")) << "not JSON";
  EXPECT_FALSE(shard->send_command(8, R"({"guild_id":"1"} trailing)")) << "not one JSON value";
  EXPECT_FALSE(shard->send_command(8, "")) << "empty";
  EXPECT_FALSE(shard->send_command(3, fmt::format(R"({{"x":"{}"}})", std::string(4100, 'a')))) << "over 4,096 bytes";
  const std::string d = R"({"guild_id":"41771983423143937","query":"ab\"c","limit":0})";
  EXPECT_TRUE(shard->send_command(8, d));
  ASSERT_TRUE(run_until([&] { return gateway->count(8) == 1; }, 1s));
  EXPECT_EQ(gateway->last().sent_with_op(8)[0].d(), json::parse(d));
  EXPECT_EQ(gateway->count(3), 0u);
}

TEST_F(ShardTest, TheSendLimiterHoldsBackCommandsButNotHeartbeats) {
  gateway->heartbeat_interval = 20'000; // 3 beats a minute: a reserve of 5
  identify_and_flow();
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(shard->send_command(3, fmt::format(R"({{"since":null,"activities":[],"status":"online","afk":false,"n":{}}})", i)));
  ASSERT_TRUE(run_until([&] { return gateway->count(3) >= 100; }, 2s));
  run_for(200ms);
  const auto sent = gateway->last().sent.size();
  EXPECT_LE(sent, 115u) << "never more than 115 commands in 60 s (Discord allows 120)";
  EXPECT_LT(gateway->count(3), 200u);
  // The server asks for a heartbeat: it goes at once, past the waiting commands.
  gateway->last().push(R"({"op":1,"d":null})");
  ASSERT_TRUE(run_until([&] { return gateway->last().sent.size() == sent + 1; }, 1s));
  EXPECT_EQ(gateway->last().sent.back().op(), 1);
  EXPECT_EQ(gateway->last().sent.back().d().to_number<std::uint64_t>(), 4u);
}

// ---- zlib-stream --------------------------------------------------------------------------------

// Discord's transport compression: one deflate stream for the connection, each payload ending
// with a sync flush (00 00 ff ff).
class Deflater {
public:
  Deflater() { deflateInit(&z_, Z_DEFAULT_COMPRESSION); }
  ~Deflater() { deflateEnd(&z_); }
  std::string operator()(std::string_view text) {
    std::string out(text.size() + 64, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z_.avail_in = static_cast<uInt>(text.size());
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(out.size());
    deflate(&z_, Z_SYNC_FLUSH);
    out.resize(out.size() - z_.avail_out);
    return out;
  }

private:
  z_stream z_{};
};

TEST_F(ShardTest, ZlibStreamPayloadsSplitAcrossMessagesAreInflated) {
  gateway->heartbeat_interval = 0; // HELLO comes compressed, below
  start();
  ASSERT_TRUE(run_until([&] { return gateway->conns.size() == 1; }));
  Deflater deflate;
  auto hello = deflate(R"({"op":10,"d":{"heartbeat_interval":45000}})");
  gateway->last().push(hello.substr(0, hello.size() / 2), true);
  gateway->last().push(hello.substr(hello.size() / 2), true);
  gateway->last().on_write = [&](FakeConnection& c, const Sent& s) {
    if (s.op() == 2)
      c.push(deflate(R"({"op":0,"s":1,"t":"READY","d":{"session_id":"z1","resume_gateway_url":"ws://r.test",)"
                     R"("user":{"id":"42"},"guilds":[]}})"),
             true);
  };
  ASSERT_TRUE(ready_on_connection(1));
  EXPECT_EQ(shard->session().session_id, "z1");
}

} // namespace
} // namespace shardline::gateway
