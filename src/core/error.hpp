#pragma once
// One error vocabulary for everything that can fail at run time (docs/architecture.md,
// "Errors"). A fallible operation returns Result<T>: the value, or an Error made of a code
// from the Errc category (what kind of failure, for code to branch on) and a message (what
// happened, for the operator's log or terminal). Callers compare codes, never message text.
//
// Exceptions are left for two cases only: invalid configuration found while starting
// (ConfigError, turned into exit code 2 by main) and broken invariants (bugs). A peer's bad
// frame, a refused connection or a missed deadline is a Result, never an exception.

#include <boost/system/result.hpp>

#include <string>
#include <system_error>
#include <utility>

namespace shardline {

enum class Errc {
  // 0 is success in std::error_code; never used as an error.
  timeout = 1,    // a deadline passed before the operation completed
  closed,         // the peer closed the connection (or it was closed locally)
  not_connected,  // no connection to use: not linked to the hub, not yet connected
  connect_failed, // resolving, connecting or the TLS handshake failed
  refused,        // the peer understood and said no (auth refused, request refused)
  bad_input,      // malformed or out-of-range input from a peer, a bot or an operator
  protocol,       // the peer broke the protocol (bad frame, unexpected answer)
  unsupported,    // the peer cannot do this (an older hub, a version-1 link)
  not_found,      // nothing by that name or id
  busy,           // a limit is reached: queue full, budget spent; try later
  cancelled,      // given up because this process is stopping or the result is no longer wanted
  io,             // a local I/O operation failed (file, socket option)
};

} // namespace shardline

namespace std {
template <>
struct is_error_code_enum<shardline::Errc> : true_type {};
} // namespace std

namespace shardline {

const std::error_category& error_category();
std::error_code make_error_code(Errc e);

// A failure: the kind, and what the operator should read.
struct Error {
  std::error_code code;
  std::string message;

  Error() = default;
  Error(Errc e, std::string m) : code(make_error_code(e)), message(std::move(m)) {}
  Error(std::error_code c, std::string m) : code(c), message(std::move(m)) {}

  bool is(Errc e) const { return code == make_error_code(e); }
  // The code's name ("timeout", "refused"...), for JSON and logs.
  std::string kind() const;
};

// boost::system::result's value() throws this on an error (only reached by a caller that did
// not check: a bug, reported as std::system_error with the message).
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T = void>
using Result = boost::system::result<T, Error>;

// `return fail(Errc::timeout, "...")` in a function returning Result<T>.
inline Error fail(Errc e, std::string message) { return Error(e, std::move(message)); }

} // namespace shardline
