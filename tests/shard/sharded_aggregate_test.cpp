// S = 1, 2 and 4 shard processes (shard_worker) and a coordinator (this test, serving the
// TCPStore) on 127.0.0.1: every rule's concatenated aggregate against kernels::aggregate over
// the whole rows in this process. Unclipped weighted mean and the coordinate-wise rules
// (bucketing first included): the same bits. Rules whose decisions come from FP64 statistics
// summed by range (clipping norms, the Gram matrix): the same rows kept, and the aggregate within
// kShardTolerance. Then a shard SIGKILLed before the collective, and one killed before the
// group forms: the others exit with CollectiveError well within their timeout.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/shard/partition.hpp"
#include "murmur/shard/rendezvous.hpp"
#include "shard_rows.hpp"

extern char** environ;

namespace murmur::shard {
namespace {

using Clock = std::chrono::steady_clock;

/// Largest |sharded - whole| allowed, relative to the whole aggregate's largest magnitude, for
/// rules whose decisions come from range-summed FP64 statistics: those sums differ from one pass
/// over all columns by a few ulps of an FP64 sum (~1e-16 relative); a coefficient computed from
/// them (clipping factor, Weiszfeld weight, centered-clipping step) moves the aggregate by about
/// as much, amplified by the iterations. 1e-9 leaves a thousandfold margin and is still 10^4
/// below a float ulp of the aggregate, so a wrong row would be caught.
constexpr double kShardTolerance = 1e-9;

constexpr std::size_t kN = 13, kD = 40000;  // a ragged last range: 40000 = 9 x 4096 + 3136
constexpr std::uint64_t kSeed = 20261203;

struct Child {
  pid_t pid = -1;
  int status = -1;  // exit status once reaped, -1 before or when killed
  bool reaped = false;
};

Child spawn_worker(std::uint16_t port, std::size_t rank, std::size_t shards,
                   std::vector<std::string> extra) {
  std::vector<std::string> args = {
      MURMUR_SHARD_WORKER,  "--port",   std::to_string(port),   "--rank",
      std::to_string(rank), "--shards", std::to_string(shards), "--n",
      std::to_string(kN),   "--d",      std::to_string(kD),     "--seed",
      std::to_string(kSeed)};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  if (posix_spawn(&c.pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("cannot start " + args[0]);
  return c;
}

/// Reaps the children until all have exited or `deadline`; kills what is left after it.
void reap(std::vector<Child>& children, Clock::time_point deadline) {
  for (;;) {
    bool all = true;
    for (Child& c : children) {
      if (c.reaped) continue;
      int status = 0;
      if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.reaped = true;
        c.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      } else {
        all = false;
      }
    }
    if (all) return;
    if (Clock::now() > deadline) {
      for (Child& c : children)
        if (!c.reaped) {
          ::kill(c.pid, SIGKILL);
          ::waitpid(c.pid, nullptr, 0);
          c.reaped = true;
          ADD_FAILURE() << "shard process " << c.pid << " still running at the deadline: killed";
        }
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string text(const std::vector<std::uint8_t>& b) {
  return {b.begin(), b.end()};
}

/// Whether a rule's sharded aggregate must have the whole's bits (docs/sharding.md).
bool bit_identical(const std::string& rule) {
  return rule == "weighted-mean" || rule == "median" || rule.starts_with("trimmed-mean") ||
         rule.starts_with("meamed") || rule.starts_with("bucketing");
}

void run_and_compare(std::size_t shards, long nan_row = -1, std::size_t nan_col = 0) {
  auto store = Rendezvous::serve("127.0.0.1", 0, std::chrono::milliseconds(30000));
  const std::uint16_t port = store->port();
  std::vector<std::string> extra;
  if (nan_row >= 0)
    extra = {"--nan-row", std::to_string(nan_row), "--nan-col", std::to_string(nan_col)};
  std::vector<Child> children;
  for (std::size_t r = 0; r < shards; ++r) children.push_back(spawn_worker(port, r, shards, extra));
  reap(children, Clock::now() + std::chrono::seconds(50));
  for (std::size_t r = 0; r < shards; ++r) {
    std::string err = store->has("error/" + std::to_string(r))
                          ? text(store->get("error/" + std::to_string(r)))
                          : "";
    ASSERT_EQ(children[r].status, 0) << "shard " << r << " of " << shards << ": " << err;
  }

  const auto rows = test_rows::make(kN, kD, kSeed, nan_row, nan_col);
  auto backend = kernels::make_cpu_backend(1);
  const kernels::MemoryRowSource whole(rows.view());
  const auto ranges = partition(kD, shards);
  const auto rules = test_rows::rules();
  for (std::size_t k = 0; k < rules.size(); ++k) {
    SCOPED_TRACE(rules[k] + ", S = " + std::to_string(shards) + ", " + rows.describe());
    const kernels::AggregationSpec spec = kernels::parse_aggregation(rules[k]);
    std::vector<float> expected(kD);
    const kernels::AggregationReport report =
        kernels::aggregate(*backend, whole, rows.weights, spec, expected);
    std::vector<float> got(kD);
    for (std::size_t r = 0; r < shards; ++r) {
      const auto part = store->get("result/" + std::to_string(k) + "/" + std::to_string(r));
      ASSERT_EQ(part.size(), ranges[r].size() * sizeof(float));
      std::memcpy(got.data() + ranges[r].begin, part.data(), part.size());
    }
    // Every shard took the same decisions: the same verdicts and weights, bit for bit.
    const std::string shard0 = text(store->get("report/" + std::to_string(k) + "/0"));
    for (std::size_t r = 1; r < shards; ++r) {
      const std::string other =
          text(store->get("report/" + std::to_string(k) + "/" + std::to_string(r)));
      EXPECT_EQ(shard0.substr(0, shard0.find("reductions")),
                other.substr(0, other.find("reductions")))
          << "shard " << r << " decided otherwise than shard 0";
    }
    // Verdicts: the same rows kept and rejected as a single murmurd's.
    std::size_t pos = 0;
    for (std::size_t i = 0; i < kN; ++i) {
      const std::size_t eol = shard0.find('\n', pos);
      const int verdict = std::stoi(shard0.substr(pos, shard0.find(' ', pos) - pos));
      EXPECT_EQ(verdict, static_cast<int>(report.rows[i].verdict)) << "row " << i;
      pos = eol + 1;
    }
    double scale = 0, worst = 0;
    for (float x : expected) scale = std::max(scale, static_cast<double>(std::fabs(x)));
    ASSERT_GT(scale, 0.0) << "a zero aggregate proves nothing";
    for (std::size_t j = 0; j < kD; ++j)
      worst = std::max(worst, std::fabs(static_cast<double>(got[j]) - expected[j]));
    if (bit_identical(rules[k])) {
      EXPECT_EQ(std::memcmp(got.data(), expected.data(), kD * sizeof(float)), 0)
          << "largest difference " << worst;
    } else {
      EXPECT_LE(worst / scale, kShardTolerance);
    }
    std::printf("[ shard    ] S=%zu %-40s max |diff| / max |x| = %.3g\n", shards, rules[k].c_str(),
                worst / scale);
  }
}

TEST(ShardedAggregate, OneShard) {
  run_and_compare(1);
}
TEST(ShardedAggregate, TwoShards) {
  run_and_compare(2);
}
TEST(ShardedAggregate, FourShards) {
  run_and_compare(4);
}
// A NaN in row 5 at a coordinate of shard 2's range only: every shard drops row 5.
TEST(ShardedAggregate, FourShardsNonFiniteRowSeenByOneShard) {
  run_and_compare(4, 5, partition(kD, 4)[2].begin + 17);
}

/// S = 3; shard 1 is SIGKILLed at `when`; the others must exit 3 (CollectiveError) within
/// `bound` of the kill, their collective timeout being `timeout_ms`.
void kill_one(bool before_group) {
  constexpr long kTimeoutMs = 4000;
  auto store = Rendezvous::serve("127.0.0.1", 0, std::chrono::milliseconds(20000));
  const std::uint16_t port = store->port();
  std::vector<Child> children;
  for (std::size_t r = 0; r < 3; ++r) {
    std::vector<std::string> extra = {"--timeout-ms", std::to_string(kTimeoutMs)};
    if (r == 1) {
      extra.push_back(before_group ? "--pause-before-group-ms" : "--pause-before-collective-ms");
      extra.push_back("60000");
    }
    children.push_back(spawn_worker(port, r, 3, extra));
  }
  store->wait({before_group ? "started/1" : "joined/1"}, std::chrono::milliseconds(20000));
  if (!before_group) store->wait({"joined/0", "joined/2"}, std::chrono::milliseconds(20000));
  const auto killed = Clock::now();
  ASSERT_EQ(::kill(children[1].pid, SIGKILL), 0);
  reap(children, killed + std::chrono::milliseconds(3 * kTimeoutMs));
  const double seconds = std::chrono::duration<double>(Clock::now() - killed).count();
  for (std::size_t r : {0u, 2u}) {
    EXPECT_EQ(children[r].status, 3) << "shard " << r;
    ASSERT_TRUE(store->has("error/" + std::to_string(r)));
    const std::string err = text(store->get("error/" + std::to_string(r)));
    EXPECT_NE(err.find("CollectiveError"), std::string::npos) << err;
    EXPECT_NE(err.find("shard " + std::to_string(r) + " of 3"), std::string::npos) << err;
    std::printf("[ shard    ] shard %zu after the kill (%s): %s\n", r,
                before_group ? "before the group" : "before the collective", err.c_str());
  }
  std::printf("[ shard    ] both exited %.2f s after the SIGKILL (timeout %.1f s)\n", seconds,
              kTimeoutMs / 1000.0);
  EXPECT_LT(seconds, 3.0 * kTimeoutMs / 1000.0);
}

TEST(ShardFaults, KilledBeforeTheCollectiveFailsTheOthersTyped) {
  kill_one(false);
}
TEST(ShardFaults, KilledBeforeTheGroupFormsFailsTheOthersTyped) {
  kill_one(true);
}

// Shards that hold different rounds (shard 1 has 12 rows, shard 0 13): aggregate_shard's shape
// check refuses before any statistic is summed, on both.
TEST(ShardFaults, ShardsHoldingDifferentRoundsRefuseTyped) {
  auto store = Rendezvous::serve("127.0.0.1", 0, std::chrono::milliseconds(20000));
  std::vector<Child> children = {
      spawn_worker(store->port(), 0, 2, {"--timeout-ms", "4000"}),
      spawn_worker(store->port(), 1, 2, {"--timeout-ms", "4000", "--n", "12"})};
  reap(children, Clock::now() + std::chrono::seconds(40));
  for (std::size_t r : {0u, 1u}) {
    EXPECT_EQ(children[r].status, 3) << "shard " << r;
    ASSERT_TRUE(store->has("error/" + std::to_string(r)));
    const std::string err = text(store->get("error/" + std::to_string(r)));
    EXPECT_NE(err.find("the shards hold different rounds"), std::string::npos) << err;
    EXPECT_FALSE(store->has("result/0/" + std::to_string(r))) << "shard " << r;
  }
}

}  // namespace
}  // namespace murmur::shard
