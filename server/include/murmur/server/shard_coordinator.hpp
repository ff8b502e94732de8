#pragma once
// The coordinator of a murmurd shard set (docs/sharding.md): it serves the store the shards meet
// at (a c10d::TCPStore) and keeps the record of each round's parts. It never sees update bytes.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "murmur/server/config.hpp"

namespace murmur::server {

class ShardCoordinator {
 public:
  /// `config` must have [shard] role = "coordinator".
  explicit ShardCoordinator(Config config);
  ~ShardCoordinator();
  ShardCoordinator(const ShardCoordinator&) = delete;
  ShardCoordinator& operator=(const ShardCoordinator&) = delete;

  /// Serves the store on [shard] coordinator and starts watching rounds: for rounds 1 ..
  /// task.rounds in turn, it waits for every shard's result of the round (published by the
  /// shard's aggregation); the round closes when all S are in, or, once some shard reported an
  /// error, when shard.timeout_seconds passed with the others still silent (they are recorded
  /// "no result: the shard is down or never reached aggregation"). Each closed round is one
  /// line of <data_dir>/shard_rounds.jsonl (its parts, the error, and the shards whose heartbeat
  /// stood still meanwhile: "outages", each with when it went silent and when it came back); a
  /// restart continues after the last line. Throws shard::CollectiveError when the store cannot be
  /// served.
  void start();
  void stop();
  /// Rounds closed so far (since start).
  std::uint64_t rounds_closed() const { return closed_; }

 private:
  void run();
  Config cfg_;
  struct Store;
  std::unique_ptr<Store> store_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> closed_{0};
};

/// `murmurd rounds` on a coordinator's configuration: the records of <data_dir>/shard_rounds.jsonl
/// as a JSON array (one object a round: round, outcome, reason, and each shard's part), or
/// only `round`'s.
std::string shard_rounds_json(const std::filesystem::path& data_dir,
                              std::optional<std::uint64_t> round);

}  // namespace murmur::server
