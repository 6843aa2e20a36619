#include "sim/world.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

namespace shardline::sim {

namespace {

// Creation times fall between mid-2015 and the start of 2026: fixed, so a seed always gives
// the same ids whatever the date, and every id looks like one Discord could have issued.
constexpr std::uint64_t kOldestMs = 1431475200000ULL; // 2015-05-13, Discord's public launch
constexpr std::uint64_t kNewestMs = 1767225600000ULL; // 2026-01-01

constexpr std::array kAdjectives{"Cozy",   "Midnight", "Pixel",  "Crimson", "Lazy",   "Cosmic", "Quiet",
                                 "Golden", "Retro",    "Frosty", "Neon",    "Wild",   "Silver", "Hidden",
                                 "Lucky",  "Stormy",   "Velvet", "Rusty",   "Sunny",  "Arcane"};
constexpr std::array kNouns{"Tavern", "Lounge", "Guild",  "Den",    "Hangout", "Garden", "Arcade",
                            "Harbor", "Forge",  "Circle", "Corner", "Club",    "Outpost", "Library",
                            "Studio", "Realm",  "Nest",   "Camp",   "Council", "Workshop"};
constexpr std::array kTopics{"", "", "", " Gaming", " Anime", " Music", " Study", " Art", " Dev", " RP", " Memes"};

} // namespace

std::uint64_t World::snowflake(std::uint64_t unix_ms, std::uint32_t worker, std::uint32_t process,
                               std::uint32_t increment) {
  std::uint64_t ms = unix_ms > kDiscordEpochMs ? unix_ms - kDiscordEpochMs : 0;
  return (ms << 22) | (std::uint64_t(worker & 31) << 17) | (std::uint64_t(process & 31) << 12) | (increment & 4095);
}

std::uint32_t World::shard_of(std::uint64_t guild_id, std::uint32_t num_shards) {
  if (num_shards == 0) return 0;
  return static_cast<std::uint32_t>((guild_id >> 22) % num_shards);
}

std::uint32_t World::recommended_shards_for(std::size_t guilds) {
  return static_cast<std::uint32_t>(std::max<std::size_t>(1, (guilds + 999) / 1000));
}

Guild World::make_guild(std::uint64_t unix_ms) {
  auto& rng = rng_;
  std::uniform_int_distribution<std::uint32_t> small(0, 31), inc(0, 4095);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Guild g;
  // One statement each: argument evaluation order is unspecified, and the seed must give
  // the same world with any compiler.
  auto worker = small(rng);
  auto process = small(rng);
  auto increment = inc(rng);
  g.id = snowflake(unix_ms, worker, process, increment);
  g.name = std::string(kAdjectives[rng() % kAdjectives.size()]) + " " + kNouns[rng() % kNouns.size()] +
           kTopics[rng() % kTopics.size()];
  // Member counts follow a Pareto tail (most guilds are a handful of friends, a few are
  // huge), and about one guild in 500 is a large community of 10k to 500k members.
  double u = 1.0 - unit(rng); // (0, 1]
  double members = 2.0 / std::pow(u, 1.0 / 1.16);
  if (rng() % 500 == 0) members = 10'000 + unit(rng) * 490'000;
  g.member_count = static_cast<std::uint32_t>(std::clamp(members, 1.0, 1'000'000.0));
  return g;
}

const Guild& World::join(std::uint64_t unix_ms) {
  auto g = make_guild(unix_ms);
  auto it = std::lower_bound(guilds_.begin(), guilds_.end(), g.id, [](const Guild& a, std::uint64_t v) { return a.id < v; });
  while (it != guilds_.end() && it->id == g.id) { // same millisecond and bits: take the next free id
    ++g.id;
    ++it;
  }
  return *guilds_.insert(it, std::move(g));
}

bool World::leave(std::uint64_t guild_id) {
  auto it = std::lower_bound(guilds_.begin(), guilds_.end(), guild_id,
                             [](const Guild& a, std::uint64_t v) { return a.id < v; });
  if (it == guilds_.end() || it->id != guild_id) return false;
  guilds_.erase(it);
  return true;
}

World::World(const WorldOptions& o) : rng_(o.seed) {
  auto& rng = rng_;
  std::uniform_int_distribution<std::uint64_t> when(kOldestMs, kNewestMs);

  // The bot and its owner are older than any of the bot's guilds.
  application_id_ = snowflake(kOldestMs - 86'400'000ULL * 30 + o.seed % 86'400'000ULL, 1, 0, 0);
  owner_id_ = snowflake(kOldestMs - 86'400'000ULL * 100 + o.seed % 86'400'000ULL, 0, 1, 0);
  bot_name_ = "Shardline Sim";

  guilds_.reserve(o.guilds);
  for (std::size_t i = 0; i < o.guilds; ++i) guilds_.push_back(make_guild(when(rng)));
  std::sort(guilds_.begin(), guilds_.end(), [](const Guild& a, const Guild& b) { return a.id < b.id; });
  // Random snowflakes may collide (same ms, worker, process and increment): nudge the
  // increment so every id is unique and the order is kept.
  for (std::size_t i = 1; i < guilds_.size(); ++i)
    if (guilds_[i].id <= guilds_[i - 1].id) guilds_[i].id = guilds_[i - 1].id + 1;
  // At least one large guild in any world of 200 or more, so large-guild paths are exercised.
  if (guilds_.size() >= 200 && std::none_of(guilds_.begin(), guilds_.end(),
                                            [](const Guild& g) { return g.member_count >= 10'000; }))
    guilds_[rng() % guilds_.size()].member_count = 25'000 + static_cast<std::uint32_t>(rng() % 100'000);

  std::size_t unavailable = static_cast<std::size_t>(std::llround(guilds_.size() * o.unavailable_fraction));
  if (o.unavailable_fraction > 0 && guilds_.size() >= 20) unavailable = std::max<std::size_t>(unavailable, 1);
  unavailable = std::min(unavailable, guilds_.size());
  for (std::size_t picked = 0; picked < unavailable;) {
    auto& g = guilds_[rng() % guilds_.size()];
    if (g.unavailable_at_start) continue;
    g.unavailable_at_start = true;
    ++picked;
  }
}

const Guild* World::find(std::uint64_t id) const {
  auto it = std::lower_bound(guilds_.begin(), guilds_.end(), id, [](const Guild& g, std::uint64_t v) { return g.id < v; });
  return it != guilds_.end() && it->id == id ? &*it : nullptr;
}

std::vector<const Guild*> World::guilds_of_shard(std::uint32_t shard_id, std::uint32_t num_shards) const {
  std::vector<const Guild*> out;
  for (auto& g : guilds_)
    if (shard_of(g.id, num_shards) == shard_id) out.push_back(&g);
  return out;
}

std::size_t World::count_of_shard(std::uint32_t shard_id, std::uint32_t num_shards) const {
  return static_cast<std::size_t>(std::count_if(
      guilds_.begin(), guilds_.end(), [&](const Guild& g) { return shard_of(g.id, num_shards) == shard_id; }));
}

std::size_t World::unavailable_at_start_count() const {
  return static_cast<std::size_t>(
      std::count_if(guilds_.begin(), guilds_.end(), [](const Guild& g) { return g.unavailable_at_start; }));
}

} // namespace shardline::sim
