#include "murmur/testing/local_chain.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "murmur/chain/rpc.hpp"

extern char** environ;

namespace murmur::chain::testing {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail(const std::string& s, std::size_t n = 3000) {
  return s.size() > n ? s.substr(s.size() - n) : s;
}

}  // namespace

std::filesystem::path make_temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("murmur-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::map<std::string, std::string>& env,
                           const std::vector<std::string>& unset,
                           const std::filesystem::path& cwd) {
  auto dir = make_temp_dir("proc");
  out_ = dir / "stdout";
  err_ = dir / "stderr";
  // Everything the child needs is built before fork: only async-signal-safe calls after it.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    bool drop = env.count(key) > 0;
    for (const auto& u : unset) drop = drop || key == u;
    if (!drop) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);
  std::string out_path = out_.string(), err_path = err_.string(), cwd_path = cwd.string();
  pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
    if (::getppid() != parent) ::_exit(127);
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int n = ::open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || n < 0) ::_exit(126);
    ::dup2(n, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (!cwd_path.empty() && ::chdir(cwd_path.c_str()) != 0) ::_exit(125);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
  std::filesystem::remove_all(out_.parent_path());
}

bool ChildProcess::finished() {
  if (reaped_) return true;
  if (::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return reaped_;
}

ProcessResult ChildProcess::wait(std::chrono::milliseconds timeout) {
  ProcessResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!finished()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      reaped_ = true;
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!r.timed_out && WIFEXITED(status_)) r.exit_code = WEXITSTATUS(status_);
  r.out = read_file(out_);
  r.err = read_file(err_);
  return r;
}

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env,
                          std::chrono::milliseconds timeout) {
  ChildProcess p(
      argv, env,
      {"MURMUR_CHAIN_KEY", "MURMUR_POSTER_CRASH_AFTER_SEND", "MURMUR_POSTER_CRASH_BEFORE_SEND"});
  return p.wait(timeout);
}

int free_loopback_port() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      int port = ntohs(a.sin_port);
      ::close(fd);
      if (port != 8545) return port;
    } else {
      ::close(fd);
    }
  }
  throw std::runtime_error("no free loopback port");
}

HardhatNode::HardhatNode(const std::filesystem::path& contracts_dir,
                         std::chrono::seconds ready_timeout, std::uint64_t chain_id)
    : port_(free_loopback_port()) {
  auto hardhat = contracts_dir / "node_modules/.bin/hardhat";
  if (!std::filesystem::exists(hardhat))
    throw std::runtime_error(hardhat.string() + " is missing: run `npm ci` in contracts/");
  // Test processes may start nodes concurrently (ctest -j); `hardhat node` compiles the contracts
  // first, so starts are serialized by a lock file to keep two compilers off contracts/artifacts.
  int lock = ::open((std::filesystem::temp_directory_path() / "murmur-hardhat-start.lock").c_str(),
                    O_RDWR | O_CREAT, 0666);
  if (lock >= 0) ::flock(lock, LOCK_EX);
  struct Unlock {
    int fd;
    ~Unlock() {
      if (fd >= 0) ::close(fd);  // closing releases the flock
    }
  } unlock{lock};
  proc_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{hardhat.string(), "node", "--hostname", "127.0.0.1", "--port",
                               std::to_string(port_)},
      std::map<std::string, std::string>{{"HARDHAT_DISABLE_TELEMETRY_PROMPT", "true"},
                                         {"MURMUR_HARDHAT_CHAIN_ID", std::to_string(chain_id)}},
      std::vector<std::string>{}, contracts_dir);
  RpcClient probe(url(), RpcOptions{std::chrono::milliseconds(500), std::chrono::milliseconds(1000),
                                    1, std::chrono::milliseconds(0)});
  auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  while (true) {
    if (proc_->finished()) {
      ProcessResult r = proc_->wait(std::chrono::milliseconds(0));
      throw std::runtime_error("hardhat node exited with " + std::to_string(r.exit_code) + ":\n" +
                               tail(r.out + r.err));
    }
    try {
      probe.call("eth_chainId", nlohmann::json::array());
      return;
    } catch (const std::exception&) {
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ProcessResult r = proc_->wait(std::chrono::milliseconds(0));
      throw std::runtime_error("hardhat node did not answer on " + url() + " within " +
                               std::to_string(ready_timeout.count()) + " s:\n" +
                               tail(r.out + r.err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

HardhatNode::~HardhatNode() {
  if (!proc_ || proc_->finished()) return;
  ::kill(-proc_->pid(), SIGTERM);
  proc_->wait(std::chrono::seconds(5));  // SIGKILLs the group past the deadline
}

}  // namespace murmur::chain::testing
