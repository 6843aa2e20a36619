#pragma once
// Slash-command interactions injected through /_sim/interactions, and what the bot answered:
// the one callback Discord allows (within 3 s), then edits of the original response and
// follow-ups through the interaction's webhook token (valid 15 minutes). Pure bookkeeping
// over an injected clock; the server turns the errors into Discord's HTTP answers.

#include "core/clock.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shardline::sim {

struct InteractionSpec {
  std::string name;                 // the command's name
  std::string options_json = "[]"; // data.options, as JSON text
  std::uint64_t user_id = 0;
  std::uint64_t guild_id = 0;
  std::uint64_t channel_id = 0;
};

struct Interaction {
  std::uint64_t id = 0;
  std::string token;
  InteractionSpec spec;
  steady::time_point created{};
  int callback_type = 0;          // 0: not answered yet
  std::string callback_json;      // the callback's body, as sent
  std::vector<std::string> edits; // PATCH .../messages/@original bodies
  std::vector<std::string> followups;
};

enum class InteractionError {
  none,
  unknown_interaction, // no such id/token pair, or the 3 s to answer are over (404, code 10062)
  already_acknowledged, // a second callback (400, code 40060)
  bad_callback_type,    // not one an application command may use (400, code 50035)
  unknown_webhook,      // webhook token unknown or older than 15 minutes (404, code 10015)
  not_acknowledged,     // an edit or follow-up before any callback (404/400)
  no_original,          // an edit when the callback made no message (a modal) (404, code 10008)
};

const char* to_string(InteractionError e);

struct InteractionLimits {
  millis callback_deadline{3000};
  millis token_lifetime{15 * 60 * 1000};
  std::size_t max_kept = 10'000; // oldest forgotten beyond this
  std::size_t max_answers = 100; // edits and follow-ups kept per interaction
};

class InteractionStore {
public:
  InteractionStore(InteractionLimits limits, Clock clock, std::uint64_t seed);

  // Records a new interaction with the given (snowflake) id; makes its token.
  Interaction& create(std::uint64_t id, InteractionSpec spec);
  Interaction* find(std::uint64_t id);

  InteractionError callback(std::uint64_t id, std::string_view token, int type, std::string body_json);
  InteractionError edit_original(std::string_view token, std::string body_json);
  InteractionError followup(std::string_view token, std::string body_json);

  std::size_t size() const { return by_id_.size(); }

private:
  Interaction* by_token(std::string_view token);
  InteractionError webhook_check(Interaction* in) const;

  InteractionLimits limits_;
  Clock clock_;
  std::uint64_t rng_state_;
  std::unordered_map<std::uint64_t, Interaction> by_id_;
  std::unordered_map<std::string, std::uint64_t> id_of_token_;
  std::deque<std::uint64_t> order_;
};

} // namespace shardline::sim
