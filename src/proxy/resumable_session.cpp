#include "proxy/resumable_session.hpp"

#include "proxy/client_session.hpp"
#include "proxy/gateway_frames.hpp"
#include "proxy/shard_feed.hpp"

namespace shardline::proxy {

namespace {
// Anchors beyond this are forgotten oldest first: a RESUME from before them is refused. One
// anchor per gap in the feed (another client's member chunks) and per RESUME.
constexpr std::size_t kMaxAnchors = 4096;
} // namespace

ResumableSession::ResumableSession(std::string id, ShardFeed& feed, std::string resume_url)
    : id_(std::move(id)), feed_(feed), resume_url_(std::move(resume_url)) {}

ResumableSession::~ResumableSession() {
  if (in_feed_) feed_.remove(*this);
}

void ResumableSession::identify(ClientSession& conn) {
  conn_ = &conn;
  if (!in_feed_) {
    feed_.add(*this);
    in_feed_ = true;
  }
  if (feed_.cache().has_ready()) start();
}

void ResumableSession::start() {
  if (started_) return;
  started_ = true;
  const auto& cache = feed_.cache();
  send_dispatch("READY", cache.ready_data(id_, resume_url_, feed_.shard_id(), feed_.shard_count()));
  for (auto guild_id : cache.available_guild_ids())
    if (auto d = cache.guild_create(guild_id)) send_dispatch("GUILD_CREATE", *d);
  // Everything the feed held so far is in what was just sent.
  last_feed_ = feed_.buffer().last_index();
  anchor(last_feed_);
}

void ResumableSession::deliver(const FeedEvent& e) {
  if (!started_ || !conn_ || e.index <= last_feed_) return;
  if (!e.target.empty() && e.target != id_) return;
  last_feed_ = e.index;
  send_dispatch(e.type, *e.data);
  anchor(last_feed_);
}

bool ResumableSession::resume(ClientSession& conn, std::uint64_t seq) {
  std::uint64_t from = 0;
  if (!started_ || !feed_position(seq, from) || !feed_.buffer().holds_after(from)) return false;
  conn_ = &conn;
  detached_at_ = {};
  if (!in_feed_) {
    feed_.add(*this);
    in_feed_ = true;
  }
  // Back to where the client is: what follows is numbered again exactly as before.
  seq_ = seq;
  while (!anchors_.empty() && anchors_.back().seq > seq) anchors_.pop_back();
  last_feed_ = from;
  anchor(from);
  feed_.buffer().for_each_after(from, [this](const FeedEvent& e) { deliver(e); });
  send_dispatch("RESUMED", R"({"_trace":["shardline-proxy"]})");
  anchor(last_feed_);
  return true;
}

void ResumableSession::detach(steady::time_point now) {
  conn_ = nullptr;
  detached_at_ = now;
  if (in_feed_) {
    feed_.remove(*this);
    in_feed_ = false;
  }
}

void ResumableSession::send_dispatch(std::string_view type, std::string_view d_json) {
  ++seq_;
  if (conn_) conn_->send(dispatch_frame(type, seq_, d_json)); // may close (and detach) a slow client
}

void ResumableSession::anchor(std::uint64_t feed_index) {
  if (!anchors_.empty()) {
    auto& b = anchors_.back();
    if (b.seq == seq_) {
      b.feed_index = feed_index;
      return;
    }
    if (b.feed_index + (seq_ - b.seq) == feed_index) return; // still in step
  }
  anchors_.push_back({seq_, feed_index});
  if (anchors_.size() > kMaxAnchors) anchors_.pop_front();
}

bool ResumableSession::feed_position(std::uint64_t seq, std::uint64_t& feed_index) const {
  if (anchors_.empty() || seq < anchors_.front().seq || seq > seq_) return false;
  for (auto it = anchors_.rbegin(); it != anchors_.rend(); ++it)
    if (it->seq <= seq) {
      feed_index = it->feed_index + (seq - it->seq);
      return true;
    }
  return false;
}

} // namespace shardline::proxy
