#pragma once
// "Wait until" without polling. A Condition is notified when some state changed; a coroutine
// waits until its predicate on that state holds, or a deadline passes, whichever comes first.
// An Event is a Condition over one flag (set / reset). Both run on one strand or io_context
// thread, as everything in Shardline does: no locks.
//
// Lifetime: the Condition must outlive its waiters (it is a member of the object whose state it
// guards, and that object's coroutines hold it alive).

#include "core/clock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace shardline::net {

class Condition {
public:
  explicit Condition(boost::asio::any_io_executor ex) : wake_(ex, steady::time_point::max()) {}

  // Wakes every waiter now; each checks its predicate again.
  void notify() { wake_.cancel(); }

  // Returns as soon as `pred()` is true (checked at once, then after every notify), or false
  // when `deadline` passes first.
  template <class Pred>
  boost::asio::awaitable<bool> wait_until(Pred pred, steady::time_point deadline) {
    using namespace boost::asio::experimental::awaitable_operators;
    constexpr auto use = boost::asio::as_tuple(boost::asio::use_awaitable);
    while (!pred()) {
      if (steady::now() >= deadline) co_return false;
      boost::asio::steady_timer limit(wake_.get_executor(), deadline);
      co_await (wake_.async_wait(use) || limit.async_wait(use));
    }
    co_return true;
  }

  template <class Pred>
  boost::asio::awaitable<bool> wait_for(Pred pred, steady::duration timeout) {
    return wait_until(std::move(pred), steady::now() + timeout);
  }

private:
  boost::asio::steady_timer wake_; // never expires; cancel() is the notification
};

class Event {
public:
  explicit Event(boost::asio::any_io_executor ex) : cond_(std::move(ex)) {}

  void set() {
    set_ = true;
    cond_.notify();
  }
  void reset() { set_ = false; }
  bool is_set() const { return set_; }

  // True once set; false if `deadline` passes first.
  boost::asio::awaitable<bool> wait_until(steady::time_point deadline) {
    return cond_.wait_until([this] { return set_; }, deadline);
  }

private:
  Condition cond_;
  bool set_ = false;
};

} // namespace shardline::net
