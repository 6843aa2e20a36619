#pragma once
// Reading typed values out of a peer's JSON: the one place that decides what counts as an
// unsigned integer, a snowflake or a required field, and writes the error a peer gets back
// ("sessions[3].shard_id must be an integer 0..4294967295"). The typed messages
// (protocol/messages.hpp) read their fields through it; decode<T>() turns a failure into a
// Result with Errc::bad_input.

#include "core/error.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace shardline::protocol {

namespace json = boost::json;

// What the tag_invoke readers throw; the message names the field and the rule it broke.
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An unsigned integer from a peer: a JSON integer, or an integral double no larger than 2^53
// (a writer in JavaScript or Python may emit 5.0); never a string, a fraction, a negative
// number or a boolean. False when it is none of those or above `max`.
bool read_uint(const json::value& v, std::uint64_t max, std::uint64_t& out);
// A snowflake (a Discord id): a JSON integer up to 2^64-1, or the same as a decimal string
// (docs/protocol.md §2). Never through a double, which would round ids above 2^53.
bool read_snowflake(const json::value& v, std::uint64_t& out);

// The fields of one JSON object, read with their path in error messages.
class ObjectReader {
public:
  // `path`: where this object sits, e.g. "sessions[3]." (empty at the top of a message's data).
  ObjectReader(const json::value& v, std::string path = {});

  const json::value* find(std::string_view key) const;
  bool has(std::string_view key) const; // present and not null

  // Absent or null: required() throws, optional() gives nullopt, get_or() the fallback.
  template <class T>
  T required(std::string_view key) const {
    auto* v = find(key);
    if (!v || v->is_null()) fail(key, "is required");
    return read<T>(*v, key);
  }
  template <class T>
  std::optional<T> optional(std::string_view key) const {
    auto* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    return read<T>(*v, key);
  }
  template <class T>
  T get_or(std::string_view key, T fallback) const {
    auto r = optional<T>(key);
    return r ? std::move(*r) : std::move(fallback);
  }

  // An array field, each element read as T (T may be a typed message). `max_items` bounds what
  // is copied out of a peer's frame: a longer array is refused before anything is read.
  template <class T>
  std::vector<T> array(std::string_view key, std::size_t max_items, bool required_field = true) const {
    auto* v = find(key);
    if (!v || v->is_null()) {
      if (required_field) fail(key, "is required");
      return {};
    }
    if (!v->is_array()) fail(key, "must be an array");
    const auto& a = v->get_array();
    if (a.size() > max_items)
      throw DecodeError(path(key) + " has " + std::to_string(a.size()) + " entries, at most " +
                        std::to_string(max_items));
    std::vector<T> out;
    out.reserve(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) out.push_back(read_item<T>(a[i], key, i));
    return out;
  }

  std::string path(std::string_view key) const { return path_ + std::string(key); }
  [[noreturn]] void fail(std::string_view key, std::string_view rule) const;

private:
  template <class T>
  T read(const json::value& v, std::string_view key) const {
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_bool()) fail(key, "must be true or false");
      return v.get_bool();
    } else if constexpr (std::is_unsigned_v<T>) {
      std::uint64_t n = 0;
      constexpr auto max = std::numeric_limits<T>::max();
      if (!read_uint(v, max, n)) fail(key, "must be an integer 0.." + std::to_string(max));
      return static_cast<T>(n);
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      std::uint64_t n = 0;
      if (!read_uint(v, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), n))
        fail(key, "must be a non-negative integer");
      return static_cast<std::int64_t>(n);
    } else if constexpr (std::is_same_v<T, double>) {
      if (!v.is_number()) fail(key, "must be a number");
      return v.to_number<double>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) fail(key, "must be a string");
      return std::string(v.get_string());
    } else if constexpr (std::is_same_v<T, json::value>) {
      return v;
    } else if constexpr (std::is_same_v<T, json::object>) {
      if (!v.is_object()) fail(key, "must be an object");
      return v.get_object();
    } else {
      return read_nested<T>(v, path_ + std::string(key) + ".");
    }
  }

  template <class T>
  T read_item(const json::value& v, std::string_view key, std::size_t i) const {
    if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string> || std::is_same_v<T, json::value>) {
      return read<T>(v, std::string(key) + "[" + std::to_string(i) + "]");
    } else {
      return read_nested<T>(v, path_ + std::string(key) + "[" + std::to_string(i) + "].");
    }
  }

  // A typed message inside this one: its reader gets the nested path.
  template <class T>
  static T read_nested(const json::value& v, std::string nested_path) {
    return T::read(ObjectReader(v, std::move(nested_path)));
  }

  const json::object* obj_;
  std::string path_;
};

// The typed message T from a frame's `data`, or a bad_input error naming the field at fault.
// T provides `static T read(const ObjectReader&)` (the typed messages do).
template <class T>
Result<T> decode(const json::value& data) {
  try {
    return T::read(ObjectReader(data));
  } catch (const DecodeError& e) {
    return fail(Errc::bad_input, e.what());
  }
}

} // namespace shardline::protocol
