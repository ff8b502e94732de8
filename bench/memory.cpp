// bench/memory: murmurd's resident memory through one round, stage by stage, against the bound
// server/README.md ("Memory") documents:
//
//   RSS - idle RSS <= inflight_budget_bytes + host tile budget + kPerConnection x connections
//
// at every stage (uploads, aggregation), and RSS - idle <= kNearIdle once the round is over.
//
// For each --nodes N it starts a real murmurd child (CurveZMQ, CPU backend, trimmed mean; the
// binary the build made), N participants all proposers, and `murmur load`'s library in this
// process (N synthetic nodes, one update of --parameters f32 each); it samples the child's
// /proc/PID/status every 10 ms and its /metrics for the round and stage. It prints idle / peak
// during uploads / after the uploads / peak during aggregation / after the round, each above
// idle and against the bound. With --check it exits 1 when a stage is over its bound: ctest runs
// it so (server.memory_bound, tests/CMakeLists.txt) on 200 nodes x 10,000 parameters.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "murmur/client/load.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/testing/temp_dir.hpp"

extern char** environ;

namespace {

using namespace murmur;
using Clock = std::chrono::steady_clock;
constexpr std::size_t kMiB = std::size_t{1} << 20;

/// What one connection (a node's DEALER on the round endpoint, CurveZMQ) may cost murmurd:
/// ZeroMQ's session, pipes (message chunks of its ypipes), engine buffers and CurveZMQ state,
/// the admission bucket and routing entries. server/README.md ("Memory") says how it was
/// measured; this is the documented figure, with margin.
constexpr std::size_t kPerConnection = 96 << 10;
/// How close to idle murmurd must be once the round is over.
constexpr std::size_t kNearIdle = 32 * kMiB;

struct Options {
  std::vector<std::uint64_t> nodes{100, 1000};
  std::uint64_t parameters = 100'000;
  std::size_t budget = 256 * kMiB;
  std::size_t chunk = 4 * kMiB;
  std::string murmurd = MURMURD;
  bool check = false;
  bool fetch_model = false;  ///< every node downloads the global model before the uploads
};

struct Rss {
  std::size_t rss = 0, anon = 0;  ///< bytes
};

Rss read_rss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  Rss r;
  for (std::string line; std::getline(in, line);) {
    std::istringstream s(line);
    std::string key;
    std::size_t kib = 0;
    s >> key >> kib;
    if (key == "VmRSS:") r.rss = kib << 10;
    if (key == "RssAnon:") r.anon = kib << 10;
  }
  return r;
}

/// A murmurd child process, stopped with SIGTERM (then SIGKILL) on destruction.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::filesystem::path& log) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
  }
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  bool alive() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (::waitpid(pid_, nullptr, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

/// murmur_round and murmur_stage from murmurd's /metrics; nullopt while it does not answer.
std::optional<std::pair<std::uint64_t, int>> round_and_stage(httplib::Client& http) {
  const auto res = http.Get("/metrics");
  if (!res || res->status != 200) return std::nullopt;
  std::istringstream in(res->body);
  std::uint64_t round = 0;
  int stage = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("murmur_round ", 0) == 0) round = std::stoull(line.substr(13));
    if (line.rfind("murmur_stage ", 0) == 0) stage = std::stoi(line.substr(13));
  }
  return std::make_pair(round, stage);
}

/// The last lines of a log (the directory goes with the run).
std::string tail(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  for (std::size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i)
    out += lines[i] + "\n";
  return out;
}

struct Figures {
  std::uint64_t nodes = 0;
  Rss idle;
  std::size_t upload_peak = 0, after_upload = 0, aggregation_peak = 0, after_round = 0;
  std::size_t bound = 0;
  client::LoadReport load;
  double aggregation_seconds = 0;
};

Figures run(const Options& o, std::uint64_t nodes) {
  testing::TempDir dir("memory");
  const std::string key = (dir / "server.key").string();
  {
    Child keygen({o.murmurd, "keygen", key}, dir / "keygen.log");
    int status = 0;
    ::waitpid(keygen.pid(), &status, 0);
  }
  std::string pub;
  std::getline(std::ifstream(key + ".pub"), pub);
  {
    std::ofstream p(dir / "participants.csv");
    for (std::uint64_t i = 0; i < nodes; ++i)
      p << client::derive_node_key(7, i).address().to_checksum() << ",1000\n";
  }
  const int port = testing::free_port(), reg = testing::free_port(), metrics = testing::free_port();
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  const std::string register_endpoint = "tcp://127.0.0.1:" + std::to_string(reg);
  {
    std::ofstream c(dir / "murmurd.toml");
    c << "[server]\nendpoint = \"" << endpoint << "\"\nregister_endpoint = \"" << register_endpoint
      << "\"\nmetrics_address = \"127.0.0.1\"\nmetrics_port = " << metrics << "\ndata_dir = \""
      << (dir / "data").string() << "\"\ncurve = true\ncurve_secret_key_file = \"" << key
      << "\"\nbackend = \"cpu\"\nchunk_bytes = " << o.chunk
      << "\ninflight_budget_bytes = " << o.budget << "\nregister_max_connections = " << nodes + 64
      << "\nregister_connections_per_address = " << nodes + 64
      << "\nregister_messages_per_second = 100000.0\n"
      << "[task]\ntask_id = 1\nchain_id = 31337\n"
      << "contract = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\nparameters = " << o.parameters
      << "\nrounds = 2\nproposer_bps = 10000\nparticipants = \""
      << (dir / "participants.csv").string() << "\"\n"
      << "[round]\nupload_seconds = 600.0\nvote_seconds = 1.0\nquorum = 3\nvote_quorum = 1\n"
      << "[aggregation]\nrule = \"trimmed-mean\"\n";
  }
  Child murmurd({o.murmurd, "--config", (dir / "murmurd.toml").string()}, dir / "murmurd.log");
  httplib::Client http("127.0.0.1", metrics);
  http.set_connection_timeout(std::chrono::seconds(1));
  http.set_read_timeout(std::chrono::seconds(2));
  for (const auto give_up = Clock::now() + std::chrono::seconds(60); !round_and_stage(http);) {
    if (!murmurd.alive() || Clock::now() > give_up)
      throw std::runtime_error("murmurd did not start; its log:\n" + tail(dir / "murmurd.log"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));

  Figures f;
  f.nodes = nodes;
  f.idle = read_rss(murmurd.pid());
  // 0: uploads, 1: after them until the next round, 2: stop.
  std::atomic<int> phase{0};
  std::atomic<std::size_t> peak[2] = {0, 0};
  std::thread sampler([&] {
    for (int p; (p = phase.load()) < 2;) {
      const std::size_t rss = read_rss(murmurd.pid()).rss;
      for (std::size_t seen = peak[p].load();
           rss > seen && !peak[p].compare_exchange_weak(seen, rss);) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  client::LoadOptions lo;
  lo.client.endpoint = endpoint;
  lo.client.register_endpoint = register_endpoint;
  lo.client.server_public_key = pub;
  lo.client.timeout = std::chrono::milliseconds(30'000);
  lo.nodes = nodes;
  lo.seed = 7;
  lo.parameters = o.parameters;
  lo.fetch_model = o.fetch_model;
  f.load = client::run_load(lo, &std::cerr);
  f.after_upload = read_rss(murmurd.pid()).rss;
  phase = 1;
  if (f.load.committed != nodes) {
    phase = 2;
    sampler.join();
    std::ostringstream errors;
    for (const auto& [code, count] : f.load.errors) errors << " " << count << " x " << code << ";";
    throw std::runtime_error(std::to_string(f.load.committed) + " of " + std::to_string(nodes) +
                             " updates committed:" + errors.str() + " murmurd's log:\n" +
                             tail(dir / "murmurd.log"));
  }
  const auto t0 = Clock::now();
  for (const auto give_up = Clock::now() + std::chrono::seconds(300);;) {
    const auto rs = round_and_stage(http);
    if (rs && rs->first >= 2) break;
    if (!murmurd.alive() || Clock::now() > give_up) {
      phase = 2;
      sampler.join();
      throw std::runtime_error("round 1 did not end; murmurd's log:\n" + tail(dir / "murmurd.log"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  f.aggregation_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  f.after_round = read_rss(murmurd.pid()).rss;
  phase = 2;
  sampler.join();
  f.upload_peak = std::max(peak[0].load(), f.after_upload);
  f.aggregation_peak = peak[1].load();
  f.bound = o.budget + kernels::make_cpu_backend(1)->host_tile_bytes() + kPerConnection * nodes;
  murmurd.stop();
  return f;
}

double mib(std::size_t bytes) {
  return static_cast<double>(bytes) / static_cast<double>(kMiB);
}

double above(std::size_t rss, const Rss& idle) {
  return (static_cast<double>(rss) - static_cast<double>(idle.rss)) / static_cast<double>(kMiB);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench/memory: murmurd's RSS through a round against its documented bound"};
  Options o;
  app.add_option("--nodes", o.nodes, "node counts, one round each")->delimiter(',');
  app.add_option("--parameters", o.parameters, "parameters per update (f32)");
  app.add_option("--budget", o.budget, "murmurd's inflight_budget_bytes");
  app.add_option("--chunk-bytes", o.chunk, "murmurd's chunk_bytes");
  app.add_option("--murmurd", o.murmurd, "the murmurd binary");
  app.add_flag("--check", o.check, "exit 1 when a stage is over its bound");
  app.add_flag("--fetch-model", o.fetch_model,
               "every node downloads the global model before the uploads (in the upload stage)");
  CLI11_PARSE(app, argc, argv);
  bool ok = true;
  try {
    std::printf(
        "murmurd %s, CurveZMQ, CPU backend, trimmed mean; %llu parameters (f32) per "
        "update, inflight_budget_bytes %.0f MiB, chunk_bytes %zu KiB\n",
        o.murmurd.c_str(), static_cast<unsigned long long>(o.parameters), mib(o.budget),
        o.chunk >> 10);
    std::printf(
        "bound above idle = budget %.0f MiB + tiles %.0f MiB + %zu KiB x nodes; near "
        "idle after the round: <= %.0f MiB\n",
        mib(o.budget), mib(kernels::make_cpu_backend(1)->host_tile_bytes()), kPerConnection >> 10,
        mib(kNearIdle));
    std::printf("%6s %9s %14s %14s %16s %14s %9s %9s %s\n", "nodes", "idle MiB", "upload peak",
                "after upload", "aggregation peak", "after round", "bound", "upd/s", "verdict");
    for (const std::uint64_t n : o.nodes) {
      const Figures f = run(o, n);
      const Rss& i = f.idle;
      const bool stages_ok = f.upload_peak - std::min(f.upload_peak, i.rss) <= f.bound &&
                             f.aggregation_peak - std::min(f.aggregation_peak, i.rss) <= f.bound;
      const bool idle_ok = f.after_round - std::min(f.after_round, i.rss) <= kNearIdle;
      const bool committed = f.load.committed == n;
      std::printf("%6llu %9.1f %+14.1f %+14.1f %+16.1f %+14.1f %9.1f %9.1f %s\n",
                  static_cast<unsigned long long>(n), mib(i.rss), above(f.upload_peak, i),
                  above(f.after_upload, i), above(f.aggregation_peak, i), above(f.after_round, i),
                  mib(f.bound), f.load.updates_per_s,
                  !committed   ? "FAILED: not every update committed"
                  : !stages_ok ? "OVER THE BOUND"
                  : !idle_ok   ? "NOT BACK NEAR IDLE"
                               : "within the bound");
      std::fflush(stdout);
      ok = ok && committed && stages_ok && idle_ok;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench/memory: %s\n", e.what());
    return 2;
  }
  return o.check && !ok ? 1 : 0;
}
