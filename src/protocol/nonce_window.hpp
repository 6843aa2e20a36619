#pragma once
// Replay protection (docs/protocol.md §6): remembers the last N nonces of one connection.
// Stores 64-bit hashes, not strings: 16 bytes per remembered nonce instead of ~80, and the
// window only grows as nonces arrive, so an idle connection costs almost nothing. A hash
// collision can only drop one of the same peer's own frames (the window is per connection).

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace shardline::protocol {

class NonceWindow {
public:
  explicit NonceWindow(std::size_t capacity = 10'000) : capacity_(capacity) {}

  // True if the nonce is new (and remembers it); false if it was seen in the window.
  bool insert(std::string_view nonce);
  std::size_t size() const { return ring_.size(); }
  std::size_t capacity() const { return capacity_; }

private:
  std::size_t capacity_;
  std::vector<std::uint64_t> ring_; // grows to capacity_, then is overwritten in order
  std::size_t next_ = 0;
  std::unordered_set<std::uint64_t> seen_;
};

} // namespace shardline::protocol
