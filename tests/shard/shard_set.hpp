#pragma once
// A murmurd shard set on loopback for tests: a coordinator and S shard processes (and, for
// comparison, a single murmurd), each a child `murmurd --config FILE` writing its own log
// (testing::MurmurdProcess, shared with bench/shards); the configurations written from one
// description (testing::MurmurdToml) so that every process serves the same task.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/server/server.hpp"
#include "murmur/testing/murmurd_process.hpp"
#include "murmur/testing/temp_dir.hpp"

namespace murmur::testing {

inline constexpr std::uint64_t kShardKeySeed = 20261203;

/// What every process of a test serves.
struct ShardTask {
  std::size_t nodes = 6;
  std::uint64_t parameters = 3 * 4096 + 1000;  ///< ragged: the last range is not whole units
  std::string rule = "fedavg";                 ///< [aggregation] rule, a name or a whole spec
  std::uint64_t rounds = 1;
  double upload_seconds = 60;
  double shard_timeout_seconds = 60;
  std::size_t chunk_bytes = 16u << 10;
  std::uint32_t proposer_bps = 10000;  ///< every node a proposer unless lowered
  std::size_t quorum = 0;              ///< [round] quorum; 0: every node
  std::size_t vote_quorum = 0;
  double vote_seconds = 5.0;
  /// TOML appended to the coordinator's and the single murmurd's configuration (never a
  /// shard's), e.g. a [validation] table.
  std::string coordinator_tables;
  std::uint64_t task_id = 7, chain_id = 31337;
  std::string contract = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
};

/// One murmurd's endpoints and keys (a shard's, the single one's or the coordinator's).
struct Member {
  std::string endpoint, register_endpoint, public_key, secret_key;
  int metrics_port = 0;  ///< /metrics on 127.0.0.1 (a shard's or the single murmurd's)
  std::filesystem::path config, data_dir, log;
  std::unique_ptr<MurmurdProcess> process;
};

/// A coordinator and S shards, plus optionally a single murmurd, configured for `task` under
/// `dir`; the initial model is a seeded f32 file (nonzero, so a shard reading the wrong slice of
/// it shows).
class ShardSetFixture {
 public:
  ShardSetFixture(const std::filesystem::path& dir, std::size_t shards, ShardTask task, bool single)
      : dir_(dir), task_(task), count_(shards), with_single_(single) {
    initial_.resize(task.parameters);
    for (std::size_t j = 0; j < initial_.size(); ++j)
      initial_[j] = 0.001f * static_cast<float>(static_cast<int>(j % 97) - 48);
    std::ofstream(dir / "initial.f32", std::ios::binary)
        .write(reinterpret_cast<const char*>(initial_.data()),
               static_cast<std::streamsize>(initial_.size() * 4));
    {
      std::ofstream p(dir / "participants.csv");
      for (std::size_t i = 0; i < task.nodes; ++i)
        p << client::derive_node_key(kShardKeySeed, i).address().to_checksum() << ",1\n";
    }
    configure();
  }

  Member& coordinator() { return *coordinator_; }
  Member& shard(std::size_t k) { return *shards_[k]; }
  std::size_t shards() const { return shards_.size(); }
  Member* single() { return single_.get(); }
  const std::vector<float>& initial() const { return initial_; }
  const ShardTask& task() const { return task_; }

  /// Starts the coordinator, then every shard (and the single murmurd); waits until each serves.
  /// The loopback ports were free when drawn, but another process may bind one before murmurd
  /// does: then everything is stopped, given fresh ports and empty data directories, and
  /// started again (at most 3 times).
  void start_all() {
    for (int attempt = 1;; ++attempt) {
      std::vector<Member*> all{coordinator_.get()};
      for (auto& s : shards_) all.push_back(s.get());
      if (single_) all.push_back(single_.get());
      for (Member* m : all) m->process->start();
      Member* failed = nullptr;
      for (Member* m : all)
        if (failed == nullptr && !m->process->wait_ready()) failed = m;
      if (failed == nullptr) return;
      const std::string log = failed->process->log_text();
      const bool port_taken = log.find("Address already in use") != std::string::npos ||
                              log.find("metrics: cannot listen") != std::string::npos ||
                              log.find("cannot serve the store") != std::string::npos;
      if (attempt == 3 || !port_taken)
        throw std::runtime_error(failed->config.string() + " did not serve: " + log);
      for (Member* m : all) {
        m->process->kill_now();
        std::filesystem::remove_all(m->data_dir);
      }
      configure();
    }
  }

  client::ClientOptions options(const Member& m, std::shared_ptr<zmq::context_t> ctx) const {
    client::ClientOptions o;
    o.endpoint = m.endpoint;
    o.register_endpoint = m.register_endpoint;
    o.server_public_key = m.public_key;
    o.timeout = std::chrono::seconds(10);
    o.retries = 4;
    o.context = std::move(ctx);
    return o;
  }

  chain::Eip712Domain domain() const {
    chain::Eip712Domain d;
    d.chain_id = task_.chain_id;
    d.verifying_contract = chain::Address::from_hex(task_.contract);
    return d;
  }

 private:
  /// Every member's configuration, with fresh loopback ports and Curve keys.
  void configure() {
    store_port_ = static_cast<std::uint16_t>(free_port());
    shards_.clear();
    coordinator_ = make_member("coordinator", "[shard]\nrole = \"coordinator\"\ncount = " +
                                                  std::to_string(count_) + "\n" + shard_common());
    for (std::size_t k = 0; k < count_; ++k)
      shards_.push_back(make_member("shard" + std::to_string(k),
                                    "[shard]\nrole = \"shard\"\nindex = " + std::to_string(k) +
                                        "\ncount = " + std::to_string(count_) + "\n" +
                                        shard_common() + "coordinator_key = \"" +
                                        coordinator_->public_key + "\"\n"));
    if (with_single_) single_ = make_member("single", "");
  }

  std::string shard_common() const {
    return "coordinator = \"127.0.0.1:" + std::to_string(store_port_) +
           "\"\nhost = \"127.0.0.1\"\ntimeout_seconds = " +
           std::to_string(task_.shard_timeout_seconds) + "\n";
  }

  std::unique_ptr<Member> make_member(const std::string& name, const std::string& shard_table) {
    auto m = std::make_unique<Member>();
    m->endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    m->metrics_port = free_port();
    m->register_endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    const auto [pub, sec] = server::curve_keypair();
    m->public_key = pub;
    m->secret_key = sec;
    m->config = dir_ / (name + ".toml");
    m->data_dir = dir_ / name;
    m->log = dir_ / (name + ".log");
    MurmurdToml toml;
    toml.endpoint = m->endpoint;
    toml.register_endpoint = m->register_endpoint;
    toml.metrics_port = m->metrics_port;
    toml.data_dir = m->data_dir;
    toml.curve_secret_key = m->secret_key;
    toml.chunk_bytes = task_.chunk_bytes;
    toml.peer_credits = 4;
    toml.task_id = task_.task_id;
    toml.chain_id = task_.chain_id;
    toml.contract = task_.contract;
    toml.parameters = task_.parameters;
    toml.rounds = task_.rounds;
    toml.proposer_bps = task_.proposer_bps;
    toml.initial_model = dir_ / "initial.f32";
    toml.participants = dir_ / "participants.csv";
    toml.upload_seconds = task_.upload_seconds;
    toml.vote_seconds = task_.vote_seconds;
    toml.quorum = task_.quorum ? task_.quorum : task_.nodes;
    toml.vote_quorum = task_.vote_quorum;
    toml.rule = task_.rule;
    toml.tables = shard_table;
    if (shard_table.empty() || shard_table.find("\"coordinator\"") != std::string::npos)
      toml.tables += task_.coordinator_tables;
    write_murmurd_toml(m->config, toml);
    m->process = std::make_unique<MurmurdProcess>(MURMURD, m->config, m->log);
    return m;
  }

  std::filesystem::path dir_;
  ShardTask task_;
  std::size_t count_;
  bool with_single_;
  std::uint16_t store_port_ = 0;
  std::vector<float> initial_;
  std::unique_ptr<Member> coordinator_, single_;
  std::vector<std::unique_ptr<Member>> shards_;
};

/// Node i's update: seeded values, node 0 an outlier (x30) so that robust rules have a row to
/// reject or trim.
inline std::vector<float> node_update(std::size_t i, std::uint64_t parameters) {
  std::vector<float> v(parameters);
  std::uint64_t s = 0x9E3779B97F4A7C15ull * (i + 1);
  for (auto& x : v) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    x = (static_cast<float>(s % 20001) / 10000.0f - 1.0f) * (i == 0 ? 30.0f : 1.0f);
  }
  return v;
}

/// One node's clients of the first `count` shards of a set (connect_shards).
struct ShardClients {
  std::vector<std::unique_ptr<client::NodeClient>> own;
  std::vector<client::NodeClient*> shards;  ///< `own`'s, in shard order (as upload_split takes)
};

/// Clients of shards 0 .. count-1 of `set`, each registered with `key` on chain 31337.
inline ShardClients connect_shards(ShardSetFixture& set, std::size_t count,
                                   const chain::PrivateKey& key,
                                   const std::shared_ptr<zmq::context_t>& ctx) {
  ShardClients c;
  for (std::size_t k = 0; k < count; ++k) {
    c.own.push_back(std::make_unique<client::NodeClient>(set.options(set.shard(k), ctx)));
    c.own.back()->register_node(key, 31337);
    c.shards.push_back(c.own.back().get());
  }
  return c;
}

/// Every node of `task` uploads node_update(i) split across the set's shards (each part to its
/// shard, round 1 of task 7, 1 + i % 3 samples), one thread a node; returns each node's error
/// ("" when its upload was acknowledged).
inline std::vector<std::string> upload_all_split(ShardSetFixture& set, const ShardTask& task,
                                                 std::size_t shard_count,
                                                 const std::shared_ptr<zmq::context_t>& ctx) {
  const auto domain = set.domain();
  std::vector<std::string> failures(task.nodes);
  std::vector<std::thread> nodes;
  for (std::size_t i = 0; i < task.nodes; ++i)
    nodes.emplace_back([&, i] {
      try {
        const auto key = client::derive_node_key(kShardKeySeed, i);
        const ShardClients c = connect_shards(set, shard_count, key, ctx);
        client::upload_split(c.shards, 7, 1, node_update(i, task.parameters), 1 + i % 3,
                             {&key, domain});
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  for (auto& t : nodes) t.join();
  return failures;
}

/// Polls `c`'s RoundInfo every 50 ms until `pred` holds or `limit` passes; the last one read.
template <typename Pred>
wire::RoundInfo wait_round(client::NodeClient& c, Pred pred,
                           std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  wire::RoundInfo info = c.round_info();
  while (!pred(info) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    info = c.round_info();
  }
  return info;
}

/// Waits (polling every millisecond, at most `limit`) until `process`'s log contains `text`;
/// whether it did.
inline bool wait_for_log(MurmurdProcess& process, const std::string& text,
                         std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (process.log_text().find(text) == std::string::npos &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return process.log_text().find(text) != std::string::npos;
}

/// GET http://127.0.0.1:port/path: the whole response (headers and body), "" when nothing
/// answers. The metrics server closes the connection after its reply.
inline std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

/// `murmurd rounds --config FILE` (its stdout).
inline std::string murmurd_rounds(const std::filesystem::path& config) {
  const std::string cmd = std::string(MURMURD) + " rounds --config " + config.string();
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("cannot run " + cmd);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

}  // namespace murmur::testing
