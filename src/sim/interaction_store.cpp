#include "sim/interaction_store.hpp"

#include <cstdio>

namespace shardline::sim {

const char* to_string(InteractionError e) {
  switch (e) {
  case InteractionError::none: return "none";
  case InteractionError::unknown_interaction: return "unknown_interaction";
  case InteractionError::already_acknowledged: return "already_acknowledged";
  case InteractionError::bad_callback_type: return "bad_callback_type";
  case InteractionError::unknown_webhook: return "unknown_webhook";
  case InteractionError::not_acknowledged: return "not_acknowledged";
  case InteractionError::no_original: return "no_original";
  }
  return "?";
}

InteractionStore::InteractionStore(InteractionLimits limits, Clock clock, std::uint64_t seed)
    : limits_(limits), clock_(std::move(clock)), rng_state_(seed | 1) {}

Interaction& InteractionStore::create(std::uint64_t id, InteractionSpec spec) {
  while (by_id_.size() >= limits_.max_kept && !order_.empty()) {
    auto old = by_id_.find(order_.front());
    if (old != by_id_.end()) {
      id_of_token_.erase(old->second.token);
      by_id_.erase(old);
    }
    order_.pop_front();
  }
  // Tokens look like Discord's: long, opaque; splitmix64 keeps them unpredictable enough
  // for a local simulator and reproducible per seed.
  std::string token = "aW50ZXJhY3Rpb246";
  for (int i = 0; i < 4; ++i) {
    std::uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(z));
    token += buf;
  }
  Interaction in;
  in.id = id;
  in.token = token;
  in.spec = std::move(spec);
  in.created = clock_();
  id_of_token_[token] = id;
  order_.push_back(id);
  return by_id_[id] = std::move(in);
}

Interaction* InteractionStore::find(std::uint64_t id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

Interaction* InteractionStore::by_token(std::string_view token) {
  auto it = id_of_token_.find(std::string(token));
  return it == id_of_token_.end() ? nullptr : find(it->second);
}

InteractionError InteractionStore::callback(std::uint64_t id, std::string_view token, int type,
                                            std::string body_json) {
  auto* in = find(id);
  if (!in || in->token != token) return InteractionError::unknown_interaction;
  if (in->callback_type != 0) return InteractionError::already_acknowledged;
  if (clock_() - in->created > limits_.callback_deadline) return InteractionError::unknown_interaction;
  // What an application command may answer with: a message (4), a deferred message (5), a
  // modal (9).
  if (type != 4 && type != 5 && type != 9) return InteractionError::bad_callback_type;
  in->callback_type = type;
  in->callback_json = std::move(body_json);
  return InteractionError::none;
}

InteractionError InteractionStore::webhook_check(Interaction* in) const {
  if (!in || clock_() - in->created > limits_.token_lifetime) return InteractionError::unknown_webhook;
  if (in->callback_type == 0) return InteractionError::not_acknowledged;
  return InteractionError::none;
}

InteractionError InteractionStore::edit_original(std::string_view token, std::string body_json) {
  auto* in = by_token(token);
  if (auto e = webhook_check(in); e != InteractionError::none) return e;
  if (in->callback_type == 9) return InteractionError::no_original;
  if (in->edits.size() < limits_.max_answers) in->edits.push_back(std::move(body_json));
  return InteractionError::none;
}

InteractionError InteractionStore::followup(std::string_view token, std::string body_json) {
  auto* in = by_token(token);
  if (auto e = webhook_check(in); e != InteractionError::none) return e;
  if (in->followups.size() < limits_.max_answers) in->followups.push_back(std::move(body_json));
  return InteractionError::none;
}

} // namespace shardline::sim
