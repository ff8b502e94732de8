// Test support: child processes with deadlines, and a Hardhat node on a free loopback port that
// is always stopped (also when the test process dies: PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace murmur::chain::testing {

/// The outcome of a finished child process.
struct ProcessResult {
  int exit_code = -1;  ///< -1 if killed by a signal or by the deadline
  bool timed_out = false;
  std::string out, err;
};

/// A child process started with extra environment variables, output captured to files.
class ChildProcess {
 public:
  /// Starts `argv` (argv[0] is a path) in `cwd`; `unset` names variables to drop from the
  /// inherited environment. Throws std::runtime_error if fork fails.
  ChildProcess(const std::vector<std::string>& argv,
               const std::map<std::string, std::string>& env = {},
               const std::vector<std::string>& unset = {}, const std::filesystem::path& cwd = {});
  /// Kills the process group if still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// True once the child has exited (non-blocking).
  bool finished();
  /// Waits up to `timeout`; kills the group (SIGKILL) past it. Returns exit code and output.
  ProcessResult wait(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::filesystem::path out_, err_;
};

/// Runs a command to completion (bounded by `timeout`).
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// A free TCP port on 127.0.0.1 (bound then released; never 8545).
int free_loopback_port();

/// `hardhat node --hostname 127.0.0.1 --port P` from contracts/, ready when eth_chainId answers.
class HardhatNode {
 public:
  /// Starts it and waits up to `ready_timeout`; throws std::runtime_error with the log's tail if
  /// it exits or does not answer in time. `chain_id`: the node's chain id (hardhat.config.js
  /// reads it from MURMUR_HARDHAT_CHAIN_ID), e.g. to stand for a chain that is not a
  /// development chain.
  HardhatNode(const std::filesystem::path& contracts_dir, std::chrono::seconds ready_timeout,
              std::uint64_t chain_id = 31337);
  /// SIGTERM to the process group, then SIGKILL after 5 s.
  ~HardhatNode();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  std::unique_ptr<ChildProcess> proc_;
};

/// A fresh temporary directory for one test, removed by the caller when it wants.
std::filesystem::path make_temp_dir(const std::string& tag);

}  // namespace murmur::chain::testing
