// [shard] in murmurd's configuration: examples/shard (a coordinator and four shards) loads, the
// shards' ranges tile the model in shard order, and what a shard cannot run is refused by key.
#include <gtest/gtest.h>

#include <fstream>

#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/part_commitment.hpp"
#include "murmur/server/config.hpp"
#include "murmur/server/config_schema.hpp"
#include "murmur/server/server.hpp"
#include "murmur/shard/partition.hpp"
#include "murmur/testing/temp_dir.hpp"
#include "shard_round.hpp"  // server/src: check_shard_commit
#include "spool.hpp"

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

/// The shard0 example (or `file`) with `edit` applied to its text; the ConfigError's key.
std::string refused_key(const std::function<std::string(std::string)>& edit,
                        const std::string& file = "shard0.toml") {
  TempDir dir("shard-refused");
  copy_example(dir.path());
  std::ifstream in(dir.path() / file);
  std::string text{std::istreambuf_iterator<char>(in), {}};
  std::ofstream(dir.path() / file) << edit(text);
  try {
    server::load_config(dir.path() / file);
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
  EXPECT_EQ(refused_key([](std::string s) {
              return replace(s, "index = 0\n", "index = 0\ncoordinator_key = \"short\"\n");
            }),
            "shard.coordinator_key");
  // [validation] and [chain] are the coordinator's: a shard refuses them, the coordinator loads
  // them; SecAgg+ neither.
  const auto validation = [](std::string s) {
    return s + "\n[validation]\nmlp = [4, 2]\nlabelled_tensors = \"set.mlt\"\n";
  };
  const auto chain = [](std::string s) {
    return s + "\n[chain]\nrpc_url = \"http://127.0.0.1:8545\"\nkey_file = \"a.key\"\n";
  };
  EXPECT_EQ(refused_key(validation), "validation");
  EXPECT_EQ(refused_key(chain), "chain");
  EXPECT_EQ(refused_key(validation, "coordinator.toml"), "(loaded)");
  EXPECT_EQ(refused_key(chain, "coordinator.toml"), "(loaded)");
  EXPECT_EQ(refused_key([](std::string s) { return s + "\n[secagg]\nenabled = true\n"; },
                        "coordinator.toml"),
            "secagg.enabled");
}

/// check_shard_commit on a real spool: shard 1 of 3 holding its part of a 3 x 4096 + 100
/// coordinate update.
class ShardCommit : public ::testing::Test {
 protected:
  void SetUp() override {
    whole.resize(3 * 4096 + 100);
    for (std::size_t j = 0; j < whole.size(); ++j) whole[j] = 0.5f * static_cast<float>(j % 101);
    const auto ranges = shard::partition(whole.size(), 3);
    cfg.index = 1;
    cfg.count = 3;
    cfg.total_parameters = whole.size();
    cfg.range_begin = ranges[1].begin;
    cfg.range_end = ranges[1].end;
    bounds = shard::byte_boundaries(ranges);
    commitment = protocol::commit_parts(bytes_of(whole), bounds);
    upload.round = 1;
    upload.id = 9;
    upload.parameters = ranges[1].size();
    upload.address.bytes[19] = 7;
  }
  static std::span<const std::uint8_t> bytes_of(const std::vector<float>& v) {
    return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * 4};
  }
  /// Spools `part` as the upload's bytes.
  void spool_part(server::Spool& spool, const std::vector<float>& w) {
    const auto fds = spool.open_upload(upload);
    spool.write_synced(upload, fds, 0, bytes_of(w).subspan(bounds[1], bounds[2] - bounds[1]));
  }
  wire::UploadCommit commit(std::uint32_t part) const {
    wire::UploadCommit c;
    c.set_update_hash(commitment.hash.data(), 32);
    protocol::to_wire(commitment, part, *c.mutable_split());
    return c;
  }
  static wire::ErrorCode refusal(const std::function<void()>& f) {
    try {
      f();
    } catch (const protocol::ProtocolError& e) {
      return e.code();
    }
    return wire::ERR_UNSPECIFIED;
  }

  std::vector<float> whole;
  server::ShardConfig cfg;
  std::vector<std::uint64_t> bounds;
  protocol::SplitCommitment commitment;
  server::Upload upload;
};

TEST_F(ShardCommit, APartChecksAgainstTheWholeUpdatesHash) {
  TempDir dir("shard-commit");
  server::Spool spool(dir.path());
  spool_part(spool, whole);
  const chain::Hash32 h = server::check_shard_commit(cfg, spool, upload, commit(1));
  EXPECT_EQ(chain::to_hex(h), chain::to_hex(protocol::update_hash(bytes_of(whole))))
      << "the hash a shard records is b3sum of the whole update";
}

TEST_F(ShardCommit, ForgedOrMisdirectedCommitsAreRefusedTyped) {
  TempDir dir("shard-commit-bad");
  server::Spool spool(dir.path());
  std::vector<float> other = whole;
  other[cfg.range_begin + 5] += 1.0f;  // a byte of this shard's part differs from what was signed
  spool_part(spool, other);
  EXPECT_EQ(refusal([&] { server::check_shard_commit(cfg, spool, upload, commit(1)); }),
            wire::ERR_HASH_MISMATCH);
  EXPECT_EQ(refusal([&] { server::check_shard_commit(cfg, spool, upload, wire::UploadCommit{}); }),
            wire::ERR_MALFORMED)
      << "a commit to a shard without the split commitment";
  EXPECT_EQ(refusal([&] { server::check_shard_commit(cfg, spool, upload, commit(2)); }),
            wire::ERR_MALFORMED)
      << "the commitment names another shard's part";
  auto c = commit(1);
  c.set_update_hash(std::string(32, '\x11'));
  EXPECT_EQ(refusal([&] { server::check_shard_commit(cfg, spool, upload, c); }),
            wire::ERR_HASH_MISMATCH)
      << "the commit's hash is not the commitment's";
  auto shifted = cfg;
  shifted.range_begin += 4096;
  shifted.range_end += 4096;
  EXPECT_EQ(refusal([&] { server::check_shard_commit(shifted, spool, upload, commit(1)); }),
            wire::ERR_MALFORMED)
      << "the part's bytes are not this shard's range";
  auto garbled = commit(1);
  garbled.mutable_split()->mutable_parts(0)->set_cvs("short");
  EXPECT_EQ(refusal([&] { server::check_shard_commit(cfg, spool, upload, garbled); }),
            wire::ERR_MALFORMED);
}

}  // namespace
}  // namespace murmur::testing
