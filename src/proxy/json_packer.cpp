#include "proxy/json_packer.hpp"

#include <simdjson.h>

#include <charconv>

namespace shardline::proxy {

namespace od = simdjson::ondemand;
using simdjson::error_code;

namespace {

// After a dispatch this large the parser's buffers (about 6 bytes per input byte) are given
// back: one 5 MB GUILD_CREATE of a huge guild must not pin 30 MB for the shard's lifetime.
constexpr std::size_t kKeepParserCapacity = 1 << 20;

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Digits only, no leading zero (except "0" itself), fits in 64 bits: rendering the number
// back gives the same text, so the compact form loses nothing.
std::optional<std::uint64_t> canonical_uint(std::string_view digits) {
  if (digits.empty() || digits.size() > 20) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return v;
}

struct Writer {
  packed::KeyTable& keys;
  std::string& out;

  error_code object(od::object obj, std::size_t depth) {
    if (depth > packed::kMaxDepth) return simdjson::DEPTH_ERROR;
    out.push_back(static_cast<char>(packed::kObject));
    for (auto field_result : obj) {
      od::field field;
      if (auto err = std::move(field_result).get(field)) return err;
      std::string_view key;
      if (auto err = field.unescaped_key().get(key)) return err;
      auto id = keys.intern(key);
      if (!id) return simdjson::INCORRECT_TYPE;
      packed::put_varint(out, *id);
      if (auto err = value(field.value(), depth + 1)) return err;
    }
    out.push_back(0);
    return simdjson::SUCCESS;
  }

  error_code value(od::value v, std::size_t depth) {
    if (depth > packed::kMaxDepth) return simdjson::DEPTH_ERROR;
    od::json_type type;
    if (auto err = v.type().get(type)) return err;
    switch (type) {
      case od::json_type::object: {
        od::object obj;
        if (auto err = v.get_object().get(obj)) return err;
        return object(obj, depth);
      }
      case od::json_type::array: {
        od::array arr;
        if (auto err = v.get_array().get(arr)) return err;
        out.push_back(static_cast<char>(packed::kArray));
        for (auto element : arr) {
          od::value item;
          if (auto err = std::move(element).get(item)) return err;
          if (auto err = value(item, depth + 1)) return err;
        }
        out.push_back(static_cast<char>(packed::kEnd));
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        // The raw token (quotes, escapes) is what is kept; get_string() checks the escapes.
        const std::string_view token = trim(v.raw_json_token());
        std::string_view unescaped;
        if (auto err = v.get_string().get(unescaped)) return err;
        if (token.size() < 2 || token.front() != '"' || token.back() != '"') return simdjson::STRING_ERROR;
        const std::string_view text = token.substr(1, token.size() - 2);
        if (auto id = canonical_uint(text)) {
          out.push_back(static_cast<char>(packed::kSnowflake));
          packed::put_varint(out, *id);
        } else {
          out.push_back(static_cast<char>(packed::kString));
          packed::put_varint(out, text.size());
          out.append(text);
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::number: {
        const std::string_view token = trim(v.raw_json_token());
        od::number number;
        if (auto err = v.get_number().get(number)) return err;
        if (auto n = canonical_uint(token)) {
          out.push_back(static_cast<char>(packed::kUint));
          packed::put_varint(out, *n);
        } else {
          out.push_back(static_cast<char>(packed::kNumber));
          packed::put_varint(out, token.size());
          out.append(token);
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::boolean: {
        bool b = false;
        if (auto err = v.get_bool().get(b)) return err;
        out.push_back(static_cast<char>(b ? packed::kTrue : packed::kFalse));
        return simdjson::SUCCESS;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto err = v.is_null().get(is_null)) return err;
        if (!is_null) return simdjson::INCORRECT_TYPE;
        out.push_back(static_cast<char>(packed::kNull));
        return simdjson::SUCCESS;
      }
    }
    return simdjson::INCORRECT_TYPE;
  }
};

} // namespace

struct JsonPacker::Impl {
  std::unique_ptr<od::parser> parser;
  std::string input;   // d with simdjson's padding
  std::string scratch; // the packed output while it is written
};

JsonPacker::JsonPacker() : impl_(std::make_unique<Impl>()) {}
JsonPacker::~JsonPacker() = default;
JsonPacker::JsonPacker(JsonPacker&&) noexcept = default;
JsonPacker& JsonPacker::operator=(JsonPacker&&) noexcept = default;

std::optional<std::string> JsonPacker::pack_object(std::string_view json, packed::KeyTable& keys) {
  auto& im = *impl_;
  if (!im.parser) {
    im.parser = std::make_unique<od::parser>();
    if (im.parser->allocate(json.size() < 4096 ? 4096 : json.size(), packed::kMaxDepth + 2)) return std::nullopt;
  }
  im.input.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  im.input.assign(json);
  im.scratch.clear();
  std::optional<std::string> result;
  {
    od::document doc;
    od::object root;
    if (!im.parser->iterate(simdjson::padded_string_view(im.input.data(), im.input.size(), im.input.capacity()))
             .get(doc) &&
        !doc.get_object().get(root)) {
      Writer w{keys, im.scratch};
      // Nothing may follow the object (simdjson 3.0: OUT_OF_BOUNDS exactly at the end).
      if (!w.object(root, 0) && doc.current_location().error() == simdjson::OUT_OF_BOUNDS) result.emplace(im.scratch);
    }
  }
  if (im.parser->capacity() > kKeepParserCapacity) {
    im.parser.reset();
    std::string().swap(im.input);
    std::string().swap(im.scratch);
  }
  return result;
}

std::size_t JsonPacker::memory_bytes() const {
  const auto& im = *impl_;
  std::size_t n = im.input.capacity() + im.scratch.capacity();
  // The on-demand parser: structural indexes (4 bytes per input byte) and a string buffer
  // (a little over 1 byte per input byte), plus its depth stack.
  if (im.parser) n += im.parser->capacity() * 6 + sizeof(od::parser);
  return n;
}

} // namespace shardline::proxy
