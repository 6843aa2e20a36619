#include "gateway/gateway_payload.hpp"

#include <simdjson.h>

#include <charconv>
#include <utility>
#include <limits>

namespace shardline::gateway {

namespace od = simdjson::ondemand;
using simdjson::error_code;

struct PayloadParser::Impl {
  od::parser parser;
  // The text parse() last read, with its capacity: the extractors re-read views into it and
  // find simdjson's padding in the rest of that text and its spare capacity.
  const char* text = nullptr;
  std::size_t text_size = 0;
  std::size_t text_capacity = 0;
  // For a view that is not inside that text: a copy with padding.
  std::string padded_copy;

  template <class OnField>
  bool each_field(std::string_view d, OnField&& on_field);
  // `t` with JSON escapes (never seen from Discord, but legal): its unescaped copy lives here.
  std::string type_storage;

  // A padded view of `d` for simdjson, without copying when `d` lies in the last parsed text.
  simdjson::padded_string_view padded(std::string_view d) {
    if (text != nullptr && d.data() >= text && d.data() + d.size() <= text + text_size) {
      const auto available = static_cast<std::size_t>((text + text_capacity) - d.data());
      return simdjson::padded_string_view(d.data(), d.size(), available);
    }
    padded_copy.assign(d);
    padded_copy.reserve(d.size() + simdjson::SIMDJSON_PADDING);
    return simdjson::padded_string_view(padded_copy.data(), padded_copy.size(), padded_copy.capacity());
  }
};

namespace {

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// A snowflake: Discord sends them as strings, but numbers are accepted too.
error_code read_snowflake(od::value v, std::uint64_t& out) {
  od::json_type type;
  if (auto err = v.type().get(type)) return err;
  if (type == od::json_type::number) return v.get_uint64().get(out);
  if (type != od::json_type::string) return simdjson::INCORRECT_TYPE;
  std::string_view s;
  if (auto err = v.get_string().get(s)) return err;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return simdjson::INCORRECT_TYPE;
  return simdjson::SUCCESS;
}

error_code read_string(od::value v, std::string& out) {
  std::string_view s;
  if (auto err = v.get_string().get(s)) return err;
  out.assign(s);
  return simdjson::SUCCESS;
}

// Reads the `id` field of an object (READY's user and application), skipping the rest.
error_code read_object_id(od::value v, std::uint64_t& out) {
  od::object obj;
  if (auto err = v.get_object().get(obj)) return err;
  for (auto field : obj) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return err;
    if (key == "id") return read_snowflake(field.value(), out);
  }
  return simdjson::NO_SUCH_FIELD;
}

// Validates a scalar `d` (objects and arrays are only skimmed, for speed; the extractors
// check what they read) and returns its text.
error_code raw_data(od::value v, std::string_view& out) {
  od::json_type type;
  if (auto err = v.type().get(type)) return err;
  switch (type) {
    case od::json_type::object: {
      od::object obj;
      if (auto err = v.get_object().get(obj)) return err;
      if (auto err = obj.raw_json().get(out)) return err;
      out = trim(out);
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array arr;
      if (auto err = v.get_array().get(arr)) return err;
      if (auto err = arr.raw_json().get(out)) return err;
      out = trim(out);
      return simdjson::SUCCESS;
    }
    default: break;
  }
  // raw_json_token() only peeks, so take it before the value is consumed.
  out = trim(v.raw_json_token());
  switch (type) {
    case od::json_type::number: return v.get_number().error();
    case od::json_type::string: return v.get_string().error();
    case od::json_type::boolean: return v.get_bool().error();
    case od::json_type::null: {
      bool is_null = false;
      if (auto err = v.is_null().get(is_null)) return err;
      return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
    }
    default: return simdjson::INCORRECT_TYPE;
  }
}

bool fail(std::string& error, std::string_view what, error_code err = simdjson::SUCCESS) {
  error.assign(what);
  if (err != simdjson::SUCCESS) {
    error += ": ";
    error += simdjson::error_message(err);
  }
  return false;
}

} // namespace

PayloadParser::PayloadParser() : impl_(std::make_unique<Impl>()) {}
PayloadParser::~PayloadParser() = default;

bool PayloadParser::parse(std::string& text, GatewayPayload& out, std::string& error) {
  out = GatewayPayload{};
  out.data = "null";
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: make them part of the string's
  // allocation. Contents are unchanged; a string that already has the room is not touched.
  if (text.capacity() < text.size() + simdjson::SIMDJSON_PADDING) text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  impl_->text = text.data();
  impl_->text_size = text.size();
  impl_->text_capacity = text.capacity();

  od::document doc;
  if (auto err = impl_->parser.iterate(simdjson::padded_string_view(text.data(), text.size(), text.capacity())).get(doc))
    return fail(error, "invalid JSON", err);
  od::object root;
  if (auto err = doc.get_object().get(root)) return fail(error, "payload is not a JSON object", err);

  bool have_op = false;
  // One pass over the fields, in whatever order they come (Discord sends op, d, s, t, but
  // nothing guarantees it; find_field would rescan the object for each out-of-order key).
  for (auto field_result : root) {
    od::field field;
    if (auto err = std::move(field_result).get(field)) return fail(error, "invalid JSON", err);
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return fail(error, "invalid JSON key", err);
    od::value value = field.value();
    if (key == "op") {
      std::int64_t op = 0;
      if (auto err = value.get_int64().get(op)) return fail(error, "\"op\" is not an integer", err);
      if (op < 0 || op > std::numeric_limits<int>::max()) return fail(error, "\"op\" is out of range");
      out.op = static_cast<int>(op);
      have_op = true;
    } else if (key == "s") {
      bool is_null = false;
      if (auto err = value.is_null().get(is_null)) return fail(error, "invalid \"s\"", err);
      if (is_null) {
        out.seq.reset();
      } else {
        std::uint64_t seq = 0;
        if (auto err = value.get_uint64().get(seq)) return fail(error, "\"s\" is not an integer or null", err);
        out.seq = seq;
      }
    } else if (key == "t") {
      bool is_null = false;
      if (auto err = value.is_null().get(is_null)) return fail(error, "invalid \"t\"", err);
      if (is_null) {
        out.type = {};
      } else {
        const std::string_view token = trim(value.raw_json_token());
        std::string_view unescaped;
        if (auto err = value.get_string().get(unescaped)) return fail(error, "\"t\" is not a string or null", err);
        // Point into the text (the quotes stripped) unless the raw token has escapes. The
        // parser's own string buffer is no home for it: the extractors reuse the parser.
        const std::string_view raw = token.size() >= 2 ? token.substr(1, token.size() - 2) : token;
        if (raw == unescaped) {
          out.type = raw;
        } else {
          impl_->type_storage.assign(unescaped);
          out.type = impl_->type_storage;
        }
      }
    } else if (key == "d") {
      std::string_view d;
      if (auto err = raw_data(value, d)) return fail(error, "invalid \"d\"", err);
      out.data = d;
    }
  }
  // simdjson 3.0's document has no at_end(): current_location() is OUT_OF_BOUNDS exactly there.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
    return fail(error, "invalid JSON: content after the payload object");
  if (!have_op) return fail(error, "payload has no \"op\"");
  return true;
}

// Calls `on_field(key, value)` for each field of the JSON object `d` (in document order, in
// one pass); false if `d` is not an object, a key is malformed, or `on_field` returns false.
template <class OnField>
bool PayloadParser::Impl::each_field(std::string_view d, OnField&& on_field) {
  od::document doc;
  if (parser.iterate(padded(d)).get(doc)) return false;
  od::object obj;
  if (doc.get_object().get(obj)) return false;
  for (auto field_result : obj) {
    od::field field;
    if (std::move(field_result).get(field)) return false;
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    if (!on_field(key, field.value())) return false;
  }
  return true;
}

bool PayloadParser::hello_interval(std::string_view d, std::uint32_t& heartbeat_interval_ms) {
  bool found = false;
  bool ok = impl_->each_field(d, [&](std::string_view key, od::value value) {
    if (found || key != "heartbeat_interval") return true;
    std::uint64_t ms = 0;
    // 0 would make a shard heartbeat in a busy loop.
    if (value.get_uint64().get(ms) || ms == 0 || ms > std::numeric_limits<std::uint32_t>::max()) return false;
    heartbeat_interval_ms = static_cast<std::uint32_t>(ms);
    found = true;
    return true;
  });
  return ok && found;
}

bool PayloadParser::ready(std::string_view d, ReadyInfo& out) {
  out = ReadyInfo{};
  bool have_session = false, have_url = false, have_guilds = false, have_user = false;
  bool ok = impl_->each_field(d, [&](std::string_view key, od::value value) {
    if (key == "session_id") {
      if (read_string(value, out.session_id)) return false;
      have_session = true;
    } else if (key == "resume_gateway_url") {
      if (read_string(value, out.resume_gateway_url)) return false;
      have_url = true;
    } else if (key == "guilds") {
      od::array guilds;
      if (value.get_array().get(guilds)) return false;
      for (auto guild : guilds) {
        od::value guild_value;
        if (guild.get(guild_value)) return false;
        std::uint64_t id = 0;
        if (read_object_id(guild_value, id)) return false;
        out.guild_ids.push_back(id);
      }
      have_guilds = true;
    } else if (key == "user") {
      if (read_object_id(value, out.user_id)) return false;
      have_user = true;
    } else if (key == "application") {
      if (read_object_id(value, out.application_id)) return false;
    }
    return true;
  });
  // application is optional: a shard does not need it, and READY without it is still a
  // session worth keeping (application_id stays 0).
  return ok && have_session && have_url && have_guilds && have_user;
}

bool PayloadParser::guild(std::string_view d, GuildInfo& out) {
  out = GuildInfo{};
  bool have_id = false;
  // The single pass skips members, channels, roles... without building anything.
  bool ok = impl_->each_field(d, [&](std::string_view key, od::value value) {
    if (key == "id") {
      if (read_snowflake(value, out.id)) return false;
      have_id = true;
    } else if (key == "member_count") {
      if (value.get_uint64().get(out.member_count)) return false;
      out.has_member_count = true;
    } else if (key == "unavailable") {
      if (value.get_bool().get(out.unavailable)) return false;
    }
    return true;
  });
  return ok && have_id;
}

bool PayloadParser::invalid_session_resumable(std::string_view d) { return trim(d) == "true"; }

} // namespace shardline::gateway
