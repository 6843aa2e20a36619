#pragma once
// Packed JSON: the guild cache's storage form for every guild, channel, role, member...
//
// Why not a boost::json tree or the minified text? A shard holds up to 2,500 guilds and the
// cache must stay a fraction of what a bot library's own cache costs (issue 14: at most 1/4 of
// discord.js's). A tree costs a heap node per value and per key; minified text repeats every
// key ("premium_subscription_count") and every snowflake as 20 digits in every object. Packed
// JSON keeps the exact document, in order, in one byte string per object:
//   - keys are interned per cache (a KeyTable), one byte for the first 127 keys;
//   - null/false/true are one byte; non-negative integers and snowflake strings ("123", the
//     form Discord uses for ids) a tag and a varint;
//   - other strings and numbers keep their JSON text as received (escapes included), so
//     rendering is a copy, never a re-escape, and nothing is lost (1.50 stays 1.50).
// Rendering back to JSON is string appends. Values are self-delimiting (objects and arrays end
// with a marker), so a packed object is walked, not indexed: the objects are small (a guild's own
// fields are about 50) and reads are rare next to writes.
//
// Packed bytes built here are well-formed by construction; bytes read from a file go through
// validate() first, and every reader below stays within its bounds either way.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shardline::proxy::packed {

// Value tags.
enum Tag : std::uint8_t {
  kNull = 0,
  kFalse = 1,
  kTrue = 2,
  kUint = 3,      // varint: a non-negative integer written without sign, fraction or exponent
  kSnowflake = 4, // varint: a string of digits that is the canonical decimal form of a uint64
  kString = 5,    // varint length, then the string's JSON text between the quotes, escapes kept
  kNumber = 6,    // varint length, then any other number's JSON text
  kObject = 7,    // (key id varint >= 1, value)*, then key id 0
  kArray = 8,     // value*, then kEnd
  kEnd = 9,
};

inline constexpr std::size_t kMaxDepth = 64;        // Discord's deepest payloads nest about 6
inline constexpr std::size_t kMaxKeys = 4096;       // distinct keys per cache (Discord uses ~300)
inline constexpr std::size_t kMaxKeyBytes = 128;

// Object keys, interned: id 1.. in order of first use. Bounded (a hostile stream of made-up
// keys cannot grow it past kMaxKeys); keys that need JSON escaping are refused, so a key's
// text is written between quotes as is.
class KeyTable {
public:
  // The key's id, adding it if new; nullopt when refused (escapes, too long, table full).
  std::optional<std::uint32_t> intern(std::string_view key);
  // The id of a key already known (0 if never seen): for lookups, which must not add keys.
  std::uint32_t find(std::string_view key) const;
  std::string_view name(std::uint32_t id) const { return keys_[id - 1]; }
  std::size_t size() const { return keys_.size(); }
  std::size_t memory_bytes() const;

private:
  std::vector<std::string> keys_;
  std::unordered_map<std::string_view, std::uint32_t> ids_; // views into keys_' strings
};

void put_varint(std::string& out, std::uint64_t v);
// Reads a varint at p (< end); advances p. False on truncation or more than 64 bits.
bool get_varint(const char*& p, const char* end, std::uint64_t& v);

// Skips one value at p; false if malformed (bounds, tags). Nesting is bounded by kMaxDepth.
bool skip_value(const char*& p, const char* end, std::size_t depth = 0);
// True if `bytes` is exactly one well-formed value (objects' key ids < key_count + 1).
bool validate(std::string_view bytes, std::size_t key_count);

// Appends one packed value as JSON text.
void render(std::string_view value, const KeyTable& keys, std::string& out);
// Appends a packed object's fields (`"k":v,"k2":v2`, no braces) as JSON text.
void render_fields(std::string_view object, const KeyTable& keys, std::string& out);

// One field of a packed object: key id and the packed value's bytes.
struct Field {
  std::uint32_t key = 0;
  std::string_view value;
};
// The fields of a packed object, in order (empty if `object` is not an object).
std::vector<Field> fields_of(std::string_view object);
// The packed value of a field (nullopt if absent or `object` is not an object).
std::optional<std::string_view> find(std::string_view object, std::uint32_t key);
// The elements of a packed array (empty if not an array).
std::vector<std::string_view> elements_of(std::string_view array);

// A snowflake in a packed value: a snowflake string or an unsigned integer, not 0.
std::optional<std::uint64_t> as_id(std::string_view value);
std::optional<std::uint64_t> as_uint(std::string_view value);
inline bool is_true(std::string_view value) { return value.size() == 1 && value[0] == kTrue; }
inline bool is_null(std::string_view value) { return value.size() == 1 && value[0] == kNull; }

// Builds a packed object from fields (in the given order).
std::string make_object(const std::vector<Field>& fields);
std::string uint_value(std::uint64_t v);
std::string snowflake_value(std::uint64_t v);

} // namespace shardline::proxy::packed
