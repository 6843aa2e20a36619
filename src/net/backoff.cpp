#include "net/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace shardline::net {

ReconnectBackoff::ReconnectBackoff(duration min, duration max, double jitter_fraction, std::uint64_t seed)
    : min_(min), max_(std::max(min, max)), jitter_(jitter_fraction), rng_(seed) {}

ReconnectBackoff::duration ReconnectBackoff::peek_base() const {
  // Doubling stops once it has reached the cap, so large attempt counts cannot overflow.
  double d = min_.count() * std::pow(2.0, std::min(attempt_, 40u));
  return duration(std::min(d, max_.count()));
}

ReconnectBackoff::duration ReconnectBackoff::next() {
  auto base = peek_base();
  ++attempt_;
  if (jitter_ <= 0) return base;
  std::uniform_real_distribution<double> dist(0.0, jitter_);
  return base + duration(base.count() * dist(rng_));
}

} // namespace shardline::net
