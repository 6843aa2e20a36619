// proxy_cache_bench: the memory of the bot endpoint's guild cache (src/proxy/guild_cache.hpp)
// for the simulator's world, against discord.js's own cache for the same payloads
// (bench/proxy_cache_discordjs.js; bench/proxy_cache_run.sh runs both).
//
// The world is the simulator's (sim::World, the same seed and guild count as `shardline sim
// --guilds N`), every guild available; the payloads are the simulator's own READY and
// GUILD_CREATE (sim::ready_data, sim::guild_create_data with large_threshold 50), generated one
// at a time and dropped after apply(), so only the caches' memory is measured.
//
//   proxy_cache_bench measure [--guilds 39000 --shards 16 --seed 1 --members 0]
//       feeds every shard's READY and GUILD_CREATEs into one GuildCache per shard; prints one
//       JSON line: guilds, the caches' memory_bytes(), RSS growth (VmRSS after malloc_trim, so
//       freed parser scratch is not counted), time per GUILD_CREATE, serialize() size.
//   proxy_cache_bench dump FILE [--guilds 39000 --shards 16 --seed 1]
//       writes the same payloads, one per line "shard TYPE json", for the discord.js side.

#include "bench_common.hpp"
#include "proxy/guild_cache.hpp"
#include "sim/gateway_protocol.hpp"
#include "sim/world.hpp"

#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct Args {
  std::string mode;
  std::string file;
  std::size_t guilds = 39000;
  std::uint32_t shards = 16;
  std::uint64_t seed = 1;
  bool members = false;
};

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

[[noreturn]] void usage() {
  std::cerr << "usage: proxy_cache_bench measure|dump FILE [--guilds N --shards N --seed N --members 0|1]\n";
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  if (argc < 2) usage();
  a.mode = argv[1];
  int i = 2;
  if (a.mode == "dump") {
    if (argc < 3) usage();
    a.file = argv[2];
    i = 3;
  } else if (a.mode != "measure") {
    usage();
  }
  for (; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--guilds") a.guilds = std::strtoull(v, nullptr, 10);
    else if (k == "--shards") a.shards = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
    else if (k == "--seed") a.seed = std::strtoull(v, nullptr, 10);
    else if (k == "--members") a.members = std::strcmp(v, "1") == 0;
    else usage();
  }
  if (i != argc || a.shards == 0 || a.guilds == 0) usage();
  return a;
}

} // namespace

int main(int argc, char** argv) {
  using namespace shardline;
  const Args args = parse_args(argc, argv);
  sim::World world(sim::WorldOptions{.guilds = args.guilds, .seed = args.seed, .unavailable_fraction = 0});
  constexpr std::uint32_t kLargeThreshold = 50;

  if (args.mode == "dump") {
    std::ofstream out(args.file, std::ios::binary);
    for (std::uint32_t s = 0; s < args.shards; ++s) {
      out << s << " READY " << sim::ready_data(world, "bench", "wss://bench", s, args.shards) << '\n';
      for (const auto* g : world.guilds_of_shard(s, args.shards))
        out << s << " GUILD_CREATE " << sim::guild_create_data(world, *g, kLargeThreshold) << '\n';
    }
    out.flush();
    if (!out) {
      std::cerr << "proxy_cache_bench: cannot write " << args.file << "\n";
      return 1;
    }
    std::cout << "{\"guilds\":" << world.guilds().size() << ",\"shards\":" << args.shards << "}\n";
    return 0;
  }

  // Warm up what is not the cache's (the payload builders' own allocations, iostreams) before
  // the baseline, so the growth measured is the caches'.
  { auto warm = sim::guild_create_data(world, world.guilds().front(), kLargeThreshold); }
  malloc_trim(0);
  const long rss0 = rss_kib();

  std::vector<proxy::GuildCache> caches;
  caches.reserve(args.shards);
  std::size_t payload_bytes = 0, guilds = 0;
  double apply_s = 0;
  for (std::uint32_t s = 0; s < args.shards; ++s) {
    caches.emplace_back(proxy::CacheOptions{.members = args.members});
    auto& cache = caches.back();
    cache.apply("READY", sim::ready_data(world, "bench", "wss://bench", s, args.shards));
    for (const auto* g : world.guilds_of_shard(s, args.shards)) {
      const auto d = sim::guild_create_data(world, *g, kLargeThreshold);
      payload_bytes += d.size();
      const auto t0 = bench::steady::now();
      cache.apply("GUILD_CREATE", d);
      apply_s += bench::since_s(t0);
      ++guilds;
    }
  }
  malloc_trim(0);
  const long rss1 = rss_kib();

  std::size_t memory = 0, available = 0, serialized = 0, malformed = 0;
  double render_s = 0;
  std::size_t rendered_bytes = 0;
  for (const auto& cache : caches) {
    memory += cache.memory_bytes();
    available += cache.available_guild_ids().size();
    malformed += cache.malformed_count();
    serialized += cache.serialize().size();
    const auto t0 = bench::steady::now();
    for (auto id : cache.available_guild_ids()) rendered_bytes += cache.guild_create(id)->size();
    render_s += bench::since_s(t0);
  }
  if (available != guilds || malformed != 0) {
    std::cerr << "proxy_cache_bench: " << available << " of " << guilds << " guilds available, " << malformed
              << " malformed\n";
    return 1;
  }
  std::printf("{\"guilds\":%zu,\"shards\":%u,\"members_option\":%s,\"payload_kib\":%zu,\"memory_bytes_kib\":%zu,"
              "\"rss_growth_kib\":%ld,\"bytes_per_guild\":%zu,\"apply_us_per_guild\":%.2f,"
              "\"render_us_per_guild\":%.2f,\"rendered_kib\":%zu,\"serialized_kib\":%zu}\n",
              guilds, args.shards, args.members ? "true" : "false", payload_bytes / 1024, memory / 1024, rss1 - rss0,
              memory / guilds, apply_s * 1e6 / static_cast<double>(guilds),
              render_s * 1e6 / static_cast<double>(guilds), rendered_bytes / 1024, serialized / 1024);
  return 0;
}
