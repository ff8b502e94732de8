// `murmur node` against a murmurd shard set (docs/sharding.md, "A round"; cli/README.md): real
// node processes, given the coordinator as --endpoint and the shards as --shard in shard order,
// register with all of them, upload their update files split across the shards, read the
// candidate by range and vote at the coordinator, through two rounds until the task closes. The
// shards' model is then kernels::aggregate's FedAvg of each round's updates over the model
// before, bit for bit: what a single murmurd gives for the same updates. A node given the shards
// in the wrong order, or one shard too few, stops before uploading anything with a message that
// says so, and the round completes for the others (the same nodes, restarted with the right
// flags, among them).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "murmur/chain/consensus.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/client/shard_upload.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/testing/local_chain.hpp"
#include "shard_set.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::size_t kNodes = 5;
constexpr std::uint64_t kRounds = 2;
/// With the task's local seed (fixed by task 7 and the round) this draws four proposers and one
/// voter among the five nodes in each of the two rounds (round 1: node 3 votes, round 2: node 0;
/// asserted below, printed).
constexpr std::uint32_t kProposerBps = 9200;

using murmur::server::local_seed;  // murmurd's round seed without [chain]

/// Node i's n-th update (the n-th round it proposes in): node_update's values scaled to small
/// steps (node 0's first thirty times larger), so that the default vote rule (RMS step at most
/// 1) accepts every candidate.
std::vector<float> update_of(std::size_t i, std::size_t n, std::uint64_t parameters) {
  std::vector<float> v = node_update(i + 100 * n, parameters);
  for (float& x : v) x *= 0.01f;
  return v;
}

std::vector<std::string> node_argv(const ShardSetFixture& set, std::size_t i,
                                   const std::filesystem::path& dir,
                                   const std::vector<std::size_t>& shard_order) {
  const Member& c = const_cast<ShardSetFixture&>(set).coordinator();
  std::vector<std::string> argv{MURMUR_CLI,
                                "node",
                                "--endpoint",
                                c.endpoint,
                                "--register-endpoint",
                                c.register_endpoint,
                                "--server-key",
                                c.public_key,
                                "--chain-id",
                                std::to_string(set.task().chain_id),
                                "--contract",
                                set.task().contract,
                                "--seed",
                                std::to_string(kShardKeySeed),
                                "--index",
                                std::to_string(i),
                                "--curve-key-file",
                                (dir / ("node" + std::to_string(i) + ".curve")).string(),
                                "--updates",
                                (dir / ("updates" + std::to_string(i))).string(),
                                "--num-samples",
                                std::to_string(1 + i % 3),
                                "--poll-ms",
                                "100",
                                "--idle-timeout-s",
                                "90"};
  for (std::size_t k : shard_order) {
    Member& s = const_cast<ShardSetFixture&>(set).shard(k);
    argv.push_back("--shard");
    argv.push_back(s.endpoint + "," + s.register_endpoint + "," + s.public_key);
  }
  return argv;
}

TEST(ShardNode, MurmurNodeProcessesRunTwoRoundsOnAShardSetLikeASingleMurmurd) {
  TempDir dir("shard-node");
  ShardTask task;
  task.nodes = kNodes;
  task.parameters = 3 * 4096 + 1000;  // S = 2: parts of 8192 and 5096 coordinates
  task.rounds = kRounds;
  task.proposer_bps = kProposerBps;
  task.quorum = 1;
  task.vote_quorum = 1;
  task.upload_seconds = 120;  // uploads end once every proposer committed
  task.vote_seconds = 120;    // the vote ends once every voter voted
  ShardSetFixture set(dir.path(), 2, task, /*single=*/false);

  // The roles murmurd draws (the local seed of task 7): who proposes in which round.
  std::vector<chain::Address> address(kNodes);
  for (std::size_t i = 0; i < kNodes; ++i)
    address[i] = client::derive_node_key(kShardKeySeed, i).address();
  std::vector<std::vector<bool>> proposer(kRounds + 1, std::vector<bool>(kNodes));
  for (std::uint64_t r = 1; r <= kRounds; ++r) {
    std::size_t p = 0;
    std::string line;
    for (std::size_t i = 0; i < kNodes; ++i) {
      proposer[r][i] = chain::is_proposer(local_seed(task.task_id, r), address[i], kProposerBps);
      p += proposer[r][i];
      line += proposer[r][i] ? " P" : " V";
    }
    std::cout << "[ shards   ] round " << r << " roles of nodes 0-" << kNodes - 1 << ":" << line
              << "\n";
    ASSERT_GE(p, 2u) << "round " << r;
    ASSERT_LE(p, kNodes - 1) << "round " << r;
  }
  // Each node's update files, one per round it proposes in.
  std::vector<std::vector<std::vector<float>>> files(kNodes);
  for (std::size_t i = 0; i < kNodes; ++i) {
    const auto d = dir.path() / ("updates" + std::to_string(i));
    std::filesystem::create_directories(d);
    for (std::size_t n = 0; n < kRounds; ++n) {
      files[i].push_back(update_of(i, n, task.parameters));
      std::ofstream(d / (std::to_string(n) + ".f32"), std::ios::binary)
          .write(reinterpret_cast<const char*>(files[i].back().data()),
                 static_cast<std::streamsize>(task.parameters * 4));
    }
  }
  set.start_all();

  // Two nodes started wrongly: the shards swapped, and one shard left out. Each stops before
  // uploading, saying what is wrong.
  const std::size_t swapped = 1, short_one = 2;
  {
    chain::testing::ChildProcess bad_order(node_argv(set, swapped, dir.path(), {1, 0}));
    chain::testing::ChildProcess bad_count(node_argv(set, short_one, dir.path(), {0}));
    const auto o = bad_order.wait(60s);
    const auto c = bad_count.wait(60s);
    EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
    EXPECT_NE(o.err.find("the shards are given in the wrong order"), std::string::npos)
        << o.out << o.err;
    EXPECT_EQ(c.exit_code, 1) << c.out << c.err;
    EXPECT_NE(c.err.find("the 1 shard given holds 8192 = 8192 coordinates, the coordinator's model "
                         "13288: a shard is "
                         "missing"),
              std::string::npos)
        << c.out << c.err;
    std::cout << "[ shards   ] wrong order: " << o.err
              << "[ shards   ] one shard left out: " << c.err;
  }
  // Nothing reached the shards: no update is committed there.
  auto ctx = std::make_shared<zmq::context_t>(1);
  // The test reads as node 3 (only participants register), before node 3's process starts and
  // after it has ended: each registration binds the Curve key of the last one.
  const auto reader_key = client::derive_node_key(kShardKeySeed, 3);
  std::vector<std::unique_ptr<client::NodeClient>> own;
  std::vector<client::NodeClient*> shards;
  for (std::size_t k = 0; k < set.shards(); ++k) {
    own.push_back(std::make_unique<client::NodeClient>(set.options(set.shard(k), ctx)));
    own.back()->register_node(reader_key, task.chain_id);
    shards.push_back(own.back().get());
    const wire::Status st = own.back()->status();
    EXPECT_EQ(st.round(), 1u);
    EXPECT_EQ(st.committed_updates(), 0u) << "shard " << k;
  }

  // Every node, the two above included, with the shards in order: through both rounds.
  std::vector<std::unique_ptr<chain::testing::ChildProcess>> procs;
  for (std::size_t i = 0; i < kNodes; ++i)
    procs.push_back(
        std::make_unique<chain::testing::ChildProcess>(node_argv(set, i, dir.path(), {0, 1})));
  for (std::size_t i = 0; i < kNodes; ++i) {
    const auto r = procs[i]->wait(150s);
    std::size_t uploads = 0, votes = 0;
    for (std::uint64_t round = 1; round <= kRounds; ++round)
      (proposer[round][i] ? uploads : votes) += 1;
    const std::string report = "node " + address[i].to_checksum() + ": " + std::to_string(kRounds) +
                               " rounds, " + std::to_string(uploads) + " uploads, " +
                               std::to_string(votes) + " votes, task closed";
    EXPECT_EQ(r.exit_code, 0) << "node " << i << ":\n" << r.out << r.err;
    EXPECT_NE(r.out.find(report), std::string::npos)
        << "node " << i << " wants '" << report << "':\n"
        << r.out << r.err;
    if (HasFailure())
      std::cout << set.coordinator().process->log_text() << set.shard(0).process->log_text()
                << set.shard(1).process->log_text();
    ASSERT_FALSE(HasFailure());
  }

  // The shards' model: FedAvg of each round's updates (rows in address order, the sample
  // counts as weights) added to the model before, as a single murmurd computes it.
  auto backend = kernels::make_cpu_backend();
  std::vector<float> want = set.initial();
  std::vector<std::size_t> used(kNodes, 0);
  for (std::uint64_t round = 1; round <= kRounds; ++round) {
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < kNodes; ++i)
      if (proposer[round][i]) order.push_back(i);
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return address[a] < address[b]; });
    std::vector<float> rows;
    std::vector<double> counts;
    for (std::size_t i : order) {
      const auto& u = files[i][used[i]++];
      rows.insert(rows.end(), u.begin(), u.end());
      counts.push_back(static_cast<double>(1 + i % 3));
    }
    std::vector<float> step(task.parameters);
    kernels::aggregate(*backend, kernels::MemoryRowSource(rows, order.size(), task.parameters),
                       counts, kernels::parse_aggregation("fedavg"), step);
    for (std::size_t j = 0; j < want.size(); ++j) want[j] = want[j] + step[j];

    const json rec = json::parse(server::round_records_json(set.coordinator().data_dir, round))[0];
    EXPECT_EQ(rec["outcome"], "accepted") << rec.dump();
    EXPECT_EQ(rec["update_rows"].size(), order.size()) << rec.dump();
    EXPECT_EQ(rec["votes"], kNodes - order.size()) << rec.dump();
  }
  for (auto* shard : shards) shard->register_node(reader_key, task.chain_id);
  client::NodeClient coordinator(set.options(set.coordinator(), ctx));
  coordinator.register_node(reader_key, task.chain_id);
  const wire::RoundInfo closed = coordinator.round_info();
  ASSERT_EQ(closed.stage(), wire::STAGE_CLOSED);
  chain::Hash32 whole{};
  ASSERT_EQ(closed.global_model_hash().size(), 32u);
  std::memcpy(whole.data(), closed.global_model_hash().data(), 32);
  const std::vector<float> got = client::fetch_split_model(shards, whole, closed.round());
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0)
      << "the shards' model after " << kRounds << " rounds is not the FedAvg steps' bits";
  EXPECT_NE(std::memcmp(got.data(), set.initial().data(), want.size() * 4), 0);
}

TEST(ShardNode, AShardKeyThatStartsWithAnAtSignIsAKeyNotAFile) {
  // '@' is a Z85 character, so one murmurd key in 85 starts with it: such a key given inline to
  // --shard is the key itself, while @FILE still names a file. Shard #0's key below parses;
  // the command then stops at shard #1's missing file, before contacting anyone.
  TempDir dir("shard-at-key");
  const std::string at_key = "@qEQriz4-lihOdl(vNd0e*R8lvU-Eh(Vj5$UuSd=";
  ASSERT_EQ(at_key.size(), 40u);
  const std::string missing = (dir.path() / "missing.pub").string();
  chain::testing::ChildProcess node({MURMUR_CLI,
                                     "node",
                                     "--endpoint",
                                     "tcp://127.0.0.1:1",
                                     "--register-endpoint",
                                     "tcp://127.0.0.1:2",
                                     "--server-key",
                                     "m&=PGu9H>]ii454@1eH[B[gkp4b[TA&Fd9B1{c!m",
                                     "--seed",
                                     "7",
                                     "--index",
                                     "0",
                                     "--curve-key-file",
                                     (dir.path() / "node.curve").string(),
                                     "--updates",
                                     dir.path().string(),
                                     "--shard",
                                     "tcp://127.0.0.1:3,tcp://127.0.0.1:4," + at_key,
                                     "--shard",
                                     "tcp://127.0.0.1:5,tcp://127.0.0.1:6,@" + missing});
  const auto r = node.wait(60s);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err.find("--shard #0"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--shard #1 (shard 1)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot read the key file " + missing), std::string::npos) << r.err;
}

}  // namespace
}  // namespace murmur::testing
