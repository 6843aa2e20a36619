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

// The waiters are free coroutines taking pointers (no capturing coroutine lambdas: g++ 12).
asio::awaitable<void> timed_wait(Condition* c, const int* value, int want, steady::duration timeout,
                                 std::optional<bool>* got, steady::duration* took) {
  auto t0 = steady::now();
  *got = co_await wait_value(*c, *value, want, timeout);
  if (took) *took = steady::now() - t0;
}

asio::awaitable<void> set_then_reset(Event* e, std::optional<bool>* first, std::optional<bool>* second) {
  *first = co_await e->wait_until(steady::now() + 10s);
  e->reset();
  *second = co_await e->wait_until(steady::now() + 20ms);
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
  asio::co_spawn(io, timed_wait(&c, &value, 1, 10s, &got, &took), asio::detached);
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
  asio::co_spawn(io, timed_wait(&c, &value, 1, 30ms, &got, nullptr), asio::detached);
  io.run_for(5s);
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got);
}

TEST(Condition, ANotificationThatDoesNotSatisfyThePredicateKeepsWaiting) {
  asio::io_context io;
  Condition c(io.get_executor());
  int value = 0;
  std::optional<bool> got;
  asio::co_spawn(io, timed_wait(&c, &value, 2, 200ms, &got, nullptr), asio::detached);
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
  asio::co_spawn(io, set_then_reset(&e, &first, &second), asio::detached);
  io.run_for(5s);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*second);
}

} // namespace
} // namespace shardline::net
