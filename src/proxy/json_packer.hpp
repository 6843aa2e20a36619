#pragma once
// Turns a dispatch's `d` (JSON text) into packed JSON (packed_json.hpp) in one pass of
// simdjson's on-demand parser: no DOM, no tree, every value checked as it is copied. One
// packer per GuildCache (the parser's buffers are reused from one dispatch to the next).

#include "proxy/packed_json.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace shardline::proxy {

class JsonPacker {
public:
  JsonPacker();
  ~JsonPacker();
  JsonPacker(JsonPacker&&) noexcept;
  JsonPacker& operator=(JsonPacker&&) noexcept;

  // The packed form of `json`, which must be one JSON object and nothing else; nullopt when it
  // is not valid JSON, nests deeper than packed::kMaxDepth, or has a key the table refuses.
  std::optional<std::string> pack_object(std::string_view json, packed::KeyTable& keys);
  // Heap held by the parser's buffers.
  std::size_t memory_bytes() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace shardline::proxy
