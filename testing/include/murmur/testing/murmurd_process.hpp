#pragma once
// A murmurd as a child process, for the tests and the benchmarks that start murmurd shard sets
// (tests/shard/shard_set.hpp, bench/shards/shards.cpp): the configuration keys they share,
// written from one description, and `murmurd --config FILE` started (directly, or behind a
// prefix such as `ip netns exec NS`), waited for until it serves, killed. POSIX only.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace murmur::testing {

/// The keys every murmurd of a test's or a benchmark's task carries ([server], [task], [round],
/// [aggregation]); `tables` is appended as written (a [shard] table, [validation], ...).
struct MurmurdToml {
  std::string endpoint, register_endpoint, curve_secret_key;
  int metrics_port = 0;  ///< 0: no /metrics
  std::filesystem::path data_dir, initial_model, participants;
  std::size_t chunk_bytes = 1u << 20;
  std::uint32_t peer_credits = 0;  ///< 0: murmurd's default
  std::uint64_t task_id = 7, chain_id = 31337;
  std::string contract = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
  std::uint64_t parameters = 0, rounds = 1;
  std::uint32_t proposer_bps = 10000;
  double upload_seconds = 60, vote_seconds = 5;
  std::size_t quorum = 1, vote_quorum = 0;
  std::string rule = "fedavg";
  std::string tables;
};

/// Writes `m` as murmurd's TOML to `file`.
inline void write_murmurd_toml(const std::filesystem::path& file, const MurmurdToml& m) {
  std::ofstream t(file);
  t << "[server]\n"
    << "endpoint = \"" << m.endpoint << "\"\n"
    << "register_endpoint = \"" << m.register_endpoint << "\"\n"
    << "metrics_port = " << m.metrics_port << "\n"
    << "data_dir = \"" << m.data_dir.string() << "\"\n"
    << "curve_secret_key = \"" << m.curve_secret_key << "\"\n"
    << "chunk_bytes = " << m.chunk_bytes << "\n";
  if (m.peer_credits != 0) t << "peer_credits = " << m.peer_credits << "\n";
  t << "backend = \"cpu\"\n"
    << "[task]\n"
    << "task_id = " << m.task_id << "\nchain_id = " << m.chain_id << "\n"
    << "contract = \"" << m.contract << "\"\n"
    << "parameters = " << m.parameters << "\n"
    << "rounds = " << m.rounds << "\n"
    << "proposer_bps = " << m.proposer_bps << "\n"
    << "initial_model = \"" << m.initial_model.string() << "\"\n"
    << "participants = \"" << m.participants.string() << "\"\n"
    << "[round]\n"
    << "upload_seconds = " << m.upload_seconds << "\n"
    << "vote_seconds = " << m.vote_seconds << "\n"
    << "quorum = " << m.quorum << "\n"
    << "vote_quorum = " << m.vote_quorum << "\n"
    << "[aggregation]\n"
    << "rule = \"" << m.rule << "\"\n"
    << m.tables;
  if (!t) throw std::runtime_error("cannot write " + file.string());
}

/// `[prefix...] murmurd --config FILE` as a child, its output appended to a log; it gets
/// SIGKILL on destruction and when the thread that started it ends (PR_SET_PDEATHSIG follows the
/// starting thread: start murmurds from a thread that outlives them, e.g. the test's own).
class MurmurdProcess {
 public:
  /// `prefix`: a command the murmurd runs under, e.g. {"/usr/bin/env", "ip", "netns", "exec",
  /// "ns1"}; empty: murmurd itself.
  MurmurdProcess(std::filesystem::path murmurd, std::filesystem::path config,
                 std::filesystem::path log, std::vector<std::string> prefix = {})
      : murmurd_(std::move(murmurd)),
        config_(std::move(config)),
        log_(std::move(log)),
        prefix_(std::move(prefix)) {}
  ~MurmurdProcess() { kill_now(); }
  MurmurdProcess(const MurmurdProcess&) = delete;
  MurmurdProcess& operator=(const MurmurdProcess&) = delete;

  /// Starts an instance (a previous one must have exited or been killed). The child unblocks
  /// every signal (a parent may block some for a signal thread) before it execs.
  void start() {
    ready_before_ = count_in_log();
    std::vector<std::string> all = prefix_;
    for (const std::string& a : {murmurd_.string(), std::string("--config"), config_.string()})
      all.push_back(a);
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = log_.string();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("cannot fork for " + murmurd_.string());
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      sigset_t every;
      sigfillset(&every);
      ::sigprocmask(SIG_UNBLOCK, &every, nullptr);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) ::dup2(fd, STDOUT_FILENO), ::dup2(fd, STDERR_FILENO), ::close(fd);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
  }
  /// Waits (bounded) until the instance last started logs that it serves ("murmurd serving" or
  /// "murmurd coordinator serving"); false when it exited first (e.g. a port taken meanwhile)
  /// or the limit passed.
  bool wait_ready(std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (count_in_log() <= ready_before_) {
      if (std::chrono::steady_clock::now() >= until || exited()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  /// Whether the child has exited (reaped if so).
  bool exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    pid_ = -1;
    return true;
  }
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  std::string log_text() const {
    std::ifstream in(log_);
    return {std::istreambuf_iterator<char>(in), {}};
  }

 private:
  std::size_t count_in_log() const {
    std::ifstream in(log_);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);)
      n += line.find("murmurd serving") != std::string::npos ||
           line.find("murmurd coordinator serving") != std::string::npos;
    return n;
  }
  std::filesystem::path murmurd_, config_, log_;
  std::vector<std::string> prefix_;
  std::size_t ready_before_ = 0;
  pid_t pid_ = -1;
};

}  // namespace murmur::testing
