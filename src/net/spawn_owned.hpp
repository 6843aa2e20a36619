#pragma once
// Starting a coroutine whose owner is the object passed in its arguments (a hub, a
// connection, a link): the coroutine holds that owner alive and ends when the owner closes
// its sockets and timers. Exceptions are logged, never lost, never fatal.

#include <utility>
#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

#include <exception>
#include <string>

namespace shardline::net {

template <class Executor, class T>
void spawn_owned(Executor&& ex, boost::asio::awaitable<T> work, const char* what) {
  boost::asio::co_spawn(std::forward<Executor>(ex), std::move(work), [what](std::exception_ptr e, auto&&...) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("{} failed: {}", what, ex.what());
    }
  });
}

} // namespace shardline::net
