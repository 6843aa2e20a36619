#include "proxy/resume_buffer.hpp"

#include <algorithm>

namespace shardline::proxy {

ResumeBuffer::ResumeBuffer(std::size_t max_events, std::size_t max_bytes)
    : max_events_(std::max<std::size_t>(max_events, 1)), max_bytes_(max_bytes) {}

const FeedEvent& ResumeBuffer::push(std::string_view type, std::shared_ptr<const std::string> data,
                                    std::string target) {
  FeedEvent e{next_index_++, std::string(type), std::move(data), std::move(target)};
  bytes_ += e.bytes();
  events_.push_back(std::move(e));
  // The newest event always stays, even alone over the byte budget: it is being delivered.
  while (events_.size() > 1 && (events_.size() > max_events_ || bytes_ > max_bytes_)) {
    bytes_ -= events_.front().bytes();
    events_.pop_front();
  }
  return events_.back();
}

bool ResumeBuffer::holds_after(std::uint64_t index) const {
  if (index >= last_index()) return index == last_index();
  // Events index+1 .. last must all be held: the oldest held is at most index+1.
  return !events_.empty() && events_.front().index <= index + 1;
}

} // namespace shardline::proxy
