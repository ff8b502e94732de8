#include "network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <stdexcept>

#include <thread>
#include "murmur/client/node_keys.hpp"
#include "murmur/client/update_source.hpp"

#include "murmur/server/server.hpp"

namespace murmur::testing {

server::RoundSnapshot wait_for_stage(const server::Server& s, int stage,
                                     std::chrono::seconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  auto snap = s.snapshot();
  while (snap.stage != stage && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    snap = s.snapshot();
  }
  return snap;
}

server::Config test_config(const std::filesystem::path& data_dir, std::size_t nodes,
                           std::uint64_t parameters) {
  server::Config c;
  c.endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  c.register_endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  c.data_dir = data_dir;
  c.curve = true;
  c.curve_secret_key = server::curve_keypair().second;
  c.chunk_bytes = 1u << 20;
  c.inflight_budget_bytes = 256u << 20;
  c.peer_credits = 4;
  c.backend = "cpu";
  c.task_id = 7;
  c.chain_id = 31337;
  c.contract = chain::Address::from_hex("0x5fbdb2315678afecb367f032d93f642f64180aa3");
  c.parameters = parameters;
  c.rounds = 1;
  c.proposer_bps = 10000;
  for (std::size_t i = 0; i < nodes; ++i)
    c.participants.push_back({client::derive_node_key(kKeySeed, i).address(), 1});
  c.upload_window = std::chrono::seconds(50);
  c.vote_window = std::chrono::seconds(5);
  c.quorum = nodes;
  c.vote_quorum = 0;
  c.aggregation = {{}, kernels::WeightedMean{}, false};
  return c;
}

client::ClientOptions client_options(const server::Config& config, const std::string& server_key,
                                     std::shared_ptr<zmq::context_t> context) {
  client::ClientOptions o;
  o.endpoint = config.endpoint;
  o.register_endpoint = config.register_endpoint;
  o.server_public_key = server_key;
  o.timeout = std::chrono::seconds(10);
  o.retries = 4;
  o.context = std::move(context);
  return o;
}

void write_murmurd_config(const server::Config& c, const std::filesystem::path& file) {
  const auto participants = file.parent_path() / "participants.csv";
  {
    std::ofstream p(participants);
    for (const auto& n : c.participants)
      p << n.address.to_checksum() << "," << n.stake.to_dec() << "\n";
  }
  std::ofstream t(file);
  t << "[server]\n"
    << "endpoint = \"" << c.endpoint << "\"\n"
    << "register_endpoint = \"" << c.register_endpoint << "\"\n"
    << "metrics_port = 0\n"
    << "data_dir = \"" << c.data_dir.string() << "\"\n"
    << "curve = " << (c.curve ? "true" : "false") << "\n"
    << "curve_secret_key = \"" << c.curve_secret_key << "\"\n"
    << "chunk_bytes = " << c.chunk_bytes << "\n"
    << "inflight_budget_bytes = " << c.inflight_budget_bytes << "\n"
    << "peer_credits = " << c.peer_credits << "\n"
    << "backend = \"" << c.backend << "\"\n"
    << "[task]\n"
    << "task_id = " << c.task_id << "\n"
    << "chain_id = " << c.chain_id << "\n"
    << "contract = \"" << c.contract.to_lower_hex() << "\"\n"
    << "parameters = " << c.parameters << "\n"
    << "rounds = " << c.rounds << "\n"
    << "proposer_bps = " << c.proposer_bps << "\n"
    << "participants = \"" << participants.string() << "\"\n"
    << "[round]\n"
    << "upload_seconds = " << std::chrono::duration<double>(c.upload_window).count() << "\n"
    << "vote_seconds = " << std::chrono::duration<double>(c.vote_window).count() << "\n"
    << "quorum = " << c.quorum << "\n"
    << "vote_quorum = " << c.vote_quorum << "\n"
    << "[aggregation]\n"
    << "rule = \"fedavg\"\n";
}

void SyntheticRows::read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const {
  for (std::size_t j = begin; j < end; ++j)
    dst[j - begin] = client::synthetic_value(kKeySeed, nodes_[i], j);
}

std::vector<std::uint64_t> nodes_by_address(std::size_t n) {
  std::vector<std::pair<chain::Address, std::uint64_t>> v;
  for (std::uint64_t i = 0; i < n; ++i)
    v.emplace_back(client::derive_node_key(kKeySeed, i).address(), i);
  std::sort(v.begin(), v.end());
  std::vector<std::uint64_t> out;
  for (const auto& [a, i] : v) out.push_back(i);
  return out;
}

}  // namespace murmur::testing
