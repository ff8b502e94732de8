// murmurd shard sets under faults (docs/sharding.md, "Faults"): a shard SIGKILLed in the middle
// of the uploads and restarted on its data directory finishes the round, from its spool, with
// the model a single pass over the updates gives; a shard that stays down ends the round with
// the reason in every record, and the next round starts.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <nlohmann/json.hpp>

#include "murmur/client/shard_upload.hpp"
#include "murmur/protocol/part_commitment.hpp"
#include "shard_model.hpp"
#include "shard_set.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

/// Part k of a node's split update read chunk by chunk (not lent), paced like a slow link, with
/// how far it has been read, so that the test can kill a shard while parts are mid-way.
class PacedPart final : public client::UpdateSource {
 public:
  PacedPart(std::span<const float> values, const protocol::SplitCommitment& c, std::uint32_t part,
            std::chrono::milliseconds pace, std::atomic<std::uint64_t>& read)
      : values_(values), hash_(c.hash), pace_(pace), read_(read) {
    protocol::to_wire(c, part, split_);
  }
  std::uint64_t parameters() const override { return values_.size(); }
  wire::DType dtype() const override { return wire::DTYPE_F32; }
  void read(std::uint64_t offset, std::span<std::uint8_t> out) const override {
    std::this_thread::sleep_for(pace_);
    std::memcpy(out.data(), reinterpret_cast<const std::uint8_t*>(values_.data()) + offset,
                out.size());
    for (auto seen = read_.load();
         offset + out.size() > seen && !read_.compare_exchange_weak(seen, offset + out.size());) {
    }
  }
  std::optional<chain::Hash32> digest() const override { return hash_; }
  const wire::SplitCommitment* split() const override { return &split_; }

 private:
  std::span<const float> values_;
  chain::Hash32 hash_;
  wire::SplitCommitment split_;
  std::chrono::milliseconds pace_;
  std::atomic<std::uint64_t>& read_;
};

std::vector<std::uint64_t> byte_bounds(std::vector<client::NodeClient*>& shards) {
  std::vector<std::uint64_t> b{0};
  for (auto* s : shards) b.push_back(b.back() + s->round_info().parameters() * 4);
  return b;
}

TEST(ShardSetFaults, ShardKilledMidUploadAndRestartedFinishesTheRound) {
  TempDir dir("shard-kill");
  ShardTask task;
  task.nodes = 4;
  task.parameters = 65536;  // a part of 128 KiB = 8 chunks of 16 KiB per shard
  // Shard 0, done uploading, waits this long for the restarted shard's list: the restart, the
  // nodes' backoff (up to 5 s) and the rest of the uploads on a loaded machine fit well inside.
  task.shard_timeout_seconds = 120;
  ShardSetFixture set(dir.path(), 2, task, /*single=*/false);
  set.start_all();
  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto domain = set.domain();

  std::vector<std::atomic<std::uint64_t>> read1(task.nodes);
  std::vector<std::atomic<bool>> done(task.nodes);
  std::vector<std::string> failures(task.nodes);
  std::vector<std::vector<client::UploadResult>> results(task.nodes);
  const std::uint64_t part1_bytes = 65536 / 2 * 4;
  std::vector<std::thread> nodes;
  for (std::size_t i = 0; i < task.nodes; ++i)
    nodes.emplace_back([&, i] {
      try {
        const auto key = client::derive_node_key(kShardKeySeed, i);
        std::vector<std::unique_ptr<client::NodeClient>> own;
        std::vector<client::NodeClient*> shards;
        for (std::size_t k = 0; k < 2; ++k) {
          auto o = set.options(set.shard(k), ctx);
          o.timeout = 1000ms;  // a killed shard shows as a lost reply within a second
          o.retries = 60;
          o.backoff = 50ms;
          own.push_back(std::make_unique<client::NodeClient>(o));
          own.back()->register_node(key, 31337);
          shards.push_back(own.back().get());
        }
        const auto info = shards[0]->round_info();
        const std::vector<float> update = node_update(i, task.parameters);
        const auto bounds = byte_bounds(shards);
        const auto bytes = std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(update.data()), update.size() * 4);
        const protocol::SplitCommitment c = protocol::commit_parts(bytes, bounds);
        std::atomic<std::uint64_t> read0{0};
        results[i].resize(2);
        std::thread part0([&] {
          const PacedPart p(std::span<const float>(update).subspan(0, bounds[1] / 4), c, 0, 5ms,
                            read0);
          results[i][0] =
              shards[0]->upload_update(info.task_id(), info.round(), p, 1 + i % 3, {&key, domain});
        });
        const PacedPart p(std::span<const float>(update).subspan(bounds[1] / 4), c, 1, 40ms,
                          read1[i]);
        results[i][1] =
            shards[1]->upload_update(info.task_id(), info.round(), p, 1 + i % 3, {&key, domain});
        part0.join();
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
      done[i] = true;
    });

  // The kill: once some node still uploading has had 5 of the 8 chunks of its part 1 read (the
  // fifth needed a credit back, so shard 1 acknowledged a synced chunk, and 3 chunks are left),
  // shard 1 is SIGKILLed, and restarted on its data directory.
  const auto give_up = Clock::now() + 60s;
  bool killed = false;
  std::size_t trigger = 0;
  while (!killed && Clock::now() < give_up) {
    for (std::size_t i = 0; i < task.nodes && !killed; ++i)
      if (!done[i] && read1[i].load() >= part1_bytes * 5 / 8 && read1[i].load() < part1_bytes) {
        set.shard(1).process->kill_now();
        killed = true;
        trigger = i;
      }
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(killed) << "no part-1 upload was seen mid-way within 60 s";
  // The coordinator reports the shard down (its heartbeat stood still) before it comes back.
  const auto until = Clock::now() + 30s;
  while (set.coordinator().process->log_text().find("shard 1 silent") == std::string::npos &&
         Clock::now() < until)
    std::this_thread::sleep_for(20ms);
  ASSERT_NE(set.coordinator().process->log_text().find("shard 1 silent"), std::string::npos)
      << set.coordinator().process->log_text();
  set.shard(1).process->start();
  ASSERT_TRUE(set.shard(1).process->wait_ready());
  for (auto& t : nodes) t.join();

  std::size_t resumed = 0;
  for (std::size_t i = 0; i < task.nodes; ++i) {
    ASSERT_EQ(failures[i], "") << "node " << i;
    EXPECT_EQ(results[i][1].acknowledged_then_lost, 0u) << "node " << i;
    for (std::size_t k = 1; k < results[i][1].resume_offsets.size(); ++k)
      resumed += results[i][1].resume_offsets[k] > 0 &&
                 results[i][1].resume_offsets[k] < results[i][1].total_bytes;
  }
  std::cout << "[ shards   ] " << resumed << " part-1 uploads resumed part-way after the kill\n";
  // The node whose progress triggered the kill had not sent its part's last chunk: its upload
  // began again against the restarted shard.
  EXPECT_GE(results[trigger][1].restarts, 1u) << "node " << trigger;

  // Both shards close the round; the model is the single pass's, bit for bit (FedAvg).
  const ShardClients reader =
      connect_shards(set, set.shards(), client::derive_node_key(kShardKeySeed, 0), ctx);
  ASSERT_NO_FATAL_FAILURE(wait_closed(set, reader, 120s));
  const std::vector<float> got = client::fetch_split_model(reader.shards);

  const std::vector<float> want = single_pass_fedavg(set);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0)
      << "the restarted shard set's model is not the aggregate of the 4 updates";

  // The coordinator's record: the round aggregated, shard 1's outage in it, back again.
  json coord = coordinator_rounds(set);
  ASSERT_EQ(coord.size(), 1u) << set.coordinator().process->log_text();
  EXPECT_EQ(coord[0]["outcome"], "aggregated") << coord.dump();
  bool reported = false;
  for (const auto& o : coord[0]["outages"])
    reported = reported || (o["shard"] == 1 && o.contains("back_unix_ms"));
  EXPECT_TRUE(reported) << coord.dump();
}

TEST(ShardSetFaults, ShardThatStaysDownEndsTheRoundWithItsReason) {
  TempDir dir("shard-down");
  ShardTask task;
  task.nodes = 3;
  task.parameters = 16384;
  task.rounds = 2;
  task.shard_timeout_seconds = 3;
  ShardSetFixture set(dir.path(), 2, task, /*single=*/false);
  set.start_all();
  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto domain = set.domain();
  const std::uint64_t part0 = 8192;  // partition(16384, 2)[0]: 2 units of 4096

  // Shard 1 goes down before any upload and stays down; every node uploads its part 0.
  set.shard(1).process->kill_now();
  for (std::size_t i = 0; i < task.nodes; ++i) {
    const auto key = client::derive_node_key(kShardKeySeed, i);
    client::NodeClient c(set.options(set.shard(0), ctx));
    c.register_node(key, 31337);
    const auto info = c.round_info();
    ASSERT_EQ(info.parameters(), part0);
    const std::vector<float> update = node_update(i, task.parameters);
    const std::uint64_t bounds[] = {0, part0 * 4, task.parameters * 4};
    const auto c2 = protocol::commit_parts(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(update.data()),
                                      update.size() * 4),
        bounds);
    std::atomic<std::uint64_t> read{0};
    const PacedPart p(std::span<const float>(update).subspan(0, part0), c2, 0, 0ms, read);
    c.upload_update(info.task_id(), info.round(), p, 1, {&key, domain});
  }

  // Shard 0 waits timeout_seconds for shard 1's list, fails the round with the reason, and
  // starts round 2.
  client::NodeClient c(set.options(set.shard(0), ctx));
  c.register_node(client::derive_node_key(kShardKeySeed, 0), 31337);
  const auto info = wait_round(c, [](const wire::RoundInfo& i) { return i.round() == 2; });
  ASSERT_EQ(info.round(), 2u) << set.shard(0).process->log_text();
  EXPECT_EQ(info.stage(), wire::STAGE_UPLOADING);
  const json rec = json::parse(server::round_records_json(set.shard(0).data_dir, 1))[0];
  EXPECT_EQ(rec["outcome"], "failed") << rec.dump();
  EXPECT_NE(rec["reason"].get<std::string>().find("shard 1 of 2 did not report"), std::string::npos)
      << rec.dump();

  // The coordinator records the round with both parts: shard 0's error, shard 1 silent.
  json coord = coordinator_rounds(set);
  ASSERT_EQ(coord.size(), 1u) << set.coordinator().process->log_text();
  EXPECT_EQ(coord[0]["outcome"], "failed");
  EXPECT_NE(coord[0]["reason"].get<std::string>().find("shard 1 of 2 did not report"),
            std::string::npos)
      << coord.dump();
  EXPECT_NE(coord[0]["parts"][1]["error"].get<std::string>().find("no result"), std::string::npos)
      << coord.dump();
}

}  // namespace
}  // namespace murmur::testing

namespace murmur::testing {
namespace {

// A shard SIGKILLed as soon as its log says the round's Gloo group formed, and restarted on its
// data directory: the round completes, with the model a single pass over the updates gives.
// When the kill lands inside the aggregation (the window is tens of milliseconds of passes over
// 4 x 8 MiB parts), the other shard's collective fails, the restarted shard asks for a fresh
// group, and the coordinator's record shows attempt 0's error and attempt 1 aggregating; when
// the shard had already published its part, the round completes on attempt 0. The verdict is
// the same either way; the test prints which path ran.
TEST(ShardSetFaults, ShardKilledAfterTheGroupFormedIsRetriedWithAFreshGroup) {
  TempDir dir("shard-regroup");
  ShardTask task;
  task.nodes = 4;
  task.parameters = std::uint64_t{1} << 22;
  task.shard_timeout_seconds = 30;
  task.chunk_bytes = 1u << 20;
  task.upload_seconds = 120;
  ShardSetFixture set(dir.path(), 2, task, /*single=*/false);
  set.start_all();
  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto failures = upload_all_split(set, task, 2, ctx);
  for (std::size_t i = 0; i < task.nodes; ++i) ASSERT_EQ(failures[i], "") << "node " << i;

  ASSERT_TRUE(wait_for_log(*set.shard(1).process,
                           "round=1 shard 1: the Gloo group of attempt 0 formed", 120s))
      << set.shard(1).process->log_text();
  set.shard(1).process->kill_now();
  set.shard(1).process->start();
  ASSERT_TRUE(set.shard(1).process->wait_ready());

  const ShardClients reader =
      connect_shards(set, set.shards(), client::derive_node_key(kShardKeySeed, 0), ctx);
  ASSERT_NO_FATAL_FAILURE(wait_closed(set, reader, 120s));
  const std::vector<float> got = client::fetch_split_model(reader.shards);
  const std::vector<float> want = single_pass_fedavg(set);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0);

  json coord = coordinator_rounds(set);
  ASSERT_EQ(coord.size(), 1u) << set.coordinator().process->log_text();
  EXPECT_EQ(coord[0]["outcome"], "aggregated") << coord.dump();
  const auto attempts = coord[0]["attempts"].get<std::uint64_t>();
  EXPECT_EQ(coord[0]["retries"].size(), attempts - 1) << coord.dump();
  for (const auto& r : coord[0]["retries"])
    EXPECT_NE(r["error"].get<std::string>(), "") << coord.dump();
  const json rec = json::parse(server::round_records_json(set.coordinator().data_dir, 1))[0];
  EXPECT_EQ(rec["outcome"], "accepted") << rec.dump();
  std::cout << "[ shards   ] the kill landed "
            << (attempts > 1 ? "inside the aggregation: " + std::to_string(attempts) +
                                   " attempts, the first failed with: " +
                                   coord[0]["retries"][0]["error"].get<std::string>()
                             : std::string("after shard 1 published its part: 1 attempt"))
            << "\n";
}

}  // namespace
}  // namespace murmur::testing
