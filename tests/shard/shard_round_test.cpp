// murmurd's shard mode end to end (docs/sharding.md): a coordinator and S = 1, 2, 4 shard
// processes on loopback take a real round from nodes that split each update at the shards'
// boundaries (client::upload_split); the model the shards hold, fetched by range
// (client::fetch_split_model), is compared with a single murmurd's, run beside them on the same
// uploads. Plus the faults: a shard SIGKILLed mid-upload and restarted finishes the round; a
// shard that stays down ends the round with its reason and the next round starts.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "murmur/client/shard_upload.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/protocol/part_commitment.hpp"
#include "shard_model.hpp"
#include "shard_set.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

/// Polls `client`'s RoundInfo until `pred` holds (bounded); returns the last one.
struct Case {
  std::size_t shards;
  std::string rule;
  bool exact;        ///< bit-identical to the single murmurd (weighted mean, coordinate-wise rules)
  std::size_t kept;  ///< rows the rule keeps (the single murmurd's record says so too)
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << "S=" << c.shards << " " << c.rule;
}

std::string case_name(const ::testing::TestParamInfo<Case>& p) {
  std::string rule;
  for (char c : p.param.rule) rule += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return "S" + std::to_string(p.param.shards) + "_" + rule;
}

class ShardRound : public ::testing::TestWithParam<Case> {};

TEST_P(ShardRound, MatchesASingleMurmurd) {
  const Case& tc = GetParam();
  TempDir dir("shard-round");
  ShardTask task;
  task.rule = tc.rule;
  ShardSetFixture set(dir.path(), tc.shards, task, /*single=*/true);
  set.start_all();
  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto domain = set.domain();

  std::vector<std::string> failures(task.nodes);
  std::vector<chain::Hash32> split_hashes(task.nodes), single_hashes(task.nodes);
  std::vector<std::thread> nodes;
  for (std::size_t i = 0; i < task.nodes; ++i)
    nodes.emplace_back([&, i] {
      try {
        const auto key = client::derive_node_key(kShardKeySeed, i);
        const ShardClients c = connect_shards(set, set.shards(), key, ctx);
        client::NodeClient single(set.options(*set.single(), ctx));
        single.register_node(key, 31337);
        const auto info = single.round_info();
        const std::vector<float> update = node_update(i, task.parameters);
        const std::uint64_t samples = 1 + i % 3;
        split_hashes[i] = client::upload_split(c.shards, info.task_id(), info.round(), update,
                                               samples, {&key, domain})
                              .update_hash;
        single_hashes[i] = single
                               .upload_update(info.task_id(), info.round(), update, wire::DTYPE_F32,
                                              samples, {&key, domain})
                               .update_hash;
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  for (auto& t : nodes) t.join();
  for (std::size_t i = 0; i < task.nodes; ++i) {
    ASSERT_EQ(failures[i], "") << "node " << i;
    // The signed hash of a split upload is the single murmurd's (b3sum of the whole update).
    EXPECT_EQ(chain::to_hex(split_hashes[i]), chain::to_hex(single_hashes[i])) << "node " << i;
  }

  // Both close the round (rounds = 1): the accepted candidate becomes the global model.
  const ShardClients reader =
      connect_shards(set, set.shards(), client::derive_node_key(kShardKeySeed, 0), ctx);
  ASSERT_NO_FATAL_FAILURE(wait_closed(set, reader, 120s));
  const std::vector<float> got = client::fetch_split_model(reader.shards);
  const auto key = client::derive_node_key(kShardKeySeed, 0);
  client::NodeClient single(set.options(*set.single(), ctx));
  single.register_node(key, 31337);
  const auto info =
      wait_round(single, [](const wire::RoundInfo& i) { return i.stage() == wire::STAGE_CLOSED; });
  ASSERT_EQ(info.stage(), wire::STAGE_CLOSED);
  chain::Hash32 single_hash{};
  std::memcpy(single_hash.data(), info.global_model_hash().data(), 32);
  const std::vector<float> want = single.fetch_model(single_hash);
  ASSERT_EQ(got.size(), want.size());
  // Not the initial model: the round changed it.
  ASSERT_NE(std::memcmp(want.data(), set.initial().data(), want.size() * 4), 0);

  // The rows' verdicts: the shards' records and the single murmurd's, row by row.
  const json single_rec = json::parse(server::round_records_json(set.single()->data_dir, 1))[0];
  for (std::size_t k = 0; k < set.shards(); ++k) {
    const json rec = json::parse(server::round_records_json(set.shard(k).data_dir, 1))[0];
    EXPECT_EQ(rec["outcome"], "accepted") << rec.dump();
    ASSERT_EQ(rec["update_rows"].size(), single_rec["update_rows"].size());
    for (std::size_t r = 0; r < rec["update_rows"].size(); ++r) {
      EXPECT_EQ(rec["update_rows"][r]["address"], single_rec["update_rows"][r]["address"]);
      EXPECT_EQ(rec["update_rows"][r]["verdict"], single_rec["update_rows"][r]["verdict"])
          << "shard " << k << " row " << r;
    }
  }
  std::size_t kept = 0;
  for (const auto& row : single_rec["update_rows"]) kept += row["verdict"] == "kept";
  std::cout << "[ shards   ] S=" << tc.shards << " " << tc.rule << ": " << kept << " of "
            << task.nodes << " rows kept\n";
  EXPECT_EQ(kept, tc.kept) << single_rec.dump();

  if (tc.exact) {
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0)
        << "the shards' model is not the single murmurd's bit for bit";
  } else {
    // Gram-based rules: the same rows (above), the model within kShardTolerance of its largest
    // magnitude (shard/README.md: the FP64 statistics are summed by range).
    double scale = 0, diff = 0;
    for (std::size_t j = 0; j < want.size(); ++j) {
      scale = std::max(scale, std::abs(static_cast<double>(want[j])));
      diff = std::max(diff, std::abs(static_cast<double>(got[j]) - want[j]));
    }
    std::cout << "[ shards   ] largest difference " << diff << " of " << scale << "\n";
    EXPECT_LE(diff, 1e-9 * scale);
  }

  // The coordinator's record: every shard's part, their candidates those the shards serve.
  json coord;
  for (int i = 0; i < 200; ++i) {
    coord = json::parse(murmurd_rounds(set.coordinator().config));
    if (!coord.empty()) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(coord.size(), 1u) << set.coordinator().process->log_text();
  EXPECT_EQ(coord[0]["outcome"], "aggregated") << coord.dump();
  ASSERT_EQ(coord[0]["parts"].size(), tc.shards);
  std::uint64_t at = 0;
  for (std::size_t k = 0; k < tc.shards; ++k) {
    const json& part = coord[0]["parts"][k];
    EXPECT_EQ(part["shard"], k);
    EXPECT_EQ(part["range"][0], at);
    at = part["range"][1].get<std::uint64_t>();
    EXPECT_EQ(part["updates"], task.nodes);
    EXPECT_EQ(part["error"], "");
    const std::string served = reader.shards[k]->round_info().global_model_hash();
    EXPECT_EQ(part["candidate"].get<std::string>(),
              chain::to_hex(std::span<const std::uint8_t>(
                  reinterpret_cast<const std::uint8_t*>(served.data()), served.size())))
        << part.dump();
  }
  EXPECT_EQ(at, task.parameters);

  // /metrics per shard: its place, its range and the round it aggregated.
  for (std::size_t k = 0; k < tc.shards; ++k) {
    const std::string text = http_get(set.shard(k).metrics_port, "/metrics");
    const json& part = coord[0]["parts"][k];
    EXPECT_NE(text.find("murmur_shard_info{index=\"" + std::to_string(k) + "\",count=\"" +
                        std::to_string(tc.shards) + "\",range_begin=\"" +
                        std::to_string(part["range"][0].get<std::uint64_t>()) + "\",range_end=\"" +
                        std::to_string(part["range"][1].get<std::uint64_t>()) + "\"} 1"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("murmur_shard_rounds_total{result=\"aggregated\"} 1\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("murmur_shard_last_updates " + std::to_string(task.nodes) + "\n"),
              std::string::npos)
        << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, ShardRound,
                         ::testing::Values(Case{1, "fedavg", true, 6}, Case{2, "fedavg", true, 6},
                                           Case{4, "fedavg", true, 6}, Case{2, "median", true, 6},
                                           Case{4, "trimmed-mean(beta=0.2)", true, 6},
                                           Case{4, "multi-krum(f=1, m=3)", false, 3}),
                         case_name);

}  // namespace
}  // namespace murmur::testing
