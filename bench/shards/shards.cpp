// bench/shards: a round's ingest through murmurd shard sets of S = 1, 2, 4 shards, each shard
// and the coordinator a murmurd process in its own network namespace behind a veth pair
// rate-limited by `tc tbf` (200 Mbit/s each way by default), so the link is the bottleneck as on
// a real cluster (docs/sharding.md §3):
//
//   <P>sw   a bridge every host's veth pair plugs into
//   <P>c    the coordinator murmurd (10.77.0.1): the TCPStore the shards meet at, the record
//   <P>sK   shard K's murmurd (10.77.0.(10+K)), `[shard] role = "shard"`, index K of S
//   <P>n    the nodes (10.77.0.100): N nodes, each registering with every shard and uploading its
//           update with client::upload_split (one signed Update, part k to shard k in parallel,
//           credits, checksums, resume); this link is not rate-limited (it stands for N hosts')
//
// <P> is "mshards-<pid>-": every namespace this run makes carries its own process id; all of
// them, the murmurd processes and the data directories go on every way out (normal end, error,
// SIGINT/SIGTERM/SIGHUP, the --deadline watchdog); children die with this process
// (PR_SET_PDEATHSIG) and namespaces left by a run that was SIGKILLed are removed by the next.
//
// The figure: the round ingest time, from the moment the nodes release their uploads to the
// last part committed on every shard (every upload_split returned: each shard answered Committed
// after checking its part against the split commitment), its throughput and the ratio to S times
// the S = 1 throughput (target >= 0.8). Then every shard's record must list every node's update,
// the coordinator's record every shard's part; with --check, a plain murmurd (no [shard]) beside
// the nodes takes the same updates whole and the shards' model, fetched by range, must equal its
// model bit for bit (the rule must be a bit-identical one: fedavg, median, trimmed mean, MeaMed).
//
//   shards [--shards 1,2,4] [--nodes 16] [--mib-per-node 8] [--rate 200mbit] [--rule fedavg]
//          [--chunk-kib 1024] [--check] [--deadline 170] [--keep DIR] [--commitment-mib 64]
//
// First, on this host: the split-upload commitment's cost against the plain BLAKE3 update hash
// (protocol/part_commitment.hpp), same run, same bytes (`--commitment-mib 0` skips it; `--shards
// ""` stops after it).
//
// Exit status: 0 measured (and checked), 1 a failure, 77 network namespaces (or `ip`, or tc tbf)
// are not available here: nothing measured (ctest counts it as skipped).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/shard_upload.hpp"
#include "murmur/protocol/blake3.hpp"
#include "murmur/protocol/part_commitment.hpp"
#include "murmur/server/server.hpp"
#include "murmur/shard/partition.hpp"
#include "murmur/testing/murmurd_process.hpp"

namespace {

using namespace murmur;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kNotPermitted = 77;
constexpr std::uint64_t kKeySeed = 20261203;
constexpr const char* kContract = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
constexpr const char* kCoordinatorIp = "10.77.0.1";
constexpr const char* kNodesIp = "10.77.0.100";
constexpr int kStorePort = 29500;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string shard_ip(std::size_t k) {
  return "10.77.0." + std::to_string(10 + k);
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

using Args = std::map<std::string, std::string>;

std::string arg(const Args& a, const std::string& k, const std::string& fallback) {
  const auto it = a.find(k);
  return it == a.end() ? fallback : it->second;
}

std::size_t num(const Args& a, const std::string& k, std::size_t fallback) {
  const auto it = a.find(k);
  return it == a.end() ? fallback : std::stoull(it->second);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, sep);)
    if (!x.empty()) out.push_back(x);
  return out;
}

/// Node i's value at coordinate j: a cheap hash in [-1, 1), nodes 0 and 1 scaled by 30.
float value(std::size_t i, std::size_t j) {
  std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (j * 0xBF58476D1CE4E5B9ull);
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  const float v = static_cast<float>(x >> 40) / static_cast<float>(1 << 23) - 1.0f;
  return i < 2 ? 30.0f * v : v;
}

// ---- CPU accounting (the machine's load while a run goes) ------------------------------

/// Busy and total jiffies of all CPUs (/proc/stat's first line; iowait counts as idle).
std::pair<double, double> machine_jiffies() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  double v[10] = {}, total = 0;
  for (double& x : v) in >> x, total += x;
  return {total - v[3] - v[4], total};
}

/// utime + stime of a process in seconds (0 once it is gone).
double process_cpu_seconds(pid_t pid) {
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::stringstream in(stat.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int f = 3; f <= 15 && in >> field; ++f) {
    if (f == 14) utime = std::stod(field);
    if (f == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double load1() {
  std::ifstream in("/proc/loadavg");
  double l = 0;
  in >> l;
  return l;
}

// ---- the nodes (run inside <P>n) --------------------------------------------------------

/// One shard's (or the single murmurd's) endpoints as the nodes reach them.
struct Target {
  std::string endpoint, register_endpoint, public_key;
};

client::ClientOptions options(const Target& t, std::shared_ptr<zmq::context_t> ctx) {
  client::ClientOptions o;
  o.endpoint = t.endpoint;
  o.register_endpoint = t.register_endpoint;
  o.server_public_key = t.public_key;
  o.timeout = std::chrono::seconds(30);
  o.retries = 4;
  o.context = std::move(ctx);
  return o;
}

chain::Eip712Domain domain() {
  chain::Eip712Domain d;
  d.chain_id = 31337;
  d.verifying_contract = chain::Address::from_hex(kContract);
  return d;
}

/// Polls RoundInfo until `pred` holds or `limit` passes; returns the last one.
template <typename Pred>
wire::RoundInfo wait_round(client::NodeClient& c, Pred pred, std::chrono::seconds limit) {
  const auto until = Clock::now() + limit;
  wire::RoundInfo info = c.round_info();
  while (!pred(info) && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    info = c.round_info();
  }
  return info;
}

bool closed(const wire::RoundInfo& i) {
  return i.stage() == wire::STAGE_CLOSED;
}

/// The nodes' side of one run: reads the targets (`--plan`), registers every node with every
/// shard, releases all uploads at once and times them; prints one `RESULT {json}` line.
int run_nodes(const Args& a) {
  const std::size_t nodes = num(a, "--nodes", 16), d = num(a, "--d", 0);
  std::vector<Target> shards;
  std::optional<Target> single;
  std::vector<pid_t> shard_pids;
  {
    std::ifstream plan(a.at("--plan"));
    for (std::string kind; plan >> kind;) {
      Target t;
      pid_t pid = 0;
      plan >> t.endpoint >> t.register_endpoint >> t.public_key >> pid;
      if (kind == "shard") shards.push_back(t), shard_pids.push_back(pid);
      if (kind == "single") single = t;
    }
  }
  // The updates exist before the clock starts, so the figure is the upload's alone.
  std::vector<std::vector<float>> updates(nodes, std::vector<float>(d));
  for (std::size_t i = 0; i < nodes; ++i)
    for (std::size_t j = 0; j < d; ++j) updates[i][j] = value(i, j);

  auto ctx = std::make_shared<zmq::context_t>(2);
  std::vector<chain::PrivateKey> keys;
  for (std::size_t i = 0; i < nodes; ++i) keys.push_back(client::derive_node_key(kKeySeed, i));
  // clients[i][k]: node i's client of shard k, registered, the round seen uploading.
  std::vector<std::vector<std::unique_ptr<client::NodeClient>>> clients(nodes);
  std::vector<std::string> failures(nodes);
  std::uint64_t task_id = 0, round = 0;
  {
    std::vector<std::thread> threads;
    std::mutex m;
    for (std::size_t i = 0; i < nodes; ++i)
      threads.emplace_back([&, i] {
        try {
          for (const Target& t : shards) {
            clients[i].push_back(std::make_unique<client::NodeClient>(options(t, ctx)));
            clients[i].back()->register_node(keys[i], 31337);
            const auto info = wait_round(
                *clients[i].back(),
                [](const wire::RoundInfo& r) { return r.stage() == wire::STAGE_UPLOADING; },
                std::chrono::seconds(60));
            if (info.stage() != wire::STAGE_UPLOADING || info.role() != wire::ROLE_PROPOSER)
              throw std::runtime_error("shard " + t.endpoint + " is not taking node " +
                                       std::to_string(i) + "'s upload (stage " +
                                       std::to_string(info.stage()) + ")");
            std::lock_guard lock(m);
            task_id = info.task_id(), round = info.round();
          }
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
      });
    for (auto& t : threads) t.join();
  }
  for (std::size_t i = 0; i < nodes; ++i)
    if (!failures[i].empty())
      throw std::runtime_error("node " + std::to_string(i) + ": " + failures[i]);

  // The ingest, timed: all uploads released at once.
  std::vector<double> shard_cpu0;
  for (pid_t p : shard_pids) shard_cpu0.push_back(process_cpu_seconds(p));
  const double self0 = self_cpu_seconds(), load_before = load1();
  const auto [busy0, total0] = machine_jiffies();
  std::vector<chain::Hash32> hashes(nodes);
  std::atomic<std::uint64_t> restarts{0}, resent{0};
  const auto start = Clock::now();
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < nodes; ++i)
      threads.emplace_back([&, i] {
        try {
          std::vector<client::NodeClient*> mine;
          for (auto& c : clients[i]) mine.push_back(c.get());
          const auto r = client::upload_split(mine, task_id, round, updates[i], 1 + i % 3,
                                              {&keys[i], domain()});
          hashes[i] = r.update_hash;
          for (const auto& p : r.parts) {
            restarts += p.restarts;
            const std::uint64_t once = p.total_bytes - p.first_resume_offset;
            resent += p.bytes_sent > once ? p.bytes_sent - once : 0;
          }
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
      });
    for (auto& t : threads) t.join();
  }
  const double ingest = seconds_since(start);
  const auto [busy1, total1] = machine_jiffies();
  double shard_cpu = 0;
  for (std::size_t k = 0; k < shard_pids.size(); ++k)
    shard_cpu += process_cpu_seconds(shard_pids[k]) - shard_cpu0[k];
  const double client_cpu = self_cpu_seconds() - self0;
  for (std::size_t i = 0; i < nodes; ++i)
    if (!failures[i].empty())
      throw std::runtime_error("node " + std::to_string(i) + "'s split upload: " + failures[i]);

  // The round goes on: aggregation (Gloo across the shards), voting, closing.
  const auto after = Clock::now();
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const auto info = wait_round(*clients[0][k], closed, std::chrono::seconds(120));
    if (!closed(info))
      throw std::runtime_error("shard " + std::to_string(k) + " did not close the round");
  }
  const double to_closed = seconds_since(after);

  json out = {{"ingest_seconds", ingest},
              {"bytes", static_cast<double>(nodes * d * 4)},
              {"restarts", restarts.load()},
              {"bytes_resent", resent.load()},
              {"shard_cpu_seconds", shard_cpu},
              {"client_cpu_seconds", client_cpu},
              {"machine_busy", (busy1 - busy0) / std::max(1.0, total1 - total0)},
              {"load1_before", load_before},
              {"load1_after", load1()},
              {"close_seconds", to_closed}};

  if (single) {  // --check: the same updates whole to a plain murmurd, then the models compared
    client::NodeClient s0(options(*single, ctx));
    std::vector<std::thread> threads;
    std::vector<chain::Hash32> single_hashes(nodes);
    for (std::size_t i = 0; i < nodes; ++i)
      threads.emplace_back([&, i] {
        try {
          client::NodeClient c(options(*single, ctx));
          c.register_node(keys[i], 31337);
          const auto info = wait_round(
              c, [](const wire::RoundInfo& r) { return r.stage() == wire::STAGE_UPLOADING; },
              std::chrono::seconds(60));
          single_hashes[i] = c.upload_update(info.task_id(), info.round(), updates[i],
                                             wire::DTYPE_F32, 1 + i % 3, {&keys[i], domain()})
                                 .update_hash;
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
      });
    for (auto& t : threads) t.join();
    for (std::size_t i = 0; i < nodes; ++i)
      if (!failures[i].empty())
        throw std::runtime_error("node " + std::to_string(i) +
                                 " to the single murmurd: " + failures[i]);
    s0.register_node(keys[0], 31337);
    const auto info = wait_round(s0, closed, std::chrono::seconds(120));
    if (!closed(info)) throw std::runtime_error("the single murmurd did not close the round");
    chain::Hash32 h{};
    std::memcpy(h.data(), info.global_model_hash().data(), 32);
    const std::vector<float> want = s0.fetch_model(h);
    std::vector<client::NodeClient*> mine;
    for (auto& c : clients[0]) mine.push_back(c.get());
    const std::vector<float> got = client::fetch_split_model(mine);
    std::size_t same_hashes = 0;
    for (std::size_t i = 0; i < nodes; ++i) same_hashes += hashes[i] == single_hashes[i];
    std::size_t differing = 0;
    for (std::size_t j = 0; j < std::min(got.size(), want.size()); ++j)
      differing += std::memcmp(&got[j], &want[j], 4) != 0;
    out["check_model_size"] = {got.size(), want.size()};
    out["check_coordinates_differing"] = differing;
    out["check_same_update_hashes"] = same_hashes;
  }
  std::printf("RESULT %s\n", out.dump().c_str());
  std::fflush(stdout);
  return 0;
}

// ---- the commitment's cost (on this host, before the namespaces) ------------------------

/// A split upload's commitment against the plain update hash, same run, same bytes: the node's
/// commit_parts for S = 4 and a shard's check_part of its part (per byte of the part); the best
/// of 5 interleaved rounds, so that a loaded machine's swings fall on all three alike.
void commitment_cost(std::size_t mib) {
  const std::size_t d = mib * 1024 * 1024 / 4;
  std::vector<float> update(d);
  for (std::size_t j = 0; j < d; ++j) update[j] = value(7, j);
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(update.data()),
                                            d * 4);
  const auto boundaries = shard::byte_boundaries(shard::partition(d, 4));
  chain::Hash32 plain{};
  protocol::SplitCommitment c = protocol::commit_parts(bytes, boundaries);
  const auto part = bytes.subspan(c.parts[1].begin, c.parts[1].end - c.parts[1].begin);
  double best[3] = {1e30, 1e30, 1e30};
  for (int i = 0; i < 5; ++i) {
    auto start = Clock::now();
    plain = protocol::blake3(bytes);
    best[0] = std::min(best[0], seconds_since(start));
    start = Clock::now();
    c = protocol::commit_parts(bytes, boundaries);
    best[1] = std::min(best[1], seconds_since(start));
    start = Clock::now();
    protocol::check_part(c, 1, part);
    best[2] = std::min(best[2], seconds_since(start));
  }
  const double gb = static_cast<double>(bytes.size()) / 1e9;
  const double part_gb = static_cast<double>(part.size()) / 1e9;
  std::printf(
      "commitment, %zu MiB update, BLAKE3 backend %s, best of 5 interleaved: BLAKE3 of the whole "
      "%.2f GB/s; commit_parts (S = 4) %.2f GB/s (%.2fx); check_part of part 1 %.2f GB/s of its "
      "bytes (%.2fx); same hash: %s\n",
      mib, std::string(protocol::blake3_detail::backend()).c_str(), gb / best[0], gb / best[1],
      best[0] / best[1], part_gb / best[2], (part_gb / best[2]) / (gb / best[0]),
      plain == c.hash ? "yes" : "NO");
}

// ---- the orchestrator: namespaces, processes, cleanup -----------------------------------

int sh(const std::string& command, bool quiet = true) {
  const int status = std::system((command + (quiet ? " >/dev/null 2>&1" : "")).c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Everything this run made, undone by cleanup() on every way out.
struct Owned {
  std::mutex m;
  std::string prefix;  ///< "mshards-<pid>-"
  std::vector<std::string> namespaces;
  std::vector<pid_t> children;
  std::vector<std::shared_ptr<testing::MurmurdProcess>> murmurds;
  fs::path dir;
  bool keep = false;
} owned;

void cleanup() {
  std::lock_guard lock(owned.m);
  for (pid_t p : owned.children) ::kill(p, SIGKILL);
  for (pid_t p : owned.children) ::waitpid(p, nullptr, 0);
  owned.children.clear();
  for (auto& m : owned.murmurds) m->kill_now();
  owned.murmurds.clear();
  // The bridge last: the hosts' veth ends go with their namespaces.
  for (auto it = owned.namespaces.rbegin(); it != owned.namespaces.rend(); ++it)
    sh("ip netns del " + *it);
  owned.namespaces.clear();
  if (!owned.dir.empty() && !owned.keep) {
    std::error_code ec;
    fs::remove_all(owned.dir, ec);
  }
}

/// Namespaces named by a run whose process is gone (SIGKILLed: no cleanup ran).
void sweep_stale() {
  FILE* p = ::popen("ip netns list 2>/dev/null", "r");
  if (p == nullptr) return;
  char line[512];
  std::vector<std::string> stale;
  while (std::fgets(line, sizeof line, p) != nullptr) {
    std::string name = line;
    name = name.substr(0, name.find_first_of(" \n"));
    if (name.rfind("mshards-", 0) != 0) continue;
    const auto dash = name.find('-', 8);
    if (dash == std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(name.substr(8, dash - 8).c_str()));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(name);
  }
  ::pclose(p);
  for (const auto& n : stale) {
    std::printf("bench/shards: removing namespace %s left by a run that was killed\n", n.c_str());
    sh("ip netns del " + n);
    // Its data directories (the default place only; --keep's are the user's).
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / n.substr(0, n.find('-', 8) + 1), ec);
  }
}

/// The signal thread: SIGINT/SIGTERM/SIGHUP/SIGQUIT or the deadline (SIGALRM) clean up and end
/// the process.
sigset_t handled_signals() {
  sigset_t s;
  sigemptyset(&s);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM}) sigaddset(&s, sig);
  return s;
}

void start_signal_thread() {
  const sigset_t s = handled_signals();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  std::thread([s] {
    int sig = 0;
    sigwait(&s, &sig);
    std::fprintf(stderr, "bench/shards: %s: stopping, removing the namespaces\n",
                 sig == SIGALRM ? "the --deadline passed" : strsignal(sig));
    cleanup();
    std::_Exit(sig == SIGALRM ? 1 : 128 + sig);
  }).detach();
}

/// `ip netns exec NS args...` as a child whose output goes to `log`; it dies with this process.
pid_t spawn_in(const std::string& ns, const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> all = {"/usr/bin/env", "ip", "netns", "exec", ns};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& x : all) argv.push_back(x.data());
  argv.push_back(nullptr);
  const std::string log_path = log.string();
  const pid_t parent = ::getpid();
  const sigset_t s = handled_signals();
  std::lock_guard lock(owned.m);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) ::dup2(fd, 1), ::dup2(fd, 2), ::close(fd);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  owned.children.push_back(pid);
  return pid;
}

/// Waits for `pid` to exit (bounded by the deadline's watchdog); its exit status, -1 if killed.
int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  {
    std::lock_guard lock(owned.m);
    std::erase(owned.children, pid);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void run_step(const std::string& step) {
  if (sh(step) != 0) throw std::runtime_error("network setup failed at: " + step);
}

std::string add_namespace(const std::string& suffix) {
  const std::string ns = owned.prefix + suffix;
  run_step("ip netns add " + ns);
  std::lock_guard lock(owned.m);
  owned.namespaces.push_back(ns);
  return ns;
}

/// A host namespace on the bridge; `rate` empty: no limit. The veth pair is made directly in
/// the two namespaces (nothing is created in the namespace this program runs in).
std::string add_host(const std::string& bridge, const std::string& suffix, const std::string& ip,
                     const std::string& rate, std::size_t port) {
  const std::string ns = add_namespace(suffix), b = "p" + std::to_string(port);
  run_step("ip link add h0 netns " + ns + " type veth peer name " + b + " netns " + bridge);
  run_step("ip -n " + bridge + " link set " + b + " master br0 up");
  run_step("ip -n " + ns + " addr add " + ip + "/24 dev h0");
  run_step("ip -n " + ns + " link set h0 up");
  run_step("ip -n " + ns + " link set lo up");
  if (!rate.empty()) {
    // Egress of the host (what it sends) and egress of the bridge port towards it (what it
    // receives): `rate` each way.
    const std::string tbf = " root tbf rate " + rate + " burst 256kb latency 100ms";
    run_step("ip netns exec " + ns + " tc qdisc add dev h0" + tbf);
    run_step("ip netns exec " + bridge + " tc qdisc add dev " + b + tbf);
  }
  return ns;
}

/// One murmurd of the set: its configuration, namespace and process (started under
/// `ip netns exec`, the same child start as the tests' shard sets: testing::MurmurdProcess).
struct Member {
  std::string name, ns, ip, public_key;
  fs::path config, data_dir, log;
  std::shared_ptr<testing::MurmurdProcess> process;
  std::string endpoint() const { return "tcp://" + ip + ":7700"; }
  std::string register_endpoint() const { return "tcp://" + ip + ":7701"; }
};

struct RunSpec {
  std::size_t shards = 1, nodes = 16, d = 0, chunk_bytes = 1u << 20;
  std::string rate, rule;
  bool check = false;
};

std::string murmurd_path() {
  return MURMURD;
}

Member make_member(const fs::path& dir, const RunSpec& r, const std::string& name,
                   const std::string& ns, const std::string& ip, const std::string& shard_table) {
  Member m;
  m.name = name, m.ns = ns, m.ip = ip;
  m.config = dir / (name + ".toml");
  m.data_dir = dir / name;
  m.log = dir / (name + ".log");
  const auto [pub, sec] = server::curve_keypair();
  m.public_key = pub;
  testing::MurmurdToml toml;
  toml.endpoint = m.endpoint();
  toml.register_endpoint = m.register_endpoint();
  toml.data_dir = m.data_dir;
  toml.curve_secret_key = sec;
  toml.chunk_bytes = r.chunk_bytes;
  toml.contract = kContract;
  toml.parameters = r.d;
  toml.initial_model = dir / "initial.f32";
  toml.participants = dir / "participants.csv";
  toml.upload_seconds = 300.0;
  toml.vote_seconds = 1.0;
  toml.quorum = r.nodes;
  toml.rule = r.rule;
  toml.tables = shard_table;
  testing::write_murmurd_toml(m.config, toml);
  m.process = std::make_shared<testing::MurmurdProcess>(
      murmurd_path(), m.config, m.log,
      std::vector<std::string>{"/usr/bin/env", "ip", "netns", "exec", m.ns});
  return m;
}

/// Starts `m` in its namespace; cleanup() kills it on every way out.
void start_member(Member& m) {
  std::lock_guard lock(owned.m);
  m.process->start();
  owned.murmurds.push_back(m.process);
}

/// Waits (bounded) until `m` logs that it serves.
void wait_serving(Member& m) {
  if (!m.process->wait_ready(std::chrono::seconds(120)))
    throw std::runtime_error(m.name + " did not start serving:\n" + m.process->log_text());
}

struct RunResult {
  json nodes;        ///< the nodes' RESULT line
  json coordinator;  ///< the coordinator's record of round 1
  std::vector<std::string> problems;
};

/// One shard set of `r.shards` shards: namespaces, murmurds, the nodes, the records; cleaned up.
RunResult run_set(const std::string& self, const RunSpec& r, const fs::path& dir) {
  fs::create_directories(dir);
  {  // the initial model (nonzero: a shard reading the wrong slice of it shows) and the nodes
    std::vector<float> initial(r.d);
    for (std::size_t j = 0; j < r.d; ++j)
      initial[j] = 0.001f * static_cast<float>(static_cast<int>(j % 97) - 48);
    std::ofstream(dir / "initial.f32", std::ios::binary)
        .write(reinterpret_cast<const char*>(initial.data()),
               static_cast<std::streamsize>(initial.size() * 4));
    std::ofstream p(dir / "participants.csv");
    for (std::size_t i = 0; i < r.nodes; ++i)
      p << client::derive_node_key(kKeySeed, i).address().to_checksum() << ",1\n";
  }
  const std::string bridge = add_namespace("sw");
  run_step("ip -n " + bridge + " link add br0 type bridge");
  run_step("ip -n " + bridge + " link set br0 up");
  std::size_t port = 0;
  const std::string common =
      "coordinator = \"" + std::string(kCoordinatorIp) + ":" + std::to_string(kStorePort) +
      "\"\ntimeout_seconds = 120.0\ncount = " + std::to_string(r.shards) + "\n";
  Member coordinator =
      make_member(dir, r, "coordinator", add_host(bridge, "c", kCoordinatorIp, r.rate, port++),
                  kCoordinatorIp, "[shard]\nrole = \"coordinator\"\n" + common);
  std::vector<Member> shards;
  for (std::size_t k = 0; k < r.shards; ++k)
    shards.push_back(make_member(
        dir, r, "shard" + std::to_string(k),
        add_host(bridge, "s" + std::to_string(k), shard_ip(k), r.rate, port++), shard_ip(k),
        "[shard]\nrole = \"shard\"\nindex = " + std::to_string(k) + "\nhost = \"" + shard_ip(k) +
            "\"\n" + common));
  const std::string nodes_ns = add_host(bridge, "n", kNodesIp, "", port++);
  std::optional<Member> single;
  if (r.check) single = make_member(dir, r, "single", nodes_ns, "127.0.0.1", "");

  start_member(coordinator);
  for (auto& s : shards) start_member(s);
  if (single) start_member(*single);
  wait_serving(coordinator);
  for (auto& s : shards) wait_serving(s);
  if (single) wait_serving(*single);

  {
    std::ofstream plan(dir / "plan.txt");
    for (const auto& s : shards)
      plan << "shard " << s.endpoint() << " " << s.register_endpoint() << " " << s.public_key << " "
           << s.process->pid() << "\n";
    if (single)
      plan << "single " << single->endpoint() << " " << single->register_endpoint() << " "
           << single->public_key << " 0\n";
  }
  const fs::path nodes_log = dir / "nodes.log";
  const pid_t nodes = spawn_in(nodes_ns,
                               {self, "--role", "nodes", "--nodes", std::to_string(r.nodes), "--d",
                                std::to_string(r.d), "--plan", (dir / "plan.txt").string()},
                               nodes_log);
  const int status = wait_exit(nodes);
  const std::string out = slurp(nodes_log);
  const auto at = out.find("RESULT ");
  if (status != 0 || at == std::string::npos)
    throw std::runtime_error("the nodes failed (exit " + std::to_string(status) + "):\n" + out);
  RunResult result;
  result.nodes = json::parse(out.substr(at + 7, out.find('\n', at) - at - 7));

  // Every update committed on every shard: each shard's record lists every node, accepted.
  const auto lower = [](std::string a) {
    for (auto& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return a;
  };
  std::set<std::string> participants;
  for (std::size_t i = 0; i < r.nodes; ++i)
    participants.insert(lower(client::derive_node_key(kKeySeed, i).address().to_checksum()));
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const json recs = json::parse(server::round_records_json(shards[k].data_dir, 1));
    if (recs.size() != 1) {
      result.problems.push_back("shard " + std::to_string(k) + " has no record of round 1");
      continue;
    }
    std::set<std::string> seen;
    for (const auto& row : recs[0]["update_rows"])
      seen.insert(lower(row["address"].get<std::string>()));
    if (seen != participants)
      result.problems.push_back("shard " + std::to_string(k) + "'s record lists " +
                                std::to_string(seen.size()) + " updates, not the " +
                                std::to_string(r.nodes) + " nodes'");
    if (recs[0]["outcome"] != "accepted")
      result.problems.push_back("shard " + std::to_string(k) + "'s round 1: " +
                                recs[0]["outcome"].dump() + " " + recs[0].value("reason", ""));
  }
  // The coordinator's record: S parts, each with every update, no error.
  // It appends the line once every shard's result is in (the shards published theirs before
  // closing the round); a line still being written does not parse yet.
  const fs::path record = coordinator.data_dir / "shard_rounds.jsonl";
  for (const auto until = Clock::now() + std::chrono::seconds(60);
       result.coordinator.is_null() && Clock::now() < until;) {
    for (const auto& line : split(slurp(record), '\n')) {
      const json rec = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (rec.is_object() && rec.value("round", std::uint64_t{0}) == 1) result.coordinator = rec;
    }
    if (result.coordinator.is_null()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (result.coordinator.is_null()) {
    result.problems.push_back("the coordinator recorded no round 1");
  } else {
    if (result.coordinator["outcome"] != "aggregated")
      result.problems.push_back("the coordinator's round 1: " + result.coordinator.dump());
    if (result.coordinator["parts"].size() != r.shards)
      result.problems.push_back("the coordinator's round 1 has " +
                                std::to_string(result.coordinator["parts"].size()) + " parts");
    for (const auto& part : result.coordinator["parts"])
      if (part.value("updates", std::size_t{0}) != r.nodes || part.value("error", "x") != "")
        result.problems.push_back("the coordinator's part: " + part.dump());
  }
  if (r.check) {
    const json& n = result.nodes;
    if (n["check_model_size"][0] != r.d || n["check_model_size"][1] != r.d)
      result.problems.push_back("model sizes " + n["check_model_size"].dump());
    if (n["check_coordinates_differing"] != 0)
      result.problems.push_back(n["check_coordinates_differing"].dump() +
                                " coordinates of the shards' model differ from the single "
                                "murmurd's");
    if (n["check_same_update_hashes"] != r.nodes)
      result.problems.push_back("split-upload hashes equal to the whole uploads': " +
                                n["check_same_update_hashes"].dump());
  }
  return result;
}

/// Whether this host lets us make network namespaces, veth pairs and tc tbf; the reason if not.
std::string namespaces_refused() {
  if (::geteuid() != 0) return "not root";
  if (sh("{ command -v ip && command -v tc; }") != 0) return "`ip` or `tc` (iproute2) is missing";
  const std::string a = owned.prefix + "probe-a", b = owned.prefix + "probe-b";
  std::string why;
  if (sh("ip netns add " + a) != 0) return "`ip netns add` is refused";
  if (sh("ip netns add " + b) != 0) why = "`ip netns add` is refused";
  if (why.empty() && sh("ip netns exec " + a + " true") != 0) why = "`ip netns exec` is refused";
  if (why.empty() && sh("ip link add h0 netns " + a + " type veth peer name h1 netns " + b) != 0)
    why = "veth pairs are refused";
  if (why.empty() && sh("ip netns exec " + a +
                        " tc qdisc add dev h0 root tbf rate 200mbit burst 256kb "
                        "latency 100ms") != 0)
    why = "tc tbf is refused";
  sh("ip netns del " + a);
  sh("ip netns del " + b);
  return why;
}

/// tc's rate ("200mbit", "1gbit", "500kbit") in bytes per second; 0 when unlimited or unknown.
double link_bytes_per_second(const std::string& rate) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(rate, &used);
  } catch (const std::exception&) {
    return 0;
  }
  const std::string unit = rate.substr(used);
  const double bits = unit == "kbit" ? 1e3 : unit == "mbit" ? 1e6 : unit == "gbit" ? 1e9 : 0;
  return v * bits / 8;
}

int orchestrate(const std::string& self, const Args& a) {
  owned.prefix = "mshards-" + std::to_string(::getpid()) + "-";
  start_signal_thread();
  const auto sizes = split(arg(a, "--shards", "1,2,4"), ',');
  RunSpec spec;
  spec.nodes = num(a, "--nodes", 16);
  const std::size_t mib = num(a, "--mib-per-node", 8);
  spec.d = mib * 1024 * 1024 / 4;
  spec.rate = arg(a, "--rate", "200mbit");
  if (spec.rate == "none") spec.rate.clear();
  spec.rule = arg(a, "--rule", "fedavg");
  spec.chunk_bytes = num(a, "--chunk-kib", 1024) * 1024;
  spec.check = a.count("--check") > 0;
  ::alarm(static_cast<unsigned>(num(a, "--deadline", 170)));
  sweep_stale();
  if (const std::size_t mib_c = num(a, "--commitment-mib", 64); mib_c > 0) commitment_cost(mib_c);
  if (sizes.empty()) return 0;
  if (const std::string why = namespaces_refused(); !why.empty()) {
    std::printf(
        "bench/shards: network namespaces are not permitted here (%s; it needs root, "
        "`ip netns add` and `exec`, veth pairs and tc tbf): nothing measured\n",
        why.c_str());
    return kNotPermitted;
  }
  const fs::path base =
      a.count("--keep") ? fs::path(a.at("--keep")) : fs::temp_directory_path() / owned.prefix;
  owned.dir = base, owned.keep = a.count("--keep") > 0;
  std::printf(
      "bench/shards: %zu nodes x %zu MiB (D = %zu), rule %s, chunks of %zu KiB; murmurd shard "
      "sets, each shard and the coordinator in its own network namespace, links %s each way per "
      "host (tc tbf), the nodes' link unlimited%s; load average before: %.2f on %ld CPUs\n",
      spec.nodes, mib, spec.d, spec.rule.c_str(), spec.chunk_bytes / 1024,
      spec.rate.empty() ? "unlimited" : spec.rate.c_str(),
      spec.check ? "; --check: a plain murmurd takes the same updates" : "", load1(),
      ::sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("%-3s %-11s %-9s %-8s %-9s %-10s %-9s %-10s %-10s %-8s %-9s %-8s\n", "S", "bytes",
              "ingest_s", "MB/s", "x_S*S1", "target", "link_use", "shard_cpu", "client_cpu", "busy",
              "load1", "close_s");
  double base_rate = 0;
  int failed = 0;
  std::string details;
  for (const auto& s_text : sizes) {
    spec.shards = std::stoull(s_text);
    RunResult res;
    try {
      res = run_set(self, spec, base / ("S" + s_text));
    } catch (const std::exception& e) {
      std::printf("S = %s failed: %s\n", s_text.c_str(), e.what());
      cleanup();
      return 1;
    }
    cleanup();  // this set's processes, namespaces and data, before the next set starts
    const json& n = res.nodes;
    const double seconds = n["ingest_seconds"], bytes = n["bytes"];
    const double rate = bytes / seconds;
    if (spec.shards == 1) base_rate = rate;
    const double ratio = rate / (static_cast<double>(spec.shards) * base_rate);
    const std::string ratio_text = base_rate > 0 ? std::to_string(ratio).substr(0, 4) : "-";
    const double link = link_bytes_per_second(spec.rate);
    const std::string link_text =
        link > 0 ? std::to_string(rate / (link * static_cast<double>(spec.shards))).substr(0, 4)
                 : "-";
    std::printf("%-3zu %-11.0f %-9.3f %-8.1f %-9s %-10s %-9s %-10.2f %-10.2f %-8.2f %-9s %-8.2f\n",
                spec.shards, bytes, seconds, rate / 1e6, ratio_text.c_str(),
                spec.shards == 1 || base_rate == 0 ? "-" : (ratio >= 0.8 ? ">=0.8 met" : "NOT met"),
                link_text.c_str(), n["shard_cpu_seconds"].get<double>(),
                n["client_cpu_seconds"].get<double>(), n["machine_busy"].get<double>(),
                (std::to_string(n["load1_before"].get<double>()).substr(0, 4) + "-" +
                 std::to_string(n["load1_after"].get<double>()).substr(0, 4))
                    .c_str(),
                n["close_seconds"].get<double>());
    std::fflush(stdout);
    char per_gb[160];
    std::snprintf(per_gb, sizeof per_gb,
                  "CPU per GB ingested: shards %.2f core-s, nodes %.2f core-s; ",
                  n["shard_cpu_seconds"].get<double>() / (bytes / 1e9),
                  n["client_cpu_seconds"].get<double>() / (bytes / 1e9));
    details += "S=" + s_text + ": " + per_gb + std::to_string(n["restarts"].get<std::uint64_t>()) +
               " upload restarts, " + std::to_string(n["bytes_resent"].get<std::uint64_t>()) +
               " bytes resent; collectives per shard (s, reductions, doubles sent):";
    if (!res.coordinator.is_null())
      for (const auto& part : res.coordinator["parts"])
        details += " [" + std::to_string(part.value("collective_seconds", 0.0)).substr(0, 6) +
                   ", " + std::to_string(part.value("reductions", 0)) + ", " +
                   std::to_string(part.value("doubles_sent", 0)) + "]";
    details += res.problems.empty() ? "; every update committed on every shard, the "
                                      "coordinator recorded every part"
                                    : "";
    if (spec.check && res.problems.empty())
      details += "; the shards' model equals the single murmurd's bit for bit (" +
                 std::to_string(spec.d) + " coordinates), the split hashes its b3sum";
    details += "\n";
    for (const auto& p : res.problems) details += "  PROBLEM: " + p + "\n", ++failed;
  }
  std::printf(
      "\nx_S*S1: throughput over S times the S = 1 throughput; link_use: throughput over S "
      "times the shards' link rate; shard_cpu / client_cpu: CPU "
      "seconds of all shard murmurds / of the nodes' process during the ingest; busy: the "
      "machine's CPUs busy over the ingest; load1: load average before-after the ingest; "
      "close_s: last commit to every shard's round closed (aggregation, vote window 1 s)\n%s",
      details.c_str());
  std::printf("load average after: %.2f\n", load1());
  cleanup();
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--check")
      a.emplace(k, std::string(1, 'y'));
    else if (i + 1 < argc)
      a[k] = argv[++i];
  }
  try {
    if (arg(a, "--role", "") == "nodes") return run_nodes(a);
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) throw std::runtime_error("cannot find this program's path");
    self[n] = 0;
    const int rc = orchestrate(self, a);
    cleanup();
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench/shards: %s\n", e.what());
    cleanup();
    return 1;
  }
}
