#pragma once
// An HTTP request and its reply as plain data: what the simulator's REST and /_sim/ handlers
// read and write. Only the server (sim_server.cpp) converts them from and to Beast's types,
// so the handlers compile without Beast, which is slow to compile.

#include "sim/route_table.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shardline::sim {

enum class HttpStatus : unsigned {
  ok = 200,
  no_content = 204,
  bad_request = 400,
  unauthorized = 401,
  forbidden = 403,
  not_found = 404,
  method_not_allowed = 405,
  too_many_requests = 429,
  internal_server_error = 500,
};

struct QueryParam {
  std::string key, value; // percent-decoded
};

// Views into the server's request, valid while the handler runs.
struct HttpRequest {
  Method method = Method::other;
  std::string_view path; // percent-decoded, without the query
  std::vector<QueryParam> query;
  std::string_view authorization; // the Authorization header, empty without one
  std::string_view body;
};

struct HttpReply {
  HttpStatus status = HttpStatus::ok;
  std::string body;
  std::string content_type = "application/json"; // empty: no Content-Type (a 204)
  // Set after the server's own headers (Server, Connection, Content-Length), in this order.
  std::vector<std::pair<std::string, std::string>> headers;
};

HttpReply json_reply(HttpStatus status, std::string body);

// Discord's error shape: {"message": ..., "code": ...}.
HttpReply error_reply(HttpStatus status, std::string_view message, int code = 0);

// The request's JSON body, objects nested at most `max_depth` deep; nullopt if it is not JSON.
// (The server caps the body itself at 64 KiB.)
std::optional<boost::json::value> parse_json_body(std::string_view body, unsigned max_depth = 16);

// An id field of a JSON body, as a snowflake string or a positive number; nullopt if absent or
// anything else.
std::optional<std::uint64_t> id_field(const boost::json::object& o, std::string_view key);

// Boost.JSON's strings are Boost's own; the pure code takes std::string_view.
inline std::string_view as_view(const boost::json::string& s) { return {s.data(), s.size()}; }

} // namespace shardline::sim
