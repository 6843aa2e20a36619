#pragma once
// The one way Shardline starts a coroutine that runs on its own (a connection's reader, a
// sweeper, a command being handled). Its owner is the object passed in its arguments (a hub, a
// connection, a link): the coroutine holds that owner alive and ends when the owner closes its
// sockets and timers. An exception escaping it is a bug: it is logged with `what`, never lost,
// never fatal; `on_failure`, when given, lets the owner react (stop, set an exit code).

#include "net/stream.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <functional>
#include <utility>

namespace shardline::net {

template <class Executor, class T>
void spawn_owned(Executor&& executor, asio::awaitable<T> work, const char* what,
                 std::function<void(const std::exception&)> on_failure = {}) {
  asio::co_spawn(std::forward<Executor>(executor), std::move(work),
                 [what, on_failure = std::move(on_failure)](std::exception_ptr e, auto&&...) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     spdlog::error("{} failed: {}", what, ex.what());
                     if (on_failure) on_failure(ex);
                   } catch (...) {
                     spdlog::error("{} failed", what);
                     if (on_failure) on_failure(std::runtime_error("unknown exception"));
                   }
                 });
}

} // namespace shardline::net
