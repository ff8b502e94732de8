// A shard set's coordinator SIGKILLed in the middle of a round's aggregation and restarted on its
// data directory (docs/sharding.md, "Faults"): its store, in the killed process, took the shards'
// committed lists, results and sponges with it; the restarted coordinator asks every shard for a
// fresh attempt, and the round completes with the model a single pass over the updates gives,
// every committed update in it.
#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "murmur/client/shard_upload.hpp"
#include "shard_model.hpp"
#include "shard_set.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// The kill lands once shard 0's log says the round's Gloo group formed: the coordinator cannot
// have decided (it needs both shards' results, which follow the aggregation of 4 x 2 MiB parts).
// When it lands before the coordinator noticed the uploads were over, the restarted one resumes
// in the uploads; either way its store is new and empty, and the verdict is the same; the test
// prints the record's attempts.
TEST(ShardSetFaults, CoordinatorKilledMidAggregationAndRestartedFinishesTheRound) {
  TempDir dir("shard-coord-restart");
  ShardTask task;
  task.nodes = 4;
  task.parameters = std::uint64_t{1} << 20;
  task.chunk_bytes = 1u << 20;
  task.upload_seconds = 120;
  task.shard_timeout_seconds = 30;
  ShardSetFixture set(dir.path(), 2, task, /*single=*/false);
  set.start_all();
  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto failures = upload_all_split(set, task, 2, ctx);
  for (std::size_t i = 0; i < task.nodes; ++i) ASSERT_EQ(failures[i], "") << "node " << i;

  ASSERT_TRUE(wait_for_log(*set.shard(0).process,
                           "round=1 shard 0: the Gloo group of attempt 0 formed", 120s))
      << set.shard(0).process->log_text();
  set.coordinator().process->kill_now();
  set.coordinator().process->start();
  ASSERT_TRUE(set.coordinator().process->wait_ready()) << set.coordinator().process->log_text();

  const ShardClients reader =
      connect_shards(set, set.shards(), client::derive_node_key(kShardKeySeed, 0), ctx);
  ASSERT_NO_FATAL_FAILURE(wait_closed(set, reader, 150s));
  const std::vector<float> got = client::fetch_split_model(reader.shards);
  const std::vector<float> want = single_pass_fedavg(set);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0)
      << "the model is the single pass over all 4 committed updates";

  // The coordinator's last record of round 1 (a killed coordinator may have written one before
  // it died): aggregated, both parts with the 4 updates, none left out.
  json coord = json::array();
  for (int i = 0; i < 300; ++i) {
    coord = json::parse(murmurd_rounds(set.coordinator().config));
    if (!coord.empty() && coord.back()["outcome"] == "aggregated") break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(coord.empty()) << set.coordinator().process->log_text();
  const json last = coord.back();
  EXPECT_EQ(last["round"], 1) << coord.dump();
  EXPECT_EQ(last["outcome"], "aggregated") << coord.dump();
  for (const auto& p : last["parts"]) {
    EXPECT_EQ(p["updates"], task.nodes) << coord.dump();
    EXPECT_TRUE(p["dropped"].empty()) << coord.dump();
  }
  const json rec = json::parse(server::round_records_json(set.coordinator().data_dir, 1))[0];
  EXPECT_EQ(rec["outcome"], "accepted") << rec.dump();
  for (std::size_t k = 0; k < 2; ++k) {
    const json srec = json::parse(server::round_records_json(set.shard(k).data_dir, 1))[0];
    EXPECT_EQ(srec["outcome"], "accepted") << srec.dump();
  }
  std::cout << "[ shards   ] coordinator killed and restarted: "
            << (last.value("restarted", false) ? "the restarted coordinator ran a fresh attempt"
                                               : "no restart recorded in the round")
            << ", " << last["attempts"] << " attempt(s), " << coord.size()
            << " record(s) of round 1\n";
}

}  // namespace
}  // namespace murmur::testing
