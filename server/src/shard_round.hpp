#pragma once
// A shard's part of a round (docs/sharding.md, "murmurd in shard mode"): the commit check of its
// part of a split upload, and its aggregation, which meets the other shards at the
// coordinator's store. Free functions of values and a link to the store, run by the round engine
// (server.cpp, handlers.cpp) only when [shard] is configured; a single murmurd never calls them.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "aggregate_round.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/protocol/wire.hpp"
#include "murmur/server/config.hpp"
#include "spool.hpp"
#include "state_store.hpp"

namespace murmur::shard {
class Rendezvous;
}

namespace murmur::server {

/// Every kHeartbeat a shard sets "shard/<k>/alive" to a fresh count in the coordinator's store
/// (its own connection, its own thread); the coordinator reports a shard whose count stood still
/// for kSilence as down, in its log and in the round's record, and as back when it moves again.
inline constexpr std::chrono::milliseconds kHeartbeat{250};
inline constexpr std::chrono::milliseconds kSilence{1500};
std::string heartbeat_key(std::size_t shard);

/// A shard's connection to its coordinator's store, made on first use (the coordinator may start
/// after the shard) and made again after a failure, used by the aggregation thread only; and
/// the heartbeat thread, started with it.
class ShardLink {
 public:
  explicit ShardLink(ShardConfig config);
  ~ShardLink();
  ShardLink(const ShardLink&) = delete;
  ShardLink& operator=(const ShardLink&) = delete;
  const ShardConfig& config() const { return config_; }
  /// The store; connects (retrying up to the timeout) when not connected. Throws
  /// shard::CollectiveError.
  shard::Rendezvous& store();
  /// Forgets the connection (after a failure: the next round connects afresh).
  void reset();
  /// What the last aggregation of this shard did, for /metrics.
  struct Figures {
    std::uint64_t aggregated = 0, failed = 0;  ///< rounds
    double collective_seconds = 0;             ///< of the last aggregated round
    std::uint64_t reductions = 0, doubles_sent = 0, updates = 0, left_out = 0;
  };
  void record(const Figures& last_round_and_counts);
  Figures figures() const;
  /// The shard's series for murmurd's /metrics (Metrics::set_extra): murmur_shard_info (index,
  /// count, range), murmur_shard_heartbeats_total, murmur_shard_rounds_total{result}, and the
  /// last aggregated round's collective seconds, reductions, doubles sent, updates and updates
  /// left out (not committed on every shard). Thread-safe.
  std::string metrics_text() const;

 private:
  void beat();
  ShardConfig config_;
  mutable std::mutex figures_mutex_;
  Figures figures_;
  std::atomic<std::uint64_t> heartbeats_{0};
  std::unique_ptr<shard::Rendezvous> store_;
  std::mutex mutex_;  ///< guards stopping_ for the heartbeat's wait
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread heartbeat_;
};

/// The update hash a shard's upload commits to, checked against the part it holds: `commit`
/// must carry the split commitment (UploadCommit.split) naming this shard's part, whose bytes
/// are exactly this shard's range of the update, and the spooled bytes of `upload` must be that
/// part of the update whose hash the commitment gives (protocol::check_part). Returns that hash
/// (the whole update's, what the node signs). Refuses (ProtocolError) ERR_MALFORMED without a
/// commitment or with one of another shape, ERR_HASH_MISMATCH when the bytes do not check.
chain::Hash32 check_shard_commit(const ShardConfig& config, const Spool& spool,
                                 const Upload& upload, const wire::UploadCommit& commit);

/// What a shard publishes about a round under "round/<R>/result/<k>" (JSON): its range, the
/// updates it aggregated and dropped, its candidate part, the collective figures, or the error.
std::string shard_result_key(std::uint64_t round, std::size_t shard);

/// On the aggregation thread, in place of aggregate_and_record: publishes this shard's committed
/// updates (address, hash, samples) under "round/<R>/committed/<k>", waits up to the timeout for
/// every shard's list, keeps the updates every shard committed (address order), forms the
/// round's Gloo group under "round/<R>/gloo", aggregates its range (shard::aggregate_shard),
/// stores the candidate part (the global part plus the aggregate), records the diagnostics and
/// the aggregation, and publishes its result. Any failure (a shard that never reports, a peer
/// lost mid-collective, the rule refusing) is the result's error, with the shard and step named;
/// the round then fails with it, and the error is published too where the store can be reached.
AggregationResult shard_aggregate_and_record(Spool& spool, StateStore& store, std::uint64_t round,
                                             const std::vector<Upload>& uploads,
                                             const RoundRule& rule, const chain::Hash32& global,
                                             kernels::Backend& backend, ShardLink& link);

}  // namespace murmur::server
