#include "protocol/json_read.hpp"

#include <charconv>
#include <cmath>

namespace shardline::protocol {

bool read_uint(const json::value& v, std::uint64_t max, std::uint64_t& out) {
  if (v.is_uint64()) out = v.get_uint64();
  else if (v.is_int64() && v.get_int64() >= 0) out = static_cast<std::uint64_t>(v.get_int64());
  else if (v.is_double() && v.get_double() >= 0 && v.get_double() <= 9007199254740992.0 /* 2^53 */ &&
           v.get_double() == std::floor(v.get_double()))
    out = static_cast<std::uint64_t>(v.get_double());
  else return false;
  return out <= max;
}

bool read_snowflake(const json::value& v, std::uint64_t& out) {
  if (v.is_uint64()) {
    out = v.get_uint64();
    return true;
  }
  if (v.is_int64()) {
    if (v.get_int64() < 0) return false;
    out = static_cast<std::uint64_t>(v.get_int64());
    return true;
  }
  if (v.is_string()) {
    auto s = v.get_string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  }
  return false;
}

ObjectReader::ObjectReader(const json::value& v, std::string path) : obj_(v.if_object()), path_(std::move(path)) {
  if (!obj_) {
    auto where = path_.empty() ? std::string("data") : path_.substr(0, path_.size() - 1); // drop the '.'
    throw DecodeError(where + " must be an object");
  }
}

const json::value* ObjectReader::find(std::string_view key) const { return obj_->if_contains(key); }

bool ObjectReader::has(std::string_view key) const {
  auto* v = find(key);
  return v && !v->is_null();
}

void ObjectReader::fail(std::string_view key, std::string_view rule) const {
  throw DecodeError(path(key) + " " + std::string(rule));
}

} // namespace shardline::protocol
