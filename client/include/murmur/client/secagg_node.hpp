#pragma once
// The node side of a SecAgg+ round through murmurd (secagg/README.md, murmur.proto's SECAGG
// stages): one call per stage, each waiting (bounded) for the server to open that stage and
// then doing this node's part with murmur::secagg::Client. A node that stops calling is a
// dropout the server recovers from, up to the threshold.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "murmur/client/node_client.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/secagg/protocol.hpp"

namespace murmur::client {

struct SecAggNodeOptions {
  std::chrono::milliseconds stage_timeout{120'000};  ///< longest wait for a stage to open
  std::chrono::milliseconds poll{25};                ///< RoundInfo polling interval meanwhile
};

class SecAggNode {
 public:
  /// Waits for round `round` of `task_id` to open its SecAgg+ advertise stage and reads this
  /// node's placement from RoundInfo. Throws std::runtime_error when the round is past or does
  /// not run SecAgg+, or this node is not in its groups; TimeoutError after stage_timeout.
  SecAggNode(NodeClient& client, std::uint64_t task_id, std::uint64_t round,
             SecAggNodeOptions options = {});
  ~SecAggNode();

  const wire::SecAggPlacement& placement() const { return placement_; }

  /// Stage ADVERTISE: sends this node's two public keys.
  void advertise();
  /// Stage SHARE: fetches the neighbours' keys and sends the dealing of both secrets.
  void share_keys();
  /// Stage CHECK: fetches the boxes dealt to this node, verifies them against the dealers'
  /// commitments and sends its complaints (possibly none). Returns how many it sent.
  std::size_t check_shares();
  /// Stage MASKED: fetches U1 and sends the masked input in chunks of the round's chunk size.
  void send_masked_input(std::span<const float> update);
  /// Stage UNMASK: fetches survivors and dropped nodes and returns the shares asked for.
  void unmask();

  /// This node's quantised update, as its masked input hides it: node-local, for audits and
  /// tests; never sent.
  std::vector<std::uint32_t> quantized(std::span<const float> update) const;

 private:
  void wait_for(wire::Stage stage);
  wire::SecAggView fetch();

  NodeClient& client_;
  std::uint64_t task_ = 0, round_ = 0;
  SecAggNodeOptions options_;
  wire::SecAggPlacement placement_;
  std::size_t dimension_ = 0, chunk_words_ = 0;
  std::unique_ptr<kernels::Backend> cpu_;
  std::unique_ptr<secagg::Client> node_;
};

}  // namespace murmur::client
