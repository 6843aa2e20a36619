#pragma once
// The steady stream of guild events a busy bot sees: mostly MESSAGE_CREATE, then presence
// updates, typing and member joins, each for a random guild of the world and about the size
// Discord's are. Pure and seeded: the server decides when and to whom they go.
//
// On the simulator's hot path (100,000 events a second): each event is written into one
// reused buffer, with no allocation once the buffer has grown.

#include "sim/world.hpp"

#include <cstdint>
#include <optional>
#include <random>
#include <string>

namespace shardline::sim {

struct GeneratedEvent {
  const Guild* guild = nullptr;
  const char* type = "";
  std::uint64_t intent = 0; // the gateway intent a session needs to receive it
  std::string data;         // d, as JSON text
};

// Gateway intents the generated events need.
namespace intent {
inline constexpr std::uint64_t guilds = 1u << 0, guild_members = 1u << 1, guild_presences = 1u << 8, guild_messages = 1u << 9,
                               guild_message_typing = 1u << 11, message_content = 1u << 15;
}

// CLOCK_REALTIME in microseconds: the clock of the send stamp, which a client on the same
// machine reads too (steady clocks are not shared between processes in any portable way).
std::uint64_t send_stamp_now_us();

class EventGenerator {
public:
  EventGenerator(const World& world, std::uint64_t seed) : world_(world), rng_(seed ^ 0xe7e7'5eedull) {}

  // The next event, stamped `unix_ms` (message ids and timestamps). The world must have
  // at least one guild. The reference is valid until the next call.
  //
  // With `send_stamp_us` (`shardline sim --stamp-events`), a MESSAGE_CREATE carries it as its
  // `nonce`, a decimal string (Discord allows a string nonce of up to 25 characters), so that a
  // client on the same machine computes each event's send-to-receive latency against
  // CLOCK_REALTIME (send_stamp_now_us). Other event kinds have no nonce in Discord's payloads
  // and get none; without a stamp nothing changes, byte for byte.
  const GeneratedEvent& next(std::uint64_t unix_ms, std::optional<std::uint64_t> send_stamp_us = std::nullopt);
  std::uint64_t generated() const { return generated_; }

private:
  void append_user(std::uint64_t id, std::uint64_t n);

  const World& world_;
  std::mt19937_64 rng_;
  std::uint64_t generated_ = 0;
  GeneratedEvent event_;
  std::uint64_t iso_ms_ = ~std::uint64_t{0}; // the millisecond iso_ holds
  std::string iso_;
};

} // namespace shardline::sim
