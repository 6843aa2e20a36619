#pragma once
// A set of sequence numbers kept as sorted, disjoint [first, last] ranges. A session's
// deliveries are almost always contiguous, so recording every delivered sequence costs one
// range, and the gaps (events a client never received) fall out directly.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace shardline::sim {

class SeqRanges {
public:
  using Range = std::pair<std::uint64_t, std::uint64_t>; // inclusive

  void add(std::uint64_t seq) {
    // Fast path: the next sequence after the last range (or already inside it).
    if (!ranges_.empty() && seq >= ranges_.back().first) {
      auto& r = ranges_.back();
      if (seq <= r.second) return;
      if (seq == r.second + 1) {
        r.second = seq;
        return;
      }
      ranges_.emplace_back(seq, seq);
      return;
    }
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), seq,
                               [](const Range& r, std::uint64_t v) { return r.second + 1 < v; });
    if (it != ranges_.end() && it->first <= seq + 1 && seq <= it->second + 1) {
      it->first = std::min(it->first, seq);
      it->second = std::max(it->second, seq);
      auto next = std::next(it);
      if (next != ranges_.end() && next->first <= it->second + 1) {
        it->second = std::max(it->second, next->second);
        ranges_.erase(next);
      }
      return;
    }
    ranges_.insert(it, Range{seq, seq});
  }

  bool contains(std::uint64_t seq) const {
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), seq,
                               [](const Range& r, std::uint64_t v) { return r.second < v; });
    return it != ranges_.end() && it->first <= seq;
  }

  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto& r : ranges_) n += r.second - r.first + 1;
    return n;
  }

  // The ranges of [1, upto] not in the set.
  std::vector<Range> missing(std::uint64_t upto) const {
    std::vector<Range> out;
    std::uint64_t next = 1;
    for (auto& r : ranges_) {
      if (r.first > upto) break;
      if (r.first > next) out.emplace_back(next, r.first - 1);
      next = std::max(next, r.second + 1);
    }
    if (next <= upto) out.emplace_back(next, upto);
    return out;
  }

  const std::vector<Range>& ranges() const { return ranges_; }

private:
  std::vector<Range> ranges_;
};

} // namespace shardline::sim
