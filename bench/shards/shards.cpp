// bench/shards: a round's ingest and collectives across S = 1, 2, 4 shard hosts, each host a
// network namespace behind a veth pair rate-limited by `tc tbf` (200 Mbit/s each way by
// default), so the link is the bottleneck as on a real cluster:
//
//   msh-sw   a bridge every host's veth pair plugs into
//   msh-c    the coordinator (10.77.0.1): serves the TCPStore the shards rendezvous through
//   msh-sK   shard K (10.77.0.(10+K)): receives every node's part K over TCP, then runs
//            aggregate_shard (Gloo over its own link) on the rows it received
//   msh-n    the nodes (10.77.0.100): N node uploads, each split at the shards' boundaries
//            (shard::partition), part K pushed to shard K; this link is not rate-limited (it
//            stands for N hosts' links)
//
// murmurd has no shard mode yet (docs/sharding.md): the parts travel as a plain TCP push (a
// 12-byte header, the bytes, a 1-byte acknowledgement once all arrived), not murmurd's upload
// protocol, and land in memory, not in a spool. The figures: round ingest time (first byte sent
// to the last part acknowledged) and throughput, its ratio to S = 1, and per shard the time of
// its collectives (allgathers of aggregate_shard, over the same rate-limited links).
//
//   shards [--shards 1,2,4] [--nodes 16] [--mib-per-node 12] [--rate 200mbit]
//          [--rules "weighted-mean(clip=arc, f=2);krum(f=2);median"] [--commitment-mib 256]
//
// First, on this host: the split-upload commitment's cost against the plain BLAKE3 update
// hash (protocol/part_commitment.hpp), same run, same bytes. `--shards ""` stops there.
//
// Needs root and network namespaces; says so and measures nothing otherwise (exit status 2).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/protocol/blake3.hpp"
#include "murmur/protocol/part_commitment.hpp"
#include "murmur/shard/sharded_aggregate.hpp"

extern char** environ;

namespace {

using namespace murmur;
using Clock = std::chrono::steady_clock;

constexpr std::uint16_t kDataPort = 5555, kStorePort = 29577;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string shard_ip(std::size_t k) {
  return "10.77.0." + std::to_string(10 + k);
}

// ---- the network -----------------------------------------------------------------------

int sh(const std::string& command, bool quiet = false) {
  const int status = std::system((command + (quiet ? " >/dev/null 2>&1" : "")).c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void teardown(std::size_t max_shards) {
  for (const std::string ns : {"msh-c", "msh-n", "msh-sw"}) sh("ip netns del " + ns, true);
  for (std::size_t k = 0; k < max_shards; ++k) sh("ip netns del msh-s" + std::to_string(k), true);
}

/// A host namespace plugged into the bridge; `rate` empty: no limit.
void add_host(const std::string& ns, const std::string& ip, const std::string& rate) {
  const std::string v = "v-" + ns, b = "b-" + ns;
  const std::vector<std::string> steps = {
      "ip netns add " + ns,
      "ip link add " + v + " type veth peer name " + b,
      "ip link set " + v + " netns " + ns,
      "ip link set " + b + " netns msh-sw",
      "ip netns exec msh-sw ip link set " + b + " master msh-br up",
      "ip netns exec " + ns + " ip addr add " + ip + "/24 dev " + v,
      "ip netns exec " + ns + " ip link set " + v + " up",
      "ip netns exec " + ns + " ip link set lo up"};
  for (const auto& s : steps)
    if (sh(s) != 0) throw std::runtime_error("network setup failed at: " + s);
  if (rate.empty()) return;
  // Egress of the host (its uploads) and egress of the bridge port towards it (its downloads).
  const std::string tbf = " root tbf rate " + rate + " burst 256kb latency 100ms";
  if (sh("ip netns exec " + ns + " tc qdisc add dev " + v + tbf) != 0 ||
      sh("ip netns exec msh-sw tc qdisc add dev " + b + tbf) != 0)
    throw std::runtime_error("tc tbf refused on " + ns);
}

void setup(std::size_t shards, const std::string& rate) {
  if (sh("ip netns add msh-sw") != 0) throw std::runtime_error("ip netns add failed");
  if (sh("ip netns exec msh-sw ip link add msh-br type bridge") != 0 ||
      sh("ip netns exec msh-sw ip link set msh-br up") != 0)
    throw std::runtime_error("bridge setup failed");
  add_host("msh-c", "10.77.0.1", rate);
  add_host("msh-n", "10.77.0.100", "");
  for (std::size_t k = 0; k < shards; ++k) add_host("msh-s" + std::to_string(k), shard_ip(k), rate);
}

// ---- sockets ---------------------------------------------------------------------------

void send_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    c += w, n -= static_cast<std::size_t>(w);
  }
}

void recv_all(int fd, void* p, std::size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::recv(fd, c, n, 0);
    if (r <= 0) throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
    c += r, n -= static_cast<std::size_t>(r);
  }
}

int connect_retry(const std::string& ip, std::uint16_t port, std::chrono::seconds limit) {
  const auto start = Clock::now();
  for (;;) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    ::close(fd);
    if (Clock::now() - start > limit) throw std::runtime_error("cannot connect to " + ip);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

/// Node i's value at coordinate j: a cheap hash in [-1, 1), nodes 0 and 1 scaled by 30 (the
/// attackers the robust rules should reject).
float value(std::size_t i, std::size_t j) {
  std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (j * 0xBF58476D1CE4E5B9ull);
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  const float v = static_cast<float>(x >> 40) / static_cast<float>(1 << 23) - 1.0f;
  return i < 2 ? 30.0f * v : v;
}

// ---- roles -----------------------------------------------------------------------------

using Args = std::map<std::string, std::string>;

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

/// The coordinator: serves the store until every shard has reported, then exits.
int run_coordinator(const Args& a) {
  const std::size_t shards = num(a, "--shards", 1);
  auto store = shard::Rendezvous::serve("10.77.0.1", kStorePort, std::chrono::seconds(120));
  std::vector<std::string> keys;
  for (std::size_t k = 0; k < shards; ++k) keys.push_back("done/" + std::to_string(k));
  store->wait(keys, std::chrono::seconds(300));
  return 0;
}

/// Shard K: takes N parts over TCP, then aggregates its range with the others.
int run_shard(const Args& a) {
  const std::size_t k = num(a, "--rank", 0), shards = num(a, "--shards", 1);
  const std::size_t nodes = num(a, "--nodes", 16), d = num(a, "--d", 0);
  const shard::CoordinateRange range = shard::partition(d, shards)[k];
  std::vector<float> rows(nodes * range.size());
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(kDataPort);
  ::inet_pton(AF_INET, shard_ip(k).c_str(), &addr.sin_addr);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 64) != 0)
    throw std::runtime_error("shard cannot listen: " + std::string(std::strerror(errno)));
  // One thread per connection; every node sends its part on its own connection.
  std::vector<std::thread> readers;
  Clock::time_point first{};
  std::atomic<std::size_t> received{0}, failures{0};
  for (std::size_t c = 0; c < nodes; ++c) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (c == 0) first = Clock::now();
    readers.emplace_back([&, fd] {
      try {
        std::uint32_t node = 0;
        std::uint64_t bytes = 0;
        recv_all(fd, &node, sizeof node);
        recv_all(fd, &bytes, sizeof bytes);
        if (node >= nodes || bytes != range.size() * sizeof(float))
          throw std::runtime_error("bad part header");
        recv_all(fd, rows.data() + node * range.size(), bytes);
        received += bytes;
        const char ack = 1;
        send_all(fd, &ack, 1);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "shard %zu: a part failed: %s\n", k, e.what());
        failures += 1;
      }
      ::close(fd);
    });
  }
  for (auto& t : readers) t.join();
  if (failures > 0) return 1;
  const double ingest = seconds_since(first);
  ::close(listener);

  auto store = shard::Rendezvous::connect("10.77.0.1", kStorePort, std::chrono::seconds(60));
  const auto group_start = Clock::now();
  auto collective =
      shard::make_gloo_collective(*store, k, shards, shard_ip(k), std::chrono::seconds(60));
  const double group = seconds_since(group_start);
  auto backend = kernels::make_cpu_backend(1);
  const kernels::MemoryRowSource source(rows, nodes, range.size());
  const std::vector<double> counts(nodes, 1.0);
  std::printf(
      "shard %zu range [%zu, %zu) received %zu bytes in %.3f s; Gloo group formed in %.3f s\n", k,
      range.begin, range.end, received.load(), ingest, group);
  for (const std::string& rule : split(a.at("--rules"), ';')) {
    std::vector<float> out(range.size());
    const auto start = Clock::now();
    const shard::ShardOutcome o = shard::aggregate_shard(
        *backend, source, range, counts, kernels::parse_aggregation(rule), *collective, out);
    std::size_t kept = 0;
    for (const auto& r : o.report.rows) kept += r.verdict == kernels::Verdict::kKept;
    std::printf(
        "shard %zu rule %s: %.3f s in all, %zu allgathers of %zu doubles sent in "
        "%.4f s, %zu of %zu rows kept\n",
        k, rule.c_str(), seconds_since(start), o.reductions, o.doubles_sent, o.collective_seconds,
        kept, nodes);
  }
  // The Gram reduction alone, at the sizes of N = 16, 100 and 1000 rows (N^2 + N doubles), each
  // time after an allgather that lines the shards up: Gloo over the rate-limited links.
  shard::ShardReducer reducer(*collective);
  for (const auto& [rows_n, reps] : {std::pair<std::size_t, int>{16, 10}, {100, 10}, {1000, 2}}) {
    std::vector<double> buf(rows_n * rows_n + rows_n, 1.0), line(1, 0.0);
    double total = 0;
    for (int r = 0; r < reps; ++r) {
      reducer.sum(line);
      const auto start = Clock::now();
      reducer.sum(buf);
      total += seconds_since(start);
    }
    std::printf("shard %zu Gram reduction for N = %zu (%zu doubles): %.4f s\n", k, rows_n,
                buf.size(), total / reps);
  }
  store->set("done/" + std::to_string(k), std::span<const std::uint8_t>());
  return 0;
}

/// The nodes: every node's part K to shard K, four connections at a time per shard.
int run_nodes(const Args& a) {
  const std::size_t shards = num(a, "--shards", 1), nodes = num(a, "--nodes", 16);
  const std::size_t d = num(a, "--d", 0);
  const auto ranges = shard::partition(d, shards);
  // Parts are made before the clock starts, so the figure is the network's alone.
  std::vector<std::vector<float>> parts(nodes * shards);
  for (std::size_t i = 0; i < nodes; ++i)
    for (std::size_t k = 0; k < shards; ++k) {
      auto& p = parts[i * shards + k];
      p.resize(ranges[k].size());
      for (std::size_t j = 0; j < p.size(); ++j) p[j] = value(i, ranges[k].begin + j);
    }
  constexpr std::size_t kStreams = 4;
  std::atomic<std::size_t> failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> senders;
  for (std::size_t k = 0; k < shards; ++k)
    for (std::size_t t = 0; t < kStreams; ++t)
      senders.emplace_back([&, k, t] {
        try {
          for (std::size_t i = t; i < nodes; i += kStreams) {
            const int fd = connect_retry(shard_ip(k), kDataPort, std::chrono::seconds(30));
            const std::uint32_t node = static_cast<std::uint32_t>(i);
            const std::uint64_t bytes = ranges[k].size() * sizeof(float);
            send_all(fd, &node, sizeof node);
            send_all(fd, &bytes, sizeof bytes);
            send_all(fd, parts[i * shards + k].data(), bytes);
            char ack = 0;
            recv_all(fd, &ack, 1);
            ::close(fd);
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "nodes: a part to shard %zu failed: %s\n", k, e.what());
          failures += 1;
        }
      });
  for (auto& t : senders) t.join();
  if (failures > 0) return 1;
  const double s = seconds_since(start);
  std::printf("nodes: %zu bytes to %zu shards in %.3f s\n", nodes * d * sizeof(float), shards, s);
  return 0;
}

// ---- the commitment's cost --------------------------------------------------------------

/// The best wall time of each of f, g and h over 5 rounds, interleaved (f, g, h, f, g, h, ...)
/// so that a loaded machine's swings fall on all three alike.
template <class F, class G, class H>
std::array<double, 3> best_of_5(F f, G g, H h) {
  std::array<double, 3> best = {1e30, 1e30, 1e30};
  for (int i = 0; i < 5; ++i) {
    auto start = Clock::now();
    f();
    best[0] = std::min(best[0], seconds_since(start));
    start = Clock::now();
    g();
    best[1] = std::min(best[1], seconds_since(start));
    start = Clock::now();
    h();
    best[2] = std::min(best[2], seconds_since(start));
  }
  return best;
}

/// A split upload's commitment against the plain update hash, same run, same bytes: the node's
/// commit_parts for S = 4 and a shard's check_part of its part (per byte of the part).
void commitment_cost(std::size_t mib) {
  const std::size_t d = mib * 1024 * 1024 / 4;
  std::vector<float> update(d);
  for (std::size_t j = 0; j < d; ++j) update[j] = value(7, j);
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(update.data()),
                                            d * 4);
  const auto boundaries = shard::byte_boundaries(shard::partition(d, 4));
  chain::Hash32 plain{};
  protocol::SplitCommitment c;
  c = protocol::commit_parts(bytes, boundaries);
  const auto part = bytes.subspan(c.parts[1].begin, c.parts[1].end - c.parts[1].begin);
  const auto [t_plain, t_commit, t_check] =
      best_of_5([&] { plain = protocol::blake3(bytes); },
                [&] { c = protocol::commit_parts(bytes, boundaries); },
                [&] { protocol::check_part(c, 1, part); });
  const double gb = static_cast<double>(bytes.size()) / 1e9;
  std::printf(
      "commitment, %zu MiB update, BLAKE3 backend %s, best of 5 interleaved: Blake3 of the whole "
      "%.2f GB/s; commit_parts (S = 4) %.2f GB/s (%.2fx); check_part of part 1 "
      "%.2f GB/s of its bytes (%.2fx); same hash: %s\n\n",
      mib, std::string(protocol::blake3_detail::backend()).c_str(), gb / t_plain, gb / t_commit,
      t_plain / t_commit, static_cast<double>(part.size()) / 1e9 / t_check,
      (static_cast<double>(part.size()) / 1e9 / t_check) / (gb / t_plain),
      plain == c.hash ? "yes" : "NO");
}

// ---- the orchestrator -------------------------------------------------------------------

pid_t spawn_in(const std::string& ns, const std::vector<std::string>& args,
               const std::string& log) {
  std::vector<std::string> all = {"/usr/bin/ip", "netns", "exec", ns};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& x : all) argv.push_back(x.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("cannot start a process in " + ns);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int wait_ok(pid_t pid, const std::string& what, const std::string& log) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    std::fprintf(stderr, "%s failed:\n%s\n", what.c_str(), s.str().c_str());
    return 1;
  }
  return 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int orchestrate(const std::string& self, const Args& a) {
  const auto sizes = split(a.count("--shards") ? a.at("--shards") : "1,2,4", ',');
  const std::size_t nodes = num(a, "--nodes", 16), mib = num(a, "--mib-per-node", 12);
  const std::string rate = a.count("--rate") ? a.at("--rate") : "200mbit";
  const std::string rules =
      a.count("--rules") ? a.at("--rules") : "weighted-mean(clip=arc, f=2);krum(f=2);median";
  const std::size_t d = mib * 1024 * 1024 / 4;
  std::size_t max_shards = 0;
  for (const auto& s : sizes) max_shards = std::max<std::size_t>(max_shards, std::stoull(s));
  commitment_cost(num(a, "--commitment-mib", 256));
  if (sizes.empty()) return 0;
  if (::geteuid() != 0 || sh("ip netns add msh-probe", true) != 0) {
    std::printf(
        "bench/shards: network namespaces are not permitted here (needs root and "
        "`ip netns add`): nothing measured\n");
    return 2;
  }
  sh("ip netns del msh-probe", true);
  const std::string logs = "/tmp/msh-logs";
  sh("mkdir -p " + logs);
  std::printf(
      "bench/shards: %zu nodes x %zu MiB (D = %zu), links %s each way per host (tc tbf), "
      "nodes' link unlimited; rules: %s\n",
      nodes, mib, d, rate.c_str(), rules.c_str());
  std::printf("%-3s %-12s %-10s %-12s %-10s\n", "S", "bytes", "ingest_s", "MB/s", "x_S1");
  double base = 0;
  std::string details;
  for (const auto& s_text : sizes) {
    const std::size_t shards = std::stoull(s_text);
    teardown(max_shards);
    try {
      setup(shards, rate);
    } catch (const std::exception& e) {
      teardown(max_shards);
      std::printf("bench/shards: %s: nothing measured\n", e.what());
      return 2;
    }
    const std::string common_d = std::to_string(d), common_n = std::to_string(nodes);
    const pid_t coord = spawn_in("msh-c", {self, "--role", "coordinator", "--shards", s_text},
                                 logs + "/coordinator.log");
    std::vector<pid_t> shard_pids;
    for (std::size_t k = 0; k < shards; ++k)
      shard_pids.push_back(
          spawn_in("msh-s" + std::to_string(k),
                   {self, "--role", "shard", "--rank", std::to_string(k), "--shards", s_text,
                    "--nodes", common_n, "--d", common_d, "--rules", rules},
                   logs + "/shard" + std::to_string(k) + ".log"));
    const pid_t node_pid = spawn_in(
        "msh-n",
        {self, "--role", "nodes", "--shards", s_text, "--nodes", common_n, "--d", common_d},
        logs + "/nodes.log");
    int failed = wait_ok(node_pid, "nodes", logs + "/nodes.log");
    for (std::size_t k = 0; k < shards; ++k)
      failed += wait_ok(shard_pids[k], "shard " + std::to_string(k),
                        logs + "/shard" + std::to_string(k) + ".log");
    failed += wait_ok(coord, "coordinator", logs + "/coordinator.log");
    teardown(max_shards);
    if (failed) return 1;
    const std::string out = slurp(logs + "/nodes.log");
    const double seconds = std::stod(out.substr(out.find(" in ") + 4));
    const double bytes = static_cast<double>(nodes * d * 4);
    if (shards == 1 || base == 0) base = bytes / seconds;
    std::printf("%-3zu %-12.0f %-10.3f %-12.1f %-10.2f\n", shards, bytes, seconds,
                bytes / seconds / 1e6, bytes / seconds / base);
    for (std::size_t k = 0; k < shards; ++k)
      details += "S=" + s_text + " " + slurp(logs + "/shard" + std::to_string(k) + ".log");
  }
  std::printf("\nper shard (ingest, then each rule's aggregate_shard and its allgathers):\n%s",
              details.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  try {
    const std::string role = a.count("--role") ? a["--role"] : "";
    if (role == "coordinator") return run_coordinator(a);
    if (role == "shard") return run_shard(a);
    if (role == "nodes") return run_nodes(a);
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) throw std::runtime_error("cannot find this program's path");
    self[n] = 0;
    return orchestrate(self, a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench/shards: %s\n", e.what());
    teardown(8);
    return 1;
  }
}
