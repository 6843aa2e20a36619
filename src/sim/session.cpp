#include "sim/session.hpp"

#include "sim/gateway_protocol.hpp"

namespace shardline::sim {

const StoredEvent& Session::append(std::string_view type, std::string_view data) {
  ++last_seq_;
  auto frame = std::make_shared<const std::string>(dispatch_frame(type, last_seq_, data));
  buffer_bytes_ += frame->size();
  buffer_.push_back(StoredEvent{last_seq_, std::move(frame)});
  // Always keep the newest event, even one larger than the byte limit.
  while (buffer_.size() > 1 && (buffer_.size() > limits_.max_events || buffer_bytes_ > limits_.max_bytes)) {
    buffer_bytes_ -= buffer_.front().frame->size();
    buffer_.pop_front();
  }
  return buffer_.back();
}

bool Session::can_replay_from(std::uint64_t seq) const {
  if (seq > last_seq_) return false; // a sequence this session never sent
  if (seq == last_seq_) return true; // nothing missed
  return !buffer_.empty() && buffer_.front().seq <= seq + 1;
}

std::vector<const StoredEvent*> Session::events_after(std::uint64_t seq) const {
  std::vector<const StoredEvent*> out;
  if (buffer_.empty() || seq >= last_seq_) return out;
  std::size_t first = seq + 1 > buffer_.front().seq ? static_cast<std::size_t>(seq + 1 - buffer_.front().seq) : 0;
  out.reserve(buffer_.size() - first);
  for (std::size_t i = first; i < buffer_.size(); ++i) out.push_back(&buffer_[i]);
  return out;
}

} // namespace shardline::sim
