#include "hub/legacy_v1.hpp"

#include <algorithm>

namespace shardline::hub {

std::string_view v1_reply_op(std::string_view request_op) {
  if (request_op == "stats_request") return "stats_broadcast";
  if (request_op == "guild_count_request") return "guild_count_response";
  if (request_op == "eval_request") return "eval_response";
  return {};
}

void V1PendingRequests::remember(std::string requester, std::string id, std::string_view op) {
  auto reply_op = v1_reply_op(op);
  if (id.empty() || reply_op.empty()) return;
  if (q_.size() >= capacity_) q_.pop_front();
  q_.push_back({std::move(requester), std::move(id), reply_op});
}

std::optional<std::string> V1PendingRequests::answered(std::string_view op, std::string_view target) {
  auto it = std::find_if(q_.begin(), q_.end(), [&](const Entry& e) { return e.reply_op == op && e.requester == target; });
  if (it == q_.end()) return std::nullopt;
  auto id = std::move(it->id);
  q_.erase(it);
  return id;
}

std::string with_first_field(std::string_view body, std::string_view key, std::string_view raw_value) {
  auto brace = body.find('{');
  std::string out;
  out.reserve(body.size() + key.size() + raw_value.size() + 4);
  out.append("{\"").append(key).append("\":").append(raw_value).append(",").append(body.substr(brace + 1));
  return out;
}

} // namespace shardline::hub
