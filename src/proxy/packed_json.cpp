#include "proxy/packed_json.hpp"

#include <simdjson.h>

#include <charconv>

namespace shardline::proxy::packed {

namespace {

// Heap bytes of one allocation of `n` bytes with glibc malloc: its 8-byte header, rounded up
// to 16 (the minimum chunk is 32).
std::size_t chunk(std::size_t n) {
  const std::size_t c = (n + 8 + 15) / 16 * 16;
  return c < 32 ? 32 : c;
}

bool key_needs_escape(std::string_view key) {
  for (unsigned char c : key)
    if (c < 0x20 || c == '"' || c == '\\') return true;
  return false;
}

bool get_bytes(const char*& p, const char* end, std::string_view& out) {
  std::uint64_t len = 0;
  if (!get_varint(p, end, len)) return false;
  if (len > static_cast<std::uint64_t>(end - p)) return false;
  out = std::string_view(p, static_cast<std::size_t>(len));
  p += len;
  return true;
}

// A string's JSON text between its quotes: no bare quote or control character, escapes valid.
bool valid_string_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"') return false;
    if (c != '\\') continue;
    if (++i >= s.size()) return false;
    const char e = s[i];
    if (e == 'u') {
      if (i + 4 >= s.size()) return false;
      for (int k = 1; k <= 4; ++k) {
        const char h = s[i + static_cast<std::size_t>(k)];
        if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return false;
      }
      i += 4;
    } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool valid_number_text(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// Walks one value; key ids above `max_key` are malformed. `strict` also checks the JSON text
// of strings and numbers (for bytes read back from a file).
bool walk(const char*& p, const char* end, std::size_t depth, std::uint64_t max_key, bool strict) {
  if (p >= end || depth > kMaxDepth) return false;
  const auto tag = static_cast<std::uint8_t>(*p++);
  std::uint64_t v = 0;
  std::string_view bytes;
  switch (tag) {
    case kNull:
    case kFalse:
    case kTrue: return true;
    case kUint:
    case kSnowflake: return get_varint(p, end, v);
    case kString:
    case kNumber:
      if (!get_bytes(p, end, bytes)) return false;
      if (!strict) return true;
      if (tag == kNumber) return valid_number_text(bytes);
      return valid_string_text(bytes) && simdjson::validate_utf8(bytes.data(), bytes.size());
    case kObject:
      for (;;) {
        std::uint64_t key = 0;
        if (!get_varint(p, end, key)) return false;
        if (key == 0) return true;
        if (key > max_key) return false;
        if (!walk(p, end, depth + 1, max_key, strict)) return false;
      }
    case kArray:
      for (;;) {
        if (p >= end) return false;
        if (static_cast<std::uint8_t>(*p) == kEnd) {
          ++p;
          return true;
        }
        if (!walk(p, end, depth + 1, max_key, strict)) return false;
      }
    default: return false;
  }
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

void render_at(const char*& p, const char* end, const KeyTable& keys, std::string& out);

void render_fields_at(const char*& p, const char* end, const KeyTable& keys, std::string& out) {
  bool first = true;
  for (;;) {
    std::uint64_t key = 0;
    if (!get_varint(p, end, key) || key == 0 || key > keys.size()) return;
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(keys.name(static_cast<std::uint32_t>(key)));
    out.append("\":");
    render_at(p, end, keys, out);
  }
}

void render_at(const char*& p, const char* end, const KeyTable& keys, std::string& out) {
  if (p >= end) {
    out.append("null");
    return;
  }
  const auto tag = static_cast<std::uint8_t>(*p++);
  std::uint64_t v = 0;
  std::string_view bytes;
  switch (tag) {
    case kNull: out.append("null"); return;
    case kFalse: out.append("false"); return;
    case kTrue: out.append("true"); return;
    case kUint:
      get_varint(p, end, v);
      append_uint(out, v);
      return;
    case kSnowflake:
      get_varint(p, end, v);
      out.push_back('"');
      append_uint(out, v);
      out.push_back('"');
      return;
    case kString:
      get_bytes(p, end, bytes);
      out.push_back('"');
      out.append(bytes);
      out.push_back('"');
      return;
    case kNumber:
      if (!get_bytes(p, end, bytes) || bytes.empty()) bytes = "0";
      out.append(bytes);
      return;
    case kObject:
      out.push_back('{');
      render_fields_at(p, end, keys, out);
      out.push_back('}');
      return;
    case kArray: {
      out.push_back('[');
      bool first = true;
      while (p < end && static_cast<std::uint8_t>(*p) != kEnd) {
        if (!first) out.push_back(',');
        first = false;
        const char* before = p;
        render_at(p, end, keys, out);
        if (p == before) break;
      }
      if (p < end) ++p;
      out.push_back(']');
      return;
    }
    default: out.append("null"); p = end; return;
  }
}

} // namespace

std::optional<std::uint32_t> KeyTable::intern(std::string_view key) {
  if (auto it = ids_.find(key); it != ids_.end()) return it->second;
  if (keys_.size() >= kMaxKeys || key.size() > kMaxKeyBytes || key_needs_escape(key)) return std::nullopt;
  // Reserved up front: the map holds views into these strings, and a reallocation of keys_
  // would move short strings' inline buffers.
  if (keys_.capacity() == 0) keys_.reserve(kMaxKeys);
  keys_.emplace_back(key);
  const auto id = static_cast<std::uint32_t>(keys_.size());
  ids_.emplace(keys_.back(), id);
  return id;
}

std::uint32_t KeyTable::find(std::string_view key) const {
  auto it = ids_.find(key);
  return it == ids_.end() ? 0 : it->second;
}

std::size_t KeyTable::memory_bytes() const {
  std::size_t n = keys_.capacity() == 0 ? 0 : chunk(keys_.capacity() * sizeof(std::string));
  for (const auto& k : keys_)
    if (k.capacity() > 15) n += chunk(k.capacity() + 1);
  // unordered_map: a node per key (next pointer, pair, cached hash) and the bucket array.
  n += ids_.size() * chunk(sizeof(void*) + sizeof(std::pair<std::string_view, std::uint32_t>) + sizeof(std::size_t));
  n += chunk(ids_.bucket_count() * sizeof(void*));
  return n;
}

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(const char*& p, const char* end, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= end) return false;
    const auto byte = static_cast<std::uint8_t>(*p++);
    if (shift == 63 && byte > 1) return false;
    v |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

bool skip_value(const char*& p, const char* end, std::size_t depth) {
  return walk(p, end, depth, UINT32_MAX, false);
}

bool validate(std::string_view bytes, std::size_t key_count) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  return walk(p, end, 0, key_count, true) && p == end;
}

void render(std::string_view value, const KeyTable& keys, std::string& out) {
  const char* p = value.data();
  render_at(p, p + value.size(), keys, out);
}

void render_fields(std::string_view object, const KeyTable& keys, std::string& out) {
  if (object.empty() || static_cast<std::uint8_t>(object[0]) != kObject) return;
  const char* p = object.data() + 1;
  render_fields_at(p, object.data() + object.size(), keys, out);
}

std::vector<Field> fields_of(std::string_view object) {
  std::vector<Field> out;
  if (object.empty() || static_cast<std::uint8_t>(object[0]) != kObject) return out;
  const char* p = object.data() + 1;
  const char* end = object.data() + object.size();
  for (;;) {
    std::uint64_t key = 0;
    if (!get_varint(p, end, key) || key == 0 || key > UINT32_MAX) return out;
    const char* start = p;
    if (!skip_value(p, end, 1)) return out;
    out.push_back({static_cast<std::uint32_t>(key), std::string_view(start, static_cast<std::size_t>(p - start))});
  }
}

std::optional<std::string_view> find(std::string_view object, std::uint32_t key) {
  if (key == 0 || object.empty() || static_cast<std::uint8_t>(object[0]) != kObject) return std::nullopt;
  const char* p = object.data() + 1;
  const char* end = object.data() + object.size();
  for (;;) {
    std::uint64_t k = 0;
    if (!get_varint(p, end, k) || k == 0) return std::nullopt;
    const char* start = p;
    if (!skip_value(p, end, 1)) return std::nullopt;
    if (k == key) return std::string_view(start, static_cast<std::size_t>(p - start));
  }
}

std::vector<std::string_view> elements_of(std::string_view array) {
  std::vector<std::string_view> out;
  if (array.empty() || static_cast<std::uint8_t>(array[0]) != kArray) return out;
  const char* p = array.data() + 1;
  const char* end = array.data() + array.size();
  while (p < end && static_cast<std::uint8_t>(*p) != kEnd) {
    const char* start = p;
    if (!skip_value(p, end, 1)) break;
    out.emplace_back(start, static_cast<std::size_t>(p - start));
  }
  return out;
}

std::optional<std::uint64_t> as_uint(std::string_view value) {
  if (value.empty()) return std::nullopt;
  const auto tag = static_cast<std::uint8_t>(value[0]);
  if (tag != kUint && tag != kSnowflake) return std::nullopt;
  const char* p = value.data() + 1;
  std::uint64_t v = 0;
  if (!get_varint(p, value.data() + value.size(), v)) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> as_id(std::string_view value) {
  auto v = as_uint(value);
  if (!v || *v == 0) return std::nullopt;
  return v;
}

std::string make_object(const std::vector<Field>& fields) {
  std::size_t size = 2;
  for (const auto& f : fields) size += 3 + f.value.size();
  std::string out;
  out.reserve(size);
  out.push_back(static_cast<char>(kObject));
  for (const auto& f : fields) {
    put_varint(out, f.key);
    out.append(f.value);
  }
  out.push_back(0);
  return out;
}

std::string uint_value(std::uint64_t v) {
  std::string out(1, static_cast<char>(kUint));
  put_varint(out, v);
  return out;
}

std::string snowflake_value(std::uint64_t v) {
  std::string out(1, static_cast<char>(kSnowflake));
  put_varint(out, v);
  return out;
}

} // namespace shardline::proxy::packed
