// The validator farm's loop (`murmur arena validate --daemon`, issue 17) and the HTTP adapter
// store (`murmur arena serve`). arena/README.md, "The validator daemon".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/wallet.hpp"

namespace murmur::cli {

struct ArenaDaemonOptions {
  std::string task;                  ///< task id (decimal)
  std::filesystem::path base, data;  ///< base model directory, held-out JSONL set
  std::filesystem::path state_dir;   ///< outbox.db, the commit state, fetched adapters
  std::size_t batch = 8;             ///< sequences per forward
  std::size_t per_pass = 16;         ///< adapters per batched pass
  double pass_gib = 8;               ///< activation budget of one pass
  std::string strategy = "auto";     ///< auto | batched | merged
  std::string device = "auto";       ///< auto | cpu | cuda
  std::uint64_t poll_ms = 1000;      ///< pause between looks at the chain
  std::string until = "claimed";     ///< committed | revealed | finalized | claimed
  double max_seconds = 0;            ///< 0: no limit; past it the loop exits with status 2
  std::uint64_t max_iterations = 0;  ///< 0: no limit (the one-shot form runs 1)
  bool drive = false;                ///< also close / draw / finalize when due (anyone may)
  int metrics_port = -1;             ///< -1: no /metrics; 0: any free port
  std::string metrics_address = "127.0.0.1";
  bool json_out = false;
};

/// A loss (nats or bits per byte) as the fixed-point score ArenaTask takes: round(loss · 1e6).
/// Throws std::runtime_error for a negative, non-finite or too large loss.
std::uint64_t arena_score_of_loss(double loss);
/// 32 bytes from std::random_device: a commitment's salt.
chain::Hash32 random_salt();
/// Writes `j` to `file` durably (write, fsync, rename, fsync of the directory).
void write_json_durably(const std::filesystem::path& file, const nlohmann::json& j);

/// Runs the validator loop for the wallet's address on `arena_task` (stateless per iteration:
/// every step is read from the chain, the commit state file and the outbox, so a restart picks up
/// where the last process stopped). Returns the exit status: 0 when `until` is reached, 2 when
/// max_seconds or max_iterations ran out first. Throws std::runtime_error on fatal input (base
/// model, data, a key that is not a validator of the task).
int run_arena_daemon(const ArenaDaemonOptions& o, chain::EthClient& eth, chain::Wallet& wallet,
                     const chain::Address& arena_task);

/// Serves a directory store over HTTP (GET /<hash> → manifest JSON, GET /<hash>/<file> → bytes)
/// until SIGINT/SIGTERM or `max_seconds` (0: none). Prints the bound address on stdout.
void run_arena_serve(const std::filesystem::path& store, const std::string& address, int port,
                     double max_seconds);

/// The local directory of the adapter `uri` names, checked against `hash`: file:// is read in
/// place; http:// is downloaded (manifest, then each file) into `cache`/<hash> through a
/// temporary directory. Throws std::runtime_error naming the URI on any fault or a hash mismatch.
std::filesystem::path fetch_adapter(const std::string& uri, const chain::Hash32& hash,
                                    const std::filesystem::path& cache);

}  // namespace murmur::cli
