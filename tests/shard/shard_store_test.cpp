// The coordinator's store is a rendezvous, not a bulk transport (docs/sharding.md, "What crosses
// the store"): a round of a 8 MiB model on two shards completes with every process having moved
// a few KiB through the store, the candidate's keccak-256 chained shard to shard; the model stays
// on the shards, which serve it by range, and never reaches the coordinator without
// [validation].
#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "murmur/chain/keccak.hpp"
#include "murmur/client/shard_upload.hpp"
#include "shard_model.hpp"
#include "shard_set.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// The value of `series` in a /metrics text; -1 when absent.
double metric(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(ShardSetStore, TheCandidateNeverEntersTheStore) {
  TempDir dir("shard-store");
  ShardTask task;
  task.nodes = 3;
  task.parameters = std::uint64_t{1} << 21;  // 8 MiB of f32: parts of 4 MiB
  task.chunk_bytes = 1u << 20;
  task.upload_seconds = 120;
  task.shard_timeout_seconds = 60;
  ShardSetFixture set(dir.path(), 2, task, /*single=*/false);
  set.start_all();
  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto failures = upload_all_split(set, task, 2, ctx);
  for (std::size_t i = 0; i < task.nodes; ++i) ASSERT_EQ(failures[i], "") << "node " << i;

  // The round closes on both shards; the model, fetched by range from them, is the single
  // pass's bits.
  const ShardClients reader =
      connect_shards(set, set.shards(), client::derive_node_key(kShardKeySeed, 0), ctx);
  ASSERT_NO_FATAL_FAILURE(wait_closed(set, reader, 120s));
  const std::vector<float> got = client::fetch_split_model(reader.shards);
  const std::vector<float> want = single_pass_fedavg(set);
  ASSERT_EQ(got.size(), want.size());
  ASSERT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0);

  // The coordinator's record: the candidate is the keccak-256 of the whole model's bytes (the
  // hash a single murmurd computes), squeezed from the chained sponge.
  json coord = coordinator_rounds(set);
  ASSERT_EQ(coord.size(), 1u) << set.coordinator().process->log_text();
  ASSERT_EQ(coord[0]["outcome"], "aggregated") << coord.dump();
  const chain::Hash32 whole = chain::keccak256(
      {reinterpret_cast<const std::uint8_t*>(got.data()), got.size() * sizeof(float)});
  EXPECT_EQ(coord[0]["candidate"], chain::to_hex(whole)) << coord.dump();
  const json rec = json::parse(server::round_records_json(set.coordinator().data_dir, 1))[0];
  EXPECT_EQ(rec["outcome"], "accepted") << rec.dump();

  // What crossed the store: a few KiB per process against parts of 4 MiB. The bound is 1/128 of
  // a part; a round that sent a part through the store would exceed it 128 times over.
  const std::uint64_t part_bytes = task.parameters / 2 * 4;
  const std::uint64_t bound = part_bytes / 128;
  const std::uint64_t coord_bytes = coord[0]["store_bytes"]["get"].get<std::uint64_t>() +
                                    coord[0]["store_bytes"]["set"].get<std::uint64_t>();
  EXPECT_GT(coord[0]["store_bytes"]["get"].get<std::uint64_t>(), 0u) << coord.dump();
  EXPECT_LT(coord_bytes, bound) << coord.dump();
  for (std::size_t k = 0; k < 2; ++k) {
    const std::string text = http_get(set.shard(k).metrics_port, "/metrics");
    const double put = metric(text, "murmur_shard_store_bytes_total{op=\"set\"}");
    const double read = metric(text, "murmur_shard_store_bytes_total{op=\"get\"}");
    EXPECT_GT(put, 0) << text;  // it did publish through the store (its list, sponge, result)
    EXPECT_GE(read, 0) << text;
    EXPECT_LT(put + read, static_cast<double>(bound)) << text;
    std::cout << "[ shards   ] shard " << k << " moved " << put << " + " << read
              << " bytes through the store (set + get), its part " << part_bytes << " bytes\n";
  }
  std::cout << "[ shards   ] the coordinator read " << coord[0]["store_bytes"]["get"] << " and set "
            << coord[0]["store_bytes"]["set"] << " bytes of the store for the round\n";

  // The candidate never reached the coordinator (no [validation]: nothing to read it for).
  EXPECT_FALSE(std::filesystem::exists(set.coordinator().data_dir / "models" /
                                       (chain::to_hex(whole, false) + ".f32")));
}

}  // namespace
}  // namespace murmur::testing
