#pragma once
// What the node-side integration tests share: loopback ports, a temporary data directory, a
// murmurd configuration whose participants are the deterministic test keys, and the nodes'
// synthetic updates as a RowSource for the kernel's reference aggregate.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "murmur/client/node_client.hpp"
#include "murmur/kernels/row_source.hpp"
#include "murmur/server/config.hpp"
#include "murmur/server/server.hpp"

#include "murmur/testing/temp_dir.hpp"  // TempDir, free_port

namespace murmur::testing {

/// Node i of every test here has the chain key client::derive_node_key(kKeySeed, i) and the
/// synthetic update client::SyntheticUpdate(kKeySeed, i, ...).
inline constexpr std::uint64_t kKeySeed = 20260611;

/// murmurd for tests: both endpoints on free loopback ports, data in `data_dir`, CurveZMQ with
/// a fresh key pair, nodes 0..nodes-1 as participants (stake 1), every node a proposer, one
/// round, FedAvg on the CPU backend, quorum = nodes.
server::Config test_config(const std::filesystem::path& data_dir, std::size_t nodes,
                           std::uint64_t parameters);

/// The server's snapshot once it reaches `stage`, or the last one after `limit`.
server::RoundSnapshot wait_for_stage(const server::Server& s, int stage,
                                     std::chrono::seconds limit);

/// Client options for talking to a server run with `config` (whose public key is `server_key`).
client::ClientOptions client_options(const server::Config& config, const std::string& server_key,
                                     std::shared_ptr<zmq::context_t> context = nullptr);

/// Writes `config` as the TOML file murmurd --config reads (participants beside it).
void write_murmurd_config(const server::Config& config, const std::filesystem::path& file);

/// The synthetic updates of `nodes` (in this order) as f32 rows, computed on each read.
class SyntheticRows final : public kernels::RowSource {
 public:
  SyntheticRows(std::vector<std::uint64_t> nodes, std::size_t parameters)
      : nodes_(std::move(nodes)), parameters_(parameters) {}
  std::size_t rows() const override { return nodes_.size(); }
  std::size_t cols() const override { return parameters_; }
  void read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const override;

 private:
  std::vector<std::uint64_t> nodes_;
  std::size_t parameters_;
};

/// The node indices 0..n-1 sorted by their addresses: the order of the server's rows.
std::vector<std::uint64_t> nodes_by_address(std::size_t n);

}  // namespace murmur::testing
