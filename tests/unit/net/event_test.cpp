// Condition and Event: waits that end on a notification or at their deadline, never by polling.

#include "net/event.hpp"

#include <boost/asio.hpp>
#include <gtest/gtest.h>

#include <optional>

namespace shardline::net {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

asio::awaitable<bool> wait_value(Condition& c, const int& value, int want, steady::duration timeout) {
  co_return co_await c.wait_for([&] { return value == want; }, timeout);
}

asio::awaitable<void> set_later(asio::io_context& io, Condition& c, int& value, steady::duration after) {
  asio::steady_timer t(io, after);
  co_await t.async_wait(asio::use_awaitable);
  value = 1;
  c.notify(); // the waiter wakes now, long before its deadline
}

TEST(Condition, WakesOnNotifyNotAtTheDeadline) {
  asio::io_context io;
  Condition c(io.get_executor());
  int value = 0;
  std::optional<bool> got;
  steady::duration took{};
  asio::co_spawn(io, set_later(io, c, value, 20ms), asio::detached);
  asio::co_spawn(
      io,
      [](Condition& c, int& value, std::optional<bool>& got, steady::duration& took) -> asio::awaitable<void> {
        auto t0 = steady::now();
        got = co_await wait_value(c, value, 1, 10s);
        took = steady::now() - t0;
      }(c, value, got, took),
      asio::detached);
  io.run_for(5s);
  ASSERT_TRUE(got);
  EXPECT_TRUE(*got);
  EXPECT_LT(took, 2s);
}

TEST(Condition, GivesUpAtTheDeadlineWhenNothingChanges) {
  asio::io_context io;
  Condition c(io.get_executor());
  int value = 0;
  std::optional<bool> got;
  asio::co_spawn(
      io, [](Condition& c, int& value, std::optional<bool>& got) -> asio::awaitable<void> {
        got = co_await wait_value(c, value, 1, 30ms);
      }(c, value, got),
      asio::detached);
  io.run_for(5s);
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got);
}

TEST(Condition, ANotificationThatDoesNotSatisfyThePredicateKeepsWaiting) {
  asio::io_context io;
  Condition c(io.get_executor());
  int value = 0;
  std::optional<bool> got;
  asio::co_spawn(
      io, [](Condition& c, int& value, std::optional<bool>& got) -> asio::awaitable<void> {
        got = co_await wait_value(c, value, 2, 200ms);
      }(c, value, got),
      asio::detached);
  asio::post(io, [&] {
    value = 1; // not what the waiter wants
    c.notify();
  });
  io.run_for(5s);
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got);
}

TEST(Event, SetBeforeTheWaitReturnsAtOnceAndResetClearsIt) {
  asio::io_context io;
  Event e(io.get_executor());
  e.set();
  std::optional<bool> first, second;
  asio::co_spawn(
      io, [](Event& e, std::optional<bool>& first, std::optional<bool>& second) -> asio::awaitable<void> {
        first = co_await e.wait_until(steady::now() + 10s);
        e.reset();
        second = co_await e.wait_until(steady::now() + 20ms);
      }(e, first, second),
      asio::detached);
  io.run_for(5s);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*second);
}

} // namespace
} // namespace shardline::net
