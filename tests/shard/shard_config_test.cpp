// [shard] in murmurd's configuration: examples/shard (a coordinator and four shards) loads, the
// shards' ranges tile the model in shard order, and what a shard cannot run is refused by key.
#include <gtest/gtest.h>

#include <fstream>

#include "murmur/server/config.hpp"
#include "murmur/server/config_schema.hpp"
#include "murmur/server/server.hpp"
#include "murmur/shard/partition.hpp"
#include "murmur/testing/temp_dir.hpp"

namespace murmur::testing {
namespace {

const std::filesystem::path kExample = std::filesystem::path(MURMUR_SOURCE_DIR) / "examples/shard";

/// examples/shard copied to `dir` with a fresh Curve key for each member.
void copy_example(const std::filesystem::path& dir) {
  for (const auto& e : std::filesystem::directory_iterator(kExample))
    std::filesystem::copy_file(e.path(), dir / e.path().filename());
  for (const char* m : {"coordinator", "shard0", "shard1", "shard2", "shard3"})
    std::ofstream(dir / (std::string(m) + ".key")) << server::curve_keypair().second << "\n";
}

TEST(ShardConfig, TheExampleSetLoadsAndTilesTheModel) {
  TempDir dir("shard-example");
  copy_example(dir.path());
  const server::Config coordinator = server::load_config(dir.path() / "coordinator.toml");
  ASSERT_TRUE(coordinator.shard);
  EXPECT_TRUE(coordinator.shard->coordinator);
  EXPECT_EQ(coordinator.shard->count, 4u);
  EXPECT_EQ(coordinator.shard->coordinator_port, 29500);
  const auto ranges = shard::partition(coordinator.parameters, 4);
  std::uint64_t at = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    const server::Config c =
        server::load_config(dir.path() / ("shard" + std::to_string(k) + ".toml"));
    ASSERT_TRUE(c.shard);
    EXPECT_FALSE(c.shard->coordinator);
    EXPECT_EQ(c.shard->index, k);
    EXPECT_EQ(c.shard->total_parameters, coordinator.parameters);
    EXPECT_EQ(c.shard->range_begin, at);
    EXPECT_EQ(c.shard->range_begin, ranges[k].begin);
    EXPECT_EQ(c.shard->range_end, ranges[k].end);
    EXPECT_EQ(c.parameters, ranges[k].size());  // what the shard's uploads and model hold
    EXPECT_GT(c.parameters, 0u);
    at = c.shard->range_end;
  }
  EXPECT_EQ(at, coordinator.parameters);
}

/// The shard0 example with `edit` applied to its text; the ConfigError's key.
std::string refused_key(const std::function<std::string(std::string)>& edit) {
  TempDir dir("shard-refused");
  copy_example(dir.path());
  std::ifstream in(dir.path() / "shard0.toml");
  std::string text{std::istreambuf_iterator<char>(in), {}};
  std::ofstream(dir.path() / "shard0.toml") << edit(text);
  try {
    server::load_config(dir.path() / "shard0.toml");
  } catch (const server::ConfigError& e) {
    return e.key();
  }
  return "(loaded)";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  if (at == std::string::npos) throw std::logic_error("no '" + from + "' in the example");
  return s.replace(at, from.size(), to);
}

TEST(ShardConfig, WhatAShardCannotRunIsRefusedByKey) {
  EXPECT_EQ(refused_key([](std::string s) { return replace(s, "index = 0", "index = 4"); }),
            "shard.index");
  EXPECT_EQ(refused_key([](std::string s) { return replace(s, "index = 0\n", ""); }),
            "shard.index");
  EXPECT_EQ(refused_key([](std::string s) {
              return replace(s, "coordinator = \"127.0.0.1:29500\"", "coordinator = \"nohost\"");
            }),
            "shard.coordinator");
  EXPECT_EQ(refused_key([](std::string s) {
              return replace(s, "coordinator = \"127.0.0.1:29500\"",
                             "coordinator = \"127.0.0.1:70000\"");
            }),
            "shard.coordinator");
  EXPECT_EQ(
      refused_key([](std::string s) { return replace(s, "role = \"shard\"", "role = \"x\""); }),
      "shard.role");
  // More shards than 4096-coordinate units.
  EXPECT_EQ(refused_key([](std::string s) {
              return replace(s, "parameters = 1048576", "parameters = 8192");
            }),
            "shard.count");
  EXPECT_EQ(refused_key([](std::string s) { return s + "\n[secagg]\nenabled = true\n"; }),
            "secagg.enabled");
}

}  // namespace
}  // namespace murmur::testing
