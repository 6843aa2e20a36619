#include "protocol/nonce_window.hpp"

#include <functional>

namespace shardline::protocol {

bool NonceWindow::insert(std::string_view nonce) {
  if (capacity_ == 0) return true; // no window: nothing to remember (and no ring to index)
  const std::uint64_t h = std::hash<std::string_view>{}(nonce);
  if (!seen_.insert(h).second) return false;
  if (ring_.size() < capacity_) {
    ring_.push_back(h);
  } else {
    seen_.erase(ring_[next_]);
    ring_[next_] = h;
    next_ = (next_ + 1) % capacity_;
  }
  return true;
}

} // namespace shardline::protocol
