// Discord's REST API as a cluster uses it: GET /gateway/bot's answer read field by field, a 429's
// wait, and the line between a response (any HTTP status) and a transport failure (an error).

#include "rest/discord_rest.hpp"

#include "core/clock.hpp"

#include <boost/asio.hpp>
#include <gtest/gtest.h>

#include <optional>

namespace shardline::rest {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// ---- GET /gateway/bot -----------------------------------------------------------------------------

TEST(RestGatewayBot, ReadsEveryField) {
  GatewayBot bot;
  std::string error;
  ASSERT_TRUE(parse_gateway_bot(R"({"url":"wss://gateway.discord.gg","shards":9,"session_start_limit":)"
                                R"({"total":1000,"remaining":999,"reset_after":14400000,"max_concurrency":16}})",
                                bot, error))
      << error;
  EXPECT_EQ(bot.url, "wss://gateway.discord.gg");
  EXPECT_EQ(bot.shards, 9u);
  EXPECT_EQ(bot.total, 1000u);
  EXPECT_EQ(bot.remaining, 999u);
  EXPECT_EQ(bot.reset_after_ms, 14400000u);
  EXPECT_EQ(bot.max_concurrency, 16u);
}

TEST(RestGatewayBot, RefusesWhatCannotPlanShards) {
  const char* bad[] = {
      "not json",
      "[]",
      R"({"shards":1,"session_start_limit":{"total":1,"remaining":1,"reset_after":0,"max_concurrency":1}})",
      R"({"url":"wss://g","shards":0,"session_start_limit":{"total":1,"remaining":1,"reset_after":0,"max_concurrency":1}})",
      R"({"url":"wss://g","shards":"1","session_start_limit":{"total":1,"remaining":1,"reset_after":0,"max_concurrency":1}})",
      R"({"url":"wss://g","shards":1})",
      R"({"url":"wss://g","shards":1,"session_start_limit":{"total":1,"remaining":1,"reset_after":0}})",
      R"({"url":"wss://g","shards":1,"session_start_limit":{"total":1,"remaining":-1,"reset_after":0,"max_concurrency":1}})",
      R"({"url":"wss://g","shards":1,"session_start_limit":{"total":1,"remaining":1,"reset_after":0,"max_concurrency":0}})",
  };
  for (const char* body : bad) {
    GatewayBot bot;
    std::string error;
    EXPECT_FALSE(parse_gateway_bot(body, bot, error)) << body;
    EXPECT_FALSE(error.empty()) << body;
  }
}

// ---- a 429's wait ---------------------------------------------------------------------------------

TEST(RestRetryAfter, TheBodysFigureIsMorePreciseThanTheHeader) {
  EXPECT_DOUBLE_EQ(retry_after_seconds("3", R"({"message":"You are being rate limited.","retry_after":2.75,"global":false})"),
                   2.75);
  EXPECT_DOUBLE_EQ(retry_after_seconds("", R"({"retry_after":0.5})"), 0.5);
}

TEST(RestRetryAfter, TheHeaderServesWhenTheBodyHasNone) {
  EXPECT_DOUBLE_EQ(retry_after_seconds("7", "<html>rate limited</html>"), 7.0);
  EXPECT_DOUBLE_EQ(retry_after_seconds("4", R"({"retry_after":"soon"})"), 4.0);
}

TEST(RestRetryAfter, NothingUsableMeansOneSecond) {
  EXPECT_DOUBLE_EQ(retry_after_seconds("", ""), 1.0);
  EXPECT_DOUBLE_EQ(retry_after_seconds("-5", "{}"), 1.0);
  EXPECT_DOUBLE_EQ(retry_after_seconds("", R"({"retry_after":0})"), 1.0);
  EXPECT_DOUBLE_EQ(retry_after_seconds("nan", "{}"), 1.0);
}

// ---- calls against a loopback server --------------------------------------------------------------

std::string http_response(std::string_view status_line, std::string_view headers, std::string_view body) {
  return std::string(status_line) + "\r\n" + std::string(headers) + "Content-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + std::string(body);
}

// Accepts one connection, reads the request head and answers `response` (nothing when empty,
// holding the connection open).
asio::awaitable<void> serve_once(tcp::acceptor& acc, std::string response, std::string& request) {
  auto sock = co_await acc.async_accept(asio::use_awaitable);
  auto [ec, n] = co_await asio::async_read_until(sock, asio::dynamic_buffer(request), "\r\n\r\n",
                                                 asio::as_tuple(asio::use_awaitable));
  (void)ec;
  (void)n;
  if (response.empty()) {
    asio::steady_timer hold(acc.get_executor(), 10s);
    co_await hold.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return;
  }
  co_await asio::async_write(sock, asio::buffer(response), asio::use_awaitable);
  boost::system::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> call_into(asio::io_context& io, asio::ssl::context& tls, std::string url, RestRequest req,
                                std::chrono::milliseconds timeout, std::optional<Result<RestResponse>>& out) {
  out.emplace(co_await rest_call(io, tls, std::move(url), std::move(req), timeout));
}

class RestCall : public ::testing::Test {
protected:
  std::optional<Result<RestResponse>> call(std::string url, std::chrono::milliseconds timeout = 5s) {
    RestRequest req;
    req.path = "/gateway/bot";
    req.token = "tok";
    std::optional<Result<RestResponse>> out;
    asio::co_spawn(io, call_into(io, tls, std::move(url), std::move(req), timeout, out), asio::detached);
    for (auto end = steady::now() + 10s; !out && steady::now() < end;) {
      io.restart();
      io.run_for(5ms);
    }
    return out;
  }
  std::string base() { return "http://127.0.0.1:" + std::to_string(acc.local_endpoint().port()) + "/api/v10"; }
  void answer(std::string response) { asio::co_spawn(io, serve_once(acc, std::move(response), request), asio::detached); }

  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  tcp::acceptor acc{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::string request;
};

TEST_F(RestCall, A429IsAResponseWithItsWait) {
  answer(http_response("HTTP/1.1 429 Too Many Requests", "Retry-After: 3\r\nContent-Type: application/json\r\n",
                       R"({"retry_after":2.5,"global":false})"));
  auto r = call(base());
  ASSERT_TRUE(r);
  ASSERT_TRUE(*r) << (*r).error().message;
  EXPECT_EQ((*r)->status, 429u);
  EXPECT_DOUBLE_EQ((*r)->retry_after_s, 2.5);
  EXPECT_EQ(describe(*r), "HTTP 429");
  EXPECT_NE(request.find("GET /api/v10/gateway/bot HTTP/1.1"), std::string::npos) << request;
  EXPECT_NE(request.find("Authorization: Bot tok"), std::string::npos) << request;
}

TEST_F(RestCall, AnErrorStatusIsAResponseToo) {
  answer(http_response("HTTP/1.1 401 Unauthorized", "", "{}"));
  auto r = call(base());
  ASSERT_TRUE(r);
  ASSERT_TRUE(*r) << (*r).error().message;
  EXPECT_EQ((*r)->status, 401u);
  EXPECT_EQ((*r)->body, "{}");
  EXPECT_EQ((*r)->retry_after_s, 0.0);
}

TEST_F(RestCall, NothingListeningIsConnectFailed) {
  auto url = base();
  acc.close();
  auto r = call(url);
  ASSERT_TRUE(r);
  ASSERT_FALSE(*r);
  EXPECT_TRUE((*r).error().is(Errc::connect_failed)) << (*r).error().message;
  EXPECT_EQ(describe(*r), (*r).error().message);
}

TEST_F(RestCall, ASilentServerTimesOutAtTheDeadline) {
  answer("");
  const auto t0 = steady::now();
  auto r = call(base(), 200ms);
  ASSERT_TRUE(r);
  ASSERT_FALSE(*r);
  EXPECT_TRUE((*r).error().is(Errc::timeout)) << (*r).error().message;
  EXPECT_LT(steady::now() - t0, 3s);
}

TEST_F(RestCall, NotAnHttpUrlIsBadInput) {
  auto r = call("ftp://example.com");
  ASSERT_TRUE(r);
  ASSERT_FALSE(*r);
  EXPECT_TRUE((*r).error().is(Errc::bad_input));
}

} // namespace
} // namespace shardline::rest
