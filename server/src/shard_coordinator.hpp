#pragma once
// The coordinator's side of a murmurd shard set (docs/sharding.md, "The coordinator"): a murmurd
// with [shard] role = "coordinator" runs the round engine (registration, roles, votes,
// validation, [chain]) without taking update bytes; this link serves the store the shards meet
// at, publishes each round's opening and decision there, watches the shards' heartbeats, and on
// the aggregation thread gathers the shards' results and parts into the whole candidate.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "aggregate_round.hpp"
#include "murmur/server/config.hpp"
#include "shard_round.hpp"

namespace murmur::shard {
class Rendezvous;
}

namespace murmur::server {

class CoordinatorLink {
 public:
  /// Serves the store on [shard] coordinator (throws shard::CollectiveError when it cannot) and
  /// starts the heartbeat watch. `config` is the coordinator's (whole D in parameters);
  /// `public_key`/`secret_key` its Curve pair, with which it reads the shards' parts (the
  /// shards' [shard] coordinator_key is the public one).
  CoordinatorLink(const Config& config, std::string public_key, std::string secret_key);
  ~CoordinatorLink();
  CoordinatorLink(const CoordinatorLink&) = delete;
  CoordinatorLink& operator=(const CoordinatorLink&) = delete;

  /// Whether a coordinator ran on this data directory before (its store, in that process, is
  /// gone): known at construction from <data_dir>/shard_store_started.
  bool restarted() const { return restarted_; }
  /// Loop thread, a restarted coordinator in `round`'s uploads or aggregation: the shards'
  /// results, sponges and attempt number went with the old store, so every shard runs the
  /// aggregation again from a fresh attempt numbered from the wall clock (unix ms, above any
  /// attempt the old store handed out); shards waiting on a failed attempt or for a decision
  /// follow it (ShardLink::retry_asked), and gather counts attempts from it.
  void restart_round(std::uint64_t round);
  /// Loop thread: the round the shards are to follow (store key kOpeningKey).
  void open(const RoundOpening& opening);
  /// Loop thread: how the round ended (decision_key), published before the next opening.
  void decide(std::uint64_t round, const CoordinatorDecision& decision);
  /// Loop thread: whether every shard has published its committed updates of `round` (its
  /// uploads are over). Reads the store at most every 100 ms.
  bool uploads_over(std::uint64_t round);

  /// The aggregation thread: waits for every shard's result of `round` (until all S are in;
  /// once one reported an error, shard.timeout_seconds longer; with no result at all, while some
  /// shard's heartbeat moves, else for the timeout), records the round's parts in
  /// <data_dir>/shard_rounds.jsonl (with the bytes this gather read from and set into the
  /// store), and when every part aggregated: squeezes the candidate's keccak-256 from the last
  /// shard's sponge (keccak_key; the hash a single murmurd computes over the whole model),
  /// records in `store` the common updates as committed (with their signatures, for the chain's
  /// flags), the rule's rows and the aggregation; with `validator`, reads each shard's part from
  /// its round endpoint (shard_fetch.hpp), checks the whole against that hash, stores it in
  /// `spool` and scores the previous and the candidate model. Without `validator` no byte of
  /// the model reaches the coordinator. Any shard's error is the result's error.
  AggregationResult gather(Spool& spool, StateStore& store, std::uint64_t round,
                           const chain::Hash32& global, RoundValidator* validator,
                           const std::atomic<bool>& stopping);

 private:
  void watch();
  bool all_down_for(std::chrono::milliseconds d) const;
  nlohmann::json take_outages(std::uint64_t round);
  Config cfg_;
  std::string public_key_, secret_key_;
  std::size_t count_;
  bool restarted_ = false;
  std::pair<std::uint64_t, std::uint64_t> base_{0, 0};  ///< (round, first attempt) after restart
  std::unique_ptr<shard::Rendezvous> store_;            ///< the served store; the loop's connection
  std::chrono::steady_clock::time_point last_look_{};
  std::atomic<std::uint64_t> round_{1};  ///< the round the watch tags outages with
  mutable std::mutex mutex_;             ///< guards the watch's state below
  struct Beat {
    std::string count;
    std::chrono::steady_clock::time_point moved = std::chrono::steady_clock::now();
    bool seen = false, down = false;
  };
  std::vector<Beat> beats_;
  nlohmann::json outages_ = nlohmann::json::array();  ///< of the round being watched
  std::atomic<bool> stopping_{false};
  std::thread watch_;
};

}  // namespace murmur::server
