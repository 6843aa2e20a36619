#include "hub/legacy_v1.hpp"

#include <algorithm>

namespace shardline::hub {

void V1PendingRequests::remember(std::string requester, std::string id, std::string_view op) {
  auto reply_op = v1_reply_op(op);
  if (id.empty() || reply_op.empty()) return;
  push({std::move(requester), std::move(id), reply_op, std::nullopt});
}

void V1PendingRequests::remember_eval(std::string requester, std::string id, std::string query) {
  if (id.empty()) return;
  push({std::move(requester), std::move(id), v1_reply_op("stats_request"), std::move(query)});
}

void V1PendingRequests::push(Entry e) {
  if (q_.size() >= capacity_) q_.pop_front();
  q_.push_back(std::move(e));
}

std::optional<V1PendingRequests::Answered> V1PendingRequests::answered(std::string_view op, std::string_view target) {
  auto it = std::find_if(q_.begin(), q_.end(), [&](const Entry& e) { return e.reply_op == op && e.requester == target; });
  if (it == q_.end()) return std::nullopt;
  Answered a{std::move(it->id), std::move(it->eval_query)};
  q_.erase(it);
  return a;
}

std::string with_first_field(std::string_view body, std::string_view key, std::string_view raw_value) {
  auto brace = body.find('{');
  std::string out;
  out.reserve(body.size() + key.size() + raw_value.size() + 4);
  out.append("{\"").append(key).append("\":").append(raw_value).append(",").append(body.substr(brace + 1));
  return out;
}

} // namespace shardline::hub
