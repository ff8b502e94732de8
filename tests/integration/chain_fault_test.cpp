// murmurd with [chain] when the chain's JSON-RPC endpoint goes down (docs/reliability.md,
// "Faults are visible"): murmurd reaches a Hardhat node through a TCP relay of the test's own,
// opens round 1 on chain, then the relay stops (connections refused, as from a node that is
// down). The failed posting of round 1 is tried again with a pause until fault_limit_ms, then
// the round is left unsettled; the next rounds cannot be opened on chain and run on the local
// seed. Each of these is a counter in /metrics and a field of the round record. And when the
// endpoint answers again after the limit, murmurd brings the chain back up to its round (the
// round left open abandoned, the local-seed rounds opened and abandoned) and settles the later
// rounds on chain again: every record agrees with the chain, nothing is sent twice.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "chain/chain_fixture.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/server/server.hpp"
#include "murmur/server/state_view.hpp"
#include "network.hpp"
#include "round_record.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using chain::U256;

/// A loopback TCP relay to `target_port`, listening on `listen_port` (0: any free one); stop()
/// closes the listener and every connection, so that new connections are refused.
class Relay {
 public:
  explicit Relay(int target_port, int listen_port = 0) : target_(target_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(listen_port));
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener_, 64) != 0)
      throw std::runtime_error("relay: cannot listen on port " + std::to_string(listen_port));
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~Relay() {
    stop();
    if (accept_thread_.joinable()) accept_thread_.join();
    for (auto& t : pumps_) t.join();
  }
  int port() const { return port_; }
  void stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(listener_, SHUT_RDWR);
    std::lock_guard lock(mutex_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  void accept_loop() {
    while (!stopped_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) continue;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<std::uint16_t>(target_));
      if (stopped_ || ::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      std::lock_guard lock(mutex_);
      open_.push_back(client);
      open_.push_back(server);
      pumps_.emplace_back([client, server] {
        pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
        char buf[16384];
        for (bool open = true; open;) {
          if (::poll(fds, 2, 200) < 0) break;
          for (int i = 0; i < 2 && open; ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            open = n > 0 && ::write(fds[1 - i].fd, buf, static_cast<std::size_t>(n)) == n;
          }
        }
        ::close(client);
        ::close(server);
      });
    }
    ::close(listener_);
  }

  int target_, port_ = 0, listener_ = -1;
  std::atomic<bool> stopped_{false};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::vector<int> open_;
  std::vector<std::thread> pumps_;
};

double sample(const std::string& page, const std::string& name) {
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  return -1;
}

/// An AllianceTask task with two staked, joined nodes and an aggregator key of its own.
struct ChainTask {
  chain::PrivateKey aggregator_key;
  chain::Deployment dep;
  U256 task;
  std::uint64_t chain_id = 0;
};

class MurmurdChainDown : public chain::testing::LocalChainTest {
 protected:
  static constexpr std::size_t kNodes = 2;
  static constexpr std::uint64_t kStake = 100;

  ChainTask create_task(std::uint64_t rounds) {
    std::mt19937_64 rng(20261203);
    const chain::PrivateKey aggregator_key = funded_key(rng);
    chain::Wallet creator = wallet(funded_key(rng));
    chain::Wallet aggregator = wallet(aggregator_key);
    const chain::Deployment dep = deploy(creator);
    const U256 pool(1'000'000);
    const chain::TaskParams params{dep.token,
                                   pool,
                                   U256(rounds),
                                   U256(kStake),
                                   U256(5000),
                                   U256(1000),
                                   aggregator.address(),
                                   chain::keccak256(std::string_view("spec")),
                                   chain::keccak256(std::string_view("model 0"))};
    const U256 task = chain::testing::create_task(creator, dep, params);
    for (std::size_t i = 0; i < kNodes; ++i) {
      const chain::PrivateKey key = client::derive_node_key(kKeySeed, i);
      chain::testing::fund_stake_join(*eth_, creator, dep, chain::testing::TaskContract::alliance,
                                      task, key, U256(kStake));
    }
    return ChainTask{aggregator_key, dep, task, creator.chain_id()};
  }

  /// murmurd's configuration for `t` through the relay on `relay_port`: nobody uploads, so
  /// every round ends without quorum at its 1 s deadline and is abandoned.
  server::Config config_for(const ChainTask& t, const TempDir& dir, int relay_port,
                            std::uint64_t rounds) {
    server::Config cfg = test_config(dir.path() / "data", kNodes, 100);
    cfg.participants.clear();
    cfg.task_id = t.task.to_u64();
    cfg.chain_id = t.chain_id;
    cfg.contract = t.dep.alliance_task;
    cfg.rounds = rounds;
    cfg.quorum = 1;
    cfg.upload_window = 1s;
    cfg.fault_limit = 2000ms;
    cfg.metrics_port = free_port();
    server::ChainConfig chain_cfg;
    chain_cfg.rpc_url = "http://127.0.0.1:" + std::to_string(relay_port);
    chain_cfg.key_file = dir.path() / "aggregator.key";
    chain::write_key_file(chain_cfg.key_file, t.aggregator_key);
    cfg.chain = chain_cfg;
    return cfg;
  }
};

TEST_F(MurmurdChainDown, FailedPostingsAreRetriedThenRoundsRunOnTheLocalSeedVisibly) {
  const ChainTask t = create_task(3);
  const U256 task = t.task;
  chain::AllianceTaskContract alliance(*eth_, t.dep.alliance_task);
  const int chain_port = std::stoi(url().substr(url().rfind(':') + 1));
  Relay relay(chain_port);
  TempDir dir("murmur-chain-down");
  const server::Config cfg = config_for(t, dir, relay.port(), 3);
  server::Server srv(cfg);  // opens round 1 on chain, through the relay
  ASSERT_EQ(alliance.get_round(task, U256(1)).state, 1) << "round 1 is not open on chain";
  srv.start();
  relay.stop();  // the chain's endpoint is down from now on

  const auto give_up = std::chrono::steady_clock::now() + 90s;
  while (srv.snapshot().stage != wire::STAGE_CLOSED && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ(srv.snapshot().stage, wire::STAGE_CLOSED);
  httplib::Client http("127.0.0.1", srv.metrics_port());
  const auto res = http.Get("/metrics");
  ASSERT_TRUE(res);
  const std::string page = res->body;
  srv.stop();

  // Round 1 was opened on chain: its abandonRound was tried more than once, then given up.
  const server::StateView view(cfg.data_dir);
  const auto r1 = view.round_record(1);
  ASSERT_TRUE(r1 && r1->posting && r1->seed);
  EXPECT_EQ(r1->seed->source, "chain");
  EXPECT_EQ(r1->posting->state, "failed");
  const auto f1 = nlohmann::json::parse(r1->faults);
  ASSERT_TRUE(f1.contains("chain_posting")) << r1->faults;
  EXPECT_GE(f1["chain_posting"]["count"].get<int>(), 2) << "the failed posting was not retried";
  EXPECT_EQ(alliance.get_round(task, U256(1)).state, 1) << "round 1 stays open on chain";
  // Rounds 2 and 3 could not be opened: local seed, recorded as such, never on chain.
  for (std::uint64_t r : {2u, 3u}) {
    const auto rec = view.round_record(r);
    ASSERT_TRUE(rec && rec->seed && rec->decision) << "round " << r;
    EXPECT_EQ(rec->seed->source, "local") << "round " << r;
    EXPECT_FALSE(rec->seed->error.empty()) << "round " << r;
    EXPECT_EQ(nlohmann::json::parse(rec->faults)["chain_open"]["count"], 1) << rec->faults;
  }
  const std::string json = server::round_records_json(cfg.data_dir, 2);
  EXPECT_NE(json.find("\"settles_on_chain\": false"), std::string::npos) << json;
  EXPECT_EQ(sample(page, "murmur_rounds_local_seed_total"), 2) << page;
  EXPECT_EQ(sample(page, "murmur_faults_total{fault=\"chain_open\"}"), 2) << page;
  EXPECT_GE(sample(page, "murmur_faults_total{fault=\"chain_posting\"}"), 3) << page;
}

TEST_F(MurmurdChainDown, BackOnChainWhenTheEndpointAnswersAgainAfterTheLimit) {
  constexpr std::uint64_t kRounds = 6;
  const ChainTask t = create_task(kRounds);
  chain::AllianceTaskContract alliance(*eth_, t.dep.alliance_task);
  const std::uint64_t first_block = eth_->block_number();
  const int chain_port = std::stoi(url().substr(url().rfind(':') + 1));
  std::optional<Relay> relay(std::in_place, chain_port);
  const int relay_port = relay->port();
  TempDir dir("murmur-chain-back");
  const server::Config cfg = config_for(t, dir, relay_port, kRounds);
  server::Server srv(cfg);  // opens round 1 on chain, through the relay
  ASSERT_EQ(alliance.get_round(t.task, U256(1)).state, 1) << "round 1 is not open on chain";
  srv.start();
  relay.reset();  // the endpoint is down (connections refused) ...

  // ... until murmurd has given round 1's chain step up (past fault_limit_ms = 2 s) and runs
  // round 2 on the local seed: only then does the endpoint come back, on the same port.
  auto give_up = std::chrono::steady_clock::now() + 90s;
  while (srv.snapshot().round < 2 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(20ms);
  ASSERT_GE(srv.snapshot().round, 2u) << "round 1's chain step was never given up";
  for (auto until = std::chrono::steady_clock::now() + 10s; !relay;) {
    try {
      relay.emplace(chain_port, relay_port);
    } catch (const std::runtime_error&) {  // the old listener is still closing
      ASSERT_LT(std::chrono::steady_clock::now(), until) << "cannot listen on " << relay_port;
      std::this_thread::sleep_for(50ms);
    }
  }
  give_up = std::chrono::steady_clock::now() + 120s;
  while (srv.snapshot().stage != wire::STAGE_CLOSED && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ(srv.snapshot().stage, wire::STAGE_CLOSED);
  srv.stop();

  const server::StateView view(cfg.data_dir);
  // Round 1 was opened on chain and its own abandonRound given up after retries.
  const auto r1 = view.round_record(1);
  ASSERT_TRUE(r1 && r1->posting && r1->seed);
  EXPECT_EQ(r1->seed->source, "chain");
  const auto f1 = nlohmann::json::parse(r1->faults);
  ASSERT_TRUE(f1.contains("chain_posting")) << r1->faults;
  EXPECT_GE(f1["chain_posting"]["count"].get<int>(), 2) << "the failed posting was not retried";
  // Round 2 ran on the local seed (its startRound was given up with round 1's step).
  const auto r2 = view.round_record(2);
  ASSERT_TRUE(r2 && r2->seed);
  EXPECT_EQ(r2->seed->source, "local");
  // Every round is settled on chain and its record says how: none is left "failed", and
  // the record agrees with the chain (all abandoned: nobody uploaded).
  std::uint64_t local = 0;
  for (std::uint64_t r = 1; r <= kRounds; ++r) {
    const auto rec = view.round_record(r);
    ASSERT_TRUE(rec && rec->decision && rec->posting && rec->seed) << "round " << r;
    local += rec->seed->source == "local";
    EXPECT_EQ(rec->posting->state, "abandoned") << "round " << r << ": " << rec->posting->error;
    EXPECT_EQ(alliance.get_round(t.task, U256(r)).state, 3) << "round " << r;
  }
  EXPECT_NE(r1->posting->error.find("fault_limit_ms"), std::string::npos)
      << "round 1's record does not say why it was abandoned late: " << r1->posting->error;
  // The task went on on chain: its last round was opened there, with the chain's seed.
  const auto last = view.round_record(kRounds);
  EXPECT_EQ(last->seed->source, "chain") << "the last round did not run on chain again";
  EXPECT_LT(local, kRounds - 1) << "no round after the outage was opened on chain";
  const auto task = alliance.get_task(t.task);
  EXPECT_EQ(task.current_round, kRounds);
  EXPECT_FALSE(task.round_open);

  // Nothing posted twice: from the aggregator to the contract exactly one startRound and one
  // abandonRound per round, none reverted.
  const chain::Address agg = t.aggregator_key.address();
  std::map<std::string, std::uint64_t> sent;
  std::uint64_t reverted = 0;
  const std::uint64_t head = eth_->block_number();
  for (std::uint64_t b = first_block + 1; b <= head; ++b) {
    std::ostringstream q;
    q << "0x" << std::hex << b;
    const auto block = eth_->raw("eth_getBlockByNumber", nlohmann::json::array({q.str(), true}));
    for (const auto& tx : block["transactions"]) {
      if (tx["to"].is_null() ||
          chain::Address::from_hex(tx["to"].get<std::string>()) != t.dep.alliance_task ||
          chain::Address::from_hex(tx["from"].get<std::string>()) != agg)
        continue;
      ++sent[tx["input"].get<std::string>().substr(0, 10)];
      const auto receipt =
          eth_->raw("eth_getTransactionReceipt", nlohmann::json::array({tx["hash"]}));
      reverted += receipt["status"].get<std::string>() != "0x1";
    }
  }
  const auto selector = [](const chain::Bytes& call) {
    return chain::to_hex(std::span<const std::uint8_t>(call).first(4));
  };
  EXPECT_EQ(sent[selector(chain::alliance::start_round(t.task))], kRounds);
  EXPECT_EQ(sent[selector(chain::alliance::abandon_round(t.task))], kRounds);
  EXPECT_EQ(sent.size(), 2u) << "another call from the aggregator";
  EXPECT_EQ(reverted, 0u);
}

}  // namespace
}  // namespace murmur::testing
