#pragma once
// The envelope (docs/protocol.md §2): what the hub needs to route a frame, read without
// building a full document tree (simdjson DOM validates the whole body, then we read only
// the top-level keys).

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>

namespace shardline::protocol {

enum class EnvelopeStatus { ok, bad_json, bad_envelope };

struct Envelope {
  std::string_view op;
  std::string_view source;
  std::string_view target; // empty: "all"
  std::string_view nonce;
  std::string_view id;
  std::string_view reply_to;
  std::optional<double> timestamp;
  bool has_source = false;
  bool has_nonce = false;
  bool has_data = false;
  // The string_views point into the parser's document: valid until the next parse.
};

// Replaces the bare tokens NaN, Infinity and -Infinity outside strings with null, as a
// legacy (version 1) peer written in Python may emit them. Returns false if none was found.
bool replace_non_finite(std::string_view in, std::string& out);

class EnvelopeParser {
public:
  // `allow_non_finite`: legacy mode, NaN/Infinity read as null.
  EnvelopeStatus parse(std::string_view body, bool allow_non_finite, Envelope& out);
  // The parsed root object, for code that needs `data` (valid until the next parse).
  simdjson::dom::object root() const { return root_; }

private:
  simdjson::dom::parser parser_;
  simdjson::dom::object root_;
  std::string sanitized_;
};

} // namespace shardline::protocol
