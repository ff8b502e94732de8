#pragma once
// `murmur load`: many synthetic nodes uploading at once, for load tests of murmurd. Node i
// has the chain key derive_node_key(seed, first_index + i), a fresh Curve key pair and the
// synthetic update SyntheticUpdate(seed, first_index + i, ...), generated while it is sent (a
// load generator must not hold N updates in memory).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>

#include "murmur/client/node_client.hpp"

namespace murmur::client {

struct LoadOptions {
  ClientOptions client;  ///< endpoints, server key, timeouts; each node gets its own Curve pair
  std::uint64_t nodes = 8;
  std::uint64_t seed = 1;
  std::uint64_t first_index = 0;
  std::uint64_t parameters = 0;  ///< 0: the round's (RoundInfo.parameters); else must equal it
  wire::DType dtype = wire::DTYPE_F32;
  std::uint64_t num_samples = 1;
  std::uint64_t chain_id = 31337;  ///< the Register's chain id
  /// The EIP-712 domain the nodes sign their Updates under; nullopt: the server's, from its
  /// RoundInfo (chain_id, verifying_contract), so that a load test needs no contract address.
  std::optional<chain::Eip712Domain> domain;
  unsigned threads = 0;        ///< uploading threads; 0: one per node (at most 256)
  int io_threads = 1;          ///< ZeroMQ I/O threads of the shared context (CurveZMQ runs there)
  bool register_nodes = true;  ///< send Register first (skip when the keys are already bound)
  /// Each node downloads the global model (ranged, keccak-checked) before the uploads start,
  /// as a node does every round.
  bool fetch_model = false;
  std::chrono::milliseconds wait_for_uploading{60'000};  ///< how long to wait for STAGE_UPLOADING
};

struct LoadReport {
  std::uint64_t nodes = 0, committed = 0, failed = 0, not_proposers = 0;
  std::uint64_t task_id = 0, round = 0;
  std::uint64_t bytes = 0;  ///< update bytes committed
  double seconds = 0;       ///< from the start of the uploads to the last commit
  double mib_per_s = 0, updates_per_s = 0;
  double p50_s = 0, p99_s = 0, max_s = 0;       ///< per-upload latency
  std::uint64_t restarts = 0;                   ///< upload restarts (lost replies, ERR_BUSY, ...)
  std::map<std::string, std::uint64_t> errors;  ///< failures by error code name ("timeout", ...)
};

/// Registers `nodes` nodes, waits until the round uploads, releases all uploads at once and
/// measures them. Per-node failures are counted, not thrown; throws only when the round never
/// reaches STAGE_UPLOADING in time. Progress lines go to `log` when given.
LoadReport run_load(const LoadOptions& options, std::ostream* log = nullptr);

/// Human-readable summary (one paragraph) or one JSON object.
void print_load_report(std::ostream& out, const LoadReport& report, bool json);

}  // namespace murmur::client
