#include "net/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace shardline::net {

Backoff::Backoff(Options options, std::uint64_t seed) : opt_(options), rng_(seed) {
  opt_.max = std::max(opt_.min, opt_.max);
  opt_.jitter = std::max(0.0, opt_.jitter);
}

Backoff::duration Backoff::peek_base() const {
  // Doubling stops once it has reached the cap, so large attempt counts cannot overflow.
  double d = opt_.min.count() * std::pow(2.0, std::min(attempt_, 40u));
  return duration(std::min(d, opt_.max.count()));
}

Backoff::duration Backoff::next() {
  auto base = peek_base();
  ++attempt_;
  if (opt_.jitter <= 0) return base;
  std::uniform_real_distribution<double> dist(0.0, opt_.jitter);
  return base + duration(base.count() * dist(rng_));
}

} // namespace shardline::net
