// murmurd's faults are visible, not only logged (docs/reliability.md, "Faults"): each test
// injects a fault with a real cause and reads it back the way an operator would, over the wire
// (/metrics over HTTP, nodes over CurveZMQ) and in the round record (`murmurd rounds`,
// StateView).
//  - state.db writes failing: murmurd as a child process whose file-size limit (RLIMIT_FSIZE,
//    lowered from outside with prlimit(2), as a full quota or disk would) refuses every write;
//    the round's deadline passes and the round engine cannot record its end. The failures are
//    counted in /metrics while the round stalls, logged once plus summaries, and once the fault
//    has outlasted server.fault_limit_ms the round ends as failed with the fault as its reason,
//    recorded as soon as state.db takes writes again; the committed update is still there.
//  - validation failing: the task's TorchScript model returns 5 logits for a 10-class
//    validation set; the round goes on to its vote and its record says why it has no figures.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/script.h>
#include <unistd.h>
#include <zmq.h>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "murmur/chain/sqlite.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/update_source.hpp"
#include "murmur/server/server.hpp"
#include "murmur/server/state_view.hpp"
#include "network.hpp"
#include "round_record.hpp"
#include "server/metrics_page.hpp"

extern char** environ;

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// murmurd --config FILE as a child whose output is read through a pipe (a file would be
/// refused by the same file-size limit), SIGKILLed on destruction.
class MurmurdChild {
 public:
  explicit MurmurdChild(const std::filesystem::path& config) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    // SIGXFSZ's default action kills a process that writes past its file-size limit; ignored,
    // the write fails with EFBIG as it would on a full quota. Ignored dispositions survive exec.
    ::signal(SIGXFSZ, SIG_IGN);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    const std::string bin = MURMURD, flag = "--config", cfg = config.string();
    char* argv[] = {const_cast<char*>(bin.c_str()), const_cast<char*>(flag.c_str()),
                    const_cast<char*>(cfg.c_str()), nullptr};
    const int rc = posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) throw std::runtime_error("cannot start " + bin + ": " + std::strerror(rc));
    reader_ = std::thread([this, fd = fds[0]] {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
        std::lock_guard lock(mutex_);
        log_.append(buf, static_cast<std::size_t>(n));
      }
      ::close(fd);
    });
  }
  ~MurmurdChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
  }
  pid_t pid() const { return pid_; }
  std::string log() const {
    std::lock_guard lock(mutex_);
    return log_;
  }
  bool wait_for_log(const std::string& needle, std::chrono::seconds limit) const {
    for (const auto until = Clock::now() + limit; Clock::now() < until;
         std::this_thread::sleep_for(20ms))
      if (log().find(needle) != std::string::npos) return true;
    return false;
  }
  /// Lowers (or restores) the child's soft file-size limit from outside, as a quota would.
  void set_file_size_limit(rlim_t soft) {
    rlimit now{};
    ASSERT_EQ(::prlimit(pid_, RLIMIT_FSIZE, nullptr, &now), 0) << std::strerror(errno);
    const rlimit next{soft, now.rlim_max};
    ASSERT_EQ(::prlimit(pid_, RLIMIT_FSIZE, &next, nullptr), 0) << std::strerror(errno);
  }

 private:
  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::string log_;
};

std::string run_capture(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(MurmurdFaults, UnwritableStateDbStallsTheRoundVisiblyAndEndsItPastTheLimit) {
  TempDir dir("murmur-fault-statedb");
  constexpr std::size_t kNodes = 2;
  constexpr std::uint64_t kParameters = 4096;
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.rounds = 1;
  cfg.quorum = kNodes;  // node 1 never uploads: the round reaches its deadline short of quorum
  cfg.upload_window = 3s;
  const int metrics_port = free_port();
  const auto config = dir.path() / "murmurd.toml";
  write_murmurd_config(cfg, config);
  {
    std::ifstream in(config);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    text = std::regex_replace(
        text, std::regex("metrics_port = 0"),
        "metrics_port = " + std::to_string(metrics_port) + "\nfault_limit_ms = 1000");
    std::ofstream(config) << text;
  }
  MurmurdChild murmurd(config);
  ASSERT_TRUE(murmurd.wait_for_log("murmurd serving", 30s)) << murmurd.log();

  // Node 0 commits its update before the fault: it must survive the stall and the failed round.
  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  const chain::PrivateKey key = client::derive_node_key(kKeySeed, 0);
  std::array<char, 41> server_key{};
  ASSERT_EQ(zmq_curve_public(server_key.data(), cfg.curve_secret_key.c_str()), 0);
  client::NodeClient node(client_options(cfg, server_key.data()));
  node.register_node(key, cfg.chain_id);
  const auto info = node.round_info();
  const client::SyntheticUpdate update(kKeySeed, 0, kParameters, wire::DTYPE_F32);
  // Returns once murmurd answered Committed (throws otherwise).
  const auto sent = node.upload_update(info.task_id(), info.round(), update, 1, {&key, domain});

  // Every write murmurd makes from now on fails with EFBIG (state.db's WAL included).
  murmurd.set_file_size_limit(0);
  // Past the upload deadline the round engine tries to end the round on every wake-up.
  double faults = 0;
  std::string page;
  for (const auto until = Clock::now() + 20s; Clock::now() < until && faults < 50;
       std::this_thread::sleep_for(100ms)) {
    page = scrape(metrics_port);
    faults = sample(page, "murmur_faults_total{fault=\"round_engine\"}");
  }
  ASSERT_GE(faults, 50) << "the stalled round's faults are not counted in /metrics:\n" << page;
  EXPECT_GT(sample(page, "murmur_fault_streak_seconds{fault=\"round_engine\"}"), 0) << page;
  // The node still gets answers (reads do not need writes) and the round has not moved.
  EXPECT_EQ(node.round_info().round(), 1u);
  // Hold the fault past fault_limit_ms (1 s) and a log summary period would be 10 s: the log
  // has the first occurrence and at most a few summaries, not one line per failure.
  ASSERT_TRUE(murmurd.wait_for_log("ends: fault: round_engine failed", 20s)) << murmurd.log();
  std::this_thread::sleep_for(500ms);  // the end is retried on each wake-up while writes fail
  const std::string stalled_log = murmurd.log();
  const double failures =
      sample(scrape(metrics_port), "murmur_faults_total{fault=\"round_engine\"}");
  EXPECT_GT(failures, 50) << "the loop retries on every wake-up (20 ms)";
  EXPECT_LE(count(stalled_log, "fault round_engine"), 3u)
      << "a persistent fault is logged once plus summaries:\n"
      << stalled_log;
  EXPECT_NE(stalled_log.find("ends: fault: round_engine failed"), std::string::npos) << stalled_log;

  // The disk takes writes again: the round ends as failed, for the fault, at once.
  murmurd.set_file_size_limit(RLIM_INFINITY);
  ASSERT_TRUE(murmurd.wait_for_log("task closed", 20s)) << murmurd.log();
  const std::string records =
      run_capture(std::string(MURMURD) + " rounds --config " + config.string() + " 2>&1");
  const auto json = nlohmann::json::parse(records, nullptr, false);
  ASSERT_TRUE(json.is_array() && json.size() == 1) << records;
  const auto& r = json[0];
  EXPECT_EQ(r["outcome"], "failed") << records;
  EXPECT_EQ(r["reason"].get<std::string>().rfind("fault: round_engine failed ", 0), 0u) << records;
  ASSERT_TRUE(r["faults"].contains("round_engine")) << records;
  EXPECT_GE(r["faults"]["round_engine"]["count"].get<double>(), failures);
  EXPECT_GE(r["faults"]["round_engine"]["longest_seconds"].get<double>(), 1.0);
  EXPECT_FALSE(r["faults"]["round_engine"]["first_error"].get<std::string>().empty());
  // Nothing accepted is lost: the committed update is in state.db as it was acknowledged.
  bool kept = false;
  {
    chain::sqlite::Database db(cfg.data_dir / "state.db", chain::sqlite::Mode::kReadOnly, "test");
    chain::sqlite::Statement rows(db, "SELECT update_hash FROM uploads WHERE state = 1");
    while (rows.step()) kept = kept || rows.text(0) == chain::to_hex(sent.update_hash, false);
  }
  EXPECT_TRUE(kept) << "the committed update's row is gone";
  const auto page_after = scrape(metrics_port);
  EXPECT_EQ(sample(page_after, "murmur_fault_streak_seconds{fault=\"round_engine\"}"), 0)
      << page_after;
  EXPECT_EQ(sample(page_after, "murmur_uploads_accepted_total"), 1) << page_after;
  EXPECT_EQ(r["updates"], 0) << "the failed round aggregated nothing";
}

/// The task's TorchScript model, [10, 784] weights, whose forward returns the first 5 of its 10
/// logits: a model that does not fit the 10-class validation set, found only when it scores.
void save_five_logit_model(const std::filesystem::path& path) {
  torch::jit::Module m("FiveLogits");
  m.register_parameter("w", torch::zeros({10, 784}), false);
  m.define(R"JIT(
def forward(self, x):
    return torch.mm(x.reshape([x.size(0), -1]), self.w.t()).narrow(1, 0, 5)
)JIT");
  m.save(path.string());
}

TEST(MurmurdFaults, AFailedValidationIsTheRecordsValidationErrorAndTheRoundGoesOn) {
  TempDir dir("murmur-fault-validation");
  constexpr std::size_t kNodes = 2;
  constexpr std::uint64_t kParameters = 7840;
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.rounds = 1;
  cfg.quorum = kNodes;
  cfg.vote_quorum = 1;  // every node is a proposer: no vote comes, the round is rejected
  cfg.vote_window = 1s;
  cfg.metrics_port = free_port();
  save_five_logit_model(dir.path() / "five.pt");
  server::ValidationConfig v;
  v.torchscript = dir.path() / "five.pt";
  v.fashion_mnist = "test";
  v.max_rows = 64;
  cfg.validation = v;
  server::Server srv(cfg);
  srv.start();

  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  for (std::size_t i = 0; i < kNodes; ++i) {
    const chain::PrivateKey key = client::derive_node_key(kKeySeed, i);
    client::NodeClient node(client_options(cfg, srv.curve_public_key()));
    node.register_node(key, cfg.chain_id);
    const auto info = node.round_info();
    const client::SyntheticUpdate update(kKeySeed, i, kParameters, wire::DTYPE_F32);
    node.upload_update(info.task_id(), info.round(), update, 1, {&key, domain});
  }
  const auto snap = wait_for_stage(srv, wire::STAGE_CLOSED, 60s);
  ASSERT_EQ(snap.stage, wire::STAGE_CLOSED);
  const std::string page = scrape(srv.metrics_port());
  EXPECT_EQ(sample(page, "murmur_faults_total{fault=\"validation\"}"), 1) << page;
  EXPECT_EQ(sample(page, "murmur_validations_total"), 0) << page;
  srv.stop();

  const auto record = server::StateView(cfg.data_dir).round_record(1);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->update_count, kNodes) << "the round aggregated";
  EXPECT_NE(record->candidate_model, chain::Hash32{});
  EXPECT_FALSE(record->validation.has_value()) << "no figures";
  EXPECT_NE(record->validation_error.find("returned"), std::string::npos)
      << record->validation_error;
  EXPECT_NE(record->validation_error.find("10"), std::string::npos) << record->validation_error;
  ASSERT_TRUE(record->decision.has_value());
  EXPECT_EQ(record->decision->outcome, server::RoundOutcome::kRejected) << record->decision->reason;
  const auto json = nlohmann::json::parse(record->faults);
  ASSERT_TRUE(json.contains("validation")) << record->faults;
  EXPECT_EQ(json["validation"]["count"], 1);
}

}  // namespace
}  // namespace murmur::testing
