// murmurd as a child process, killed with SIGKILL at seeded moments while 8 nodes upload and
// restarted on the same data directory each time. Afterwards every committed update is in the
// spool bit for bit, no node ever saw an acknowledged byte lost (a restart never resumes below
// an acknowledged durable_offset), partial uploads resumed mid-way, and the round's model is the
// kernel's aggregate of exactly those updates.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "murmur/chain/keccak.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/protocol/integrity.hpp"
#include "network.hpp"
#include "spool.hpp"        // server/src: the test reads the spool murmurd left behind
#include "state_store.hpp"  //   and its state.db

extern char** environ;

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kNodes = 8;
constexpr std::uint64_t kParameters = 1u << 20;  // 4 MiB per update, 16 chunks of 256 KiB
constexpr std::uint64_t kBytes = kParameters * 4;

/// murmurd --config FILE as a child, output appended to a log; SIGKILLed on destruction.
class Murmurd {
 public:
  Murmurd(std::filesystem::path config, std::filesystem::path log)
      : config_(std::move(config)), log_(std::move(log)) {}
  ~Murmurd() { kill_now(); }
  void start() {
    serving_before_ = times_serving();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const std::string bin = MURMURD, flag = "--config", cfg = config_.string();
    char* argv[] = {const_cast<char*>(bin.c_str()), const_cast<char*>(flag.c_str()),
                    const_cast<char*>(cfg.c_str()), nullptr};
    const int rc = posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + bin + ": " + std::strerror(rc));
  }
  /// Waits (bounded) until the instance last started logs that it serves: startup (loading
  /// libtorch, opening the spool) takes a good part of a second, and a kill before it would
  /// interrupt no upload.
  void wait_serving(std::chrono::milliseconds limit = std::chrono::seconds(20)) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (times_serving() <= serving_before_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  /// SIGTERM and wait (bounded) for a clean exit.
  bool stop() {
    if (pid_ <= 0) return true;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
      }
      std::this_thread::sleep_for(25ms);
    }
    kill_now();
    return false;
  }

 private:
  std::size_t times_serving() const {
    std::ifstream in(log_);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);)
      n += line.find("murmurd serving") != std::string::npos;
    return n;
  }
  std::size_t serving_before_ = 0;
  std::filesystem::path config_, log_;
  pid_t pid_ = -1;
};

/// A node's synthetic update that records how far it has been read (= sent), paced at 40 ms a
/// chunk like a node on a slow link, so that an upload spans several kills (murmurd on
/// loopback would otherwise take in all eight between two of them).
class WatchedUpdate final : public client::UpdateSource {
 public:
  WatchedUpdate(std::uint64_t index, std::atomic<std::uint64_t>& sent)
      : inner_(kKeySeed, index, kParameters, wire::DTYPE_F32), sent_(sent) {}
  std::uint64_t parameters() const override { return inner_.parameters(); }
  wire::DType dtype() const override { return inner_.dtype(); }
  void read(std::uint64_t offset, std::span<std::uint8_t> out) const override {
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    inner_.read(offset, out);
    for (auto seen = sent_.load();
         offset + out.size() > seen && !sent_.compare_exchange_weak(seen, offset + out.size());) {
    }
  }

 private:
  client::SyntheticUpdate inner_;
  std::atomic<std::uint64_t>& sent_;
};

TEST(Crash, KillNineDuringUploadsLosesNothingAndUploadsResume) {
  // The kill schedule is drawn from a seed (MURMUR_CRASH_SEED to replay one; printed either way).
  const char* seed_env = std::getenv("MURMUR_CRASH_SEED");
  const unsigned seed =
      seed_env != nullptr ? static_cast<unsigned>(std::stoul(seed_env)) : 20261202u;
  std::cout << "[ crash    ] kill schedule seed " << seed << " (MURMUR_CRASH_SEED=" << seed
            << " replays it)\n";
  SCOPED_TRACE("kill schedule seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  // Kill k happens once some node that is still uploading has sent a fraction thresholds[k] of
  // its update (drawn in [0.4, 0.8], increasing). Such a node has at least 3 chunks (120 ms of
  // pacing) left and needs murmurd to commit, so every kill lands mid-upload, whatever the
  // schedule and the machine's speed: each threshold is crossed by some node before it ends.
  constexpr int kKills = 4;
  std::vector<double> thresholds(kKills);
  for (double& t : thresholds) t = std::uniform_real_distribution<double>(0.4, 0.8)(rng);
  std::sort(thresholds.begin(), thresholds.end());

  TempDir dir("murmur-crash");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.chunk_bytes = 256u << 10;
  write_murmurd_config(cfg, dir.path() / "murmurd.toml");
  char public_key[41] = {};
  ASSERT_EQ(zmq_curve_public(public_key, cfg.curve_secret_key.c_str()), 0);
  Murmurd murmurd(dir.path() / "murmurd.toml", dir.path() / "murmurd.log");
  murmurd.start();

  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  auto context = std::make_shared<zmq::context_t>(1);

  std::array<std::atomic<std::uint64_t>, kNodes> sent{};
  std::array<std::atomic<bool>, kNodes> done{};
  std::vector<client::UploadResult> results(kNodes);
  std::vector<std::string> failures(kNodes);
  std::vector<std::thread> nodes;
  for (std::size_t i = 0; i < kNodes; ++i)
    nodes.emplace_back([&, i] {
      try {
        auto options = client_options(cfg, public_key, context);
        options.timeout = 1000ms;  // a killed server shows as a lost reply within a second
        options.retries = 30;
        options.backoff = 50ms;
        client::NodeClient c(options);
        const auto key = client::derive_node_key(kKeySeed, i);
        c.register_node(key, cfg.chain_id);
        const auto info = c.round_info();
        const WatchedUpdate update(i, sent[i]);
        results[i] =
            c.upload_update(info.task_id(), info.round(), update, 1 + i % 3, {&key, domain});
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
      done[i] = true;
    });

  auto all_done = [&] {
    return std::all_of(done.begin(), done.end(), [](auto& d) { return d.load(); });
  };
  auto some_uploading_past = [&](double fraction) {
    for (std::size_t i = 0; i < kNodes; ++i)
      if (!done[i] && sent[i].load() >= static_cast<std::uint64_t>(fraction * kBytes)) return true;
    return false;
  };
  const auto give_up = Clock::now() + 60s;
  int kills = 0;
  for (const double threshold : thresholds) {
    while (!all_done() && Clock::now() < give_up && !some_uploading_past(threshold))
      std::this_thread::sleep_for(1ms);
    if (all_done() || Clock::now() >= give_up) break;
    murmurd.kill_now();
    ++kills;
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 150)(rng)));
    murmurd.start();
    murmurd.wait_serving();
  }
  for (auto& t : nodes) t.join();
  std::cout << "[ crash    ] " << kills << " SIGKILLs during the uploads\n";
  EXPECT_EQ(kills, kKills) << "the uploads ended (or 60 s passed) before every kill";

  std::size_t resumed_mid_way = 0;
  for (std::size_t i = 0; i < kNodes; ++i) {
    ASSERT_EQ(failures[i], "") << "node " << i;
    const auto& r = results[i];
    EXPECT_EQ(r.acknowledged_then_lost, 0u)
        << "node " << i << ": murmurd resumed below an acknowledged offset";
    for (std::size_t k = 1; k < r.resume_offsets.size(); ++k)
      resumed_mid_way += r.resume_offsets[k] > 0 && r.resume_offsets[k] < r.total_bytes;
  }
  std::uint32_t restarts = 0;
  for (const auto& r : results) restarts += r.restarts;
  std::cout << "[ crash    ] " << restarts << " upload restarts, " << resumed_mid_way
            << " resumed part-way from the server's durable offset\n";
  EXPECT_GE(resumed_mid_way, 1u)
      << "no upload was interrupted part-way: the kills missed every transfer";

  // The round closes by itself once all 8 are committed; then murmurd exits cleanly.
  {
    auto options = client_options(cfg, public_key, context);
    options.timeout = 1000ms;
    options.retries = 20;
    client::NodeClient watcher(options);
    watcher.register_node(client::derive_node_key(kKeySeed, 0), cfg.chain_id);
    wire::RoundInfo info = watcher.round_info();
    for (int i = 0; i < 300 && info.stage() != wire::STAGE_CLOSED; ++i) {
      std::this_thread::sleep_for(50ms);
      info = watcher.round_info();
    }
    ASSERT_EQ(info.stage(), wire::STAGE_CLOSED);
    chain::Hash32 model_hash{};
    std::memcpy(model_hash.data(), info.global_model_hash().data(), 32);
    const auto model = watcher.fetch_model(model_hash);

    const auto order = nodes_by_address(kNodes);
    std::vector<double> counts;
    for (auto i : order) counts.push_back(static_cast<double>(1 + i % 3));
    auto backend = kernels::make_cpu_backend();
    std::vector<float> expected(kParameters);
    kernels::aggregate(*backend, SyntheticRows(order, kParameters), counts, cfg.aggregation,
                       expected);
    for (auto& v : expected) v = 0.0f + v;
    EXPECT_EQ(std::memcmp(model.data(), expected.data(), expected.size() * 4), 0)
        << "the round's model is not the aggregate of the 8 updates";
  }
  EXPECT_TRUE(murmurd.stop());

  // The spool: exactly the 8 updates, each bit for bit what its node sent.
  server::StateStore store(cfg.data_dir);
  server::Spool spool(cfg.data_dir);
  const auto committed = store.committed(1);
  ASSERT_EQ(committed.size(), kNodes);
  std::vector<std::uint8_t> want(kBytes), got;
  for (std::size_t i = 0; i < kNodes; ++i) {
    const auto address = client::derive_node_key(kKeySeed, i).address();
    const auto u = store.upload(1, address);
    ASSERT_TRUE(u && u->state == server::UploadState::kCommitted) << "node " << i;
    EXPECT_EQ(chain::to_hex(u->update_hash), chain::to_hex(results[i].update_hash)) << "node " << i;
    client::SyntheticUpdate(kKeySeed, i, kParameters, wire::DTYPE_F32).read(0, want);
    std::ifstream in(spool.file(*u), std::ios::binary);
    got.assign(std::istreambuf_iterator<char>(in), {});
    ASSERT_EQ(got.size(), want.size()) << "node " << i;
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size()), 0)
        << "node " << i << "'s spooled bytes differ";
    EXPECT_EQ(chain::to_hex(protocol::update_hash(got)), chain::to_hex(results[i].update_hash))
        << "node " << i;
  }
}

}  // namespace
}  // namespace murmur::testing
