#pragma once
// A shard's part of a round (docs/sharding.md, "murmurd in shard mode"): the commit check of its
// part of a split upload, and its aggregation, which meets the other shards at the
// coordinator's store. Free functions of values and a link to the store, run by the round engine
// (server.cpp, handlers.cpp) only when [shard] is configured; a single murmurd never calls them.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "aggregate_round.hpp"
#include "murmur/chain/uint256.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/protocol/wire.hpp"
#include "murmur/server/config.hpp"
#include "shard_fetch.hpp"
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

/// The coordinator's opening of a round (store key kOpeningKey, JSON): the shards follow it, so
/// that every shard serves the same round with the same seed (roles), deadline and participants.
struct RoundOpening {
  std::uint64_t round = 0;
  chain::Hash32 seed{};               ///< the roles' seed: the chain's startRound seed, or local
  std::int64_t deadline_unix_ms = 0;  ///< the end of the uploads
  std::map<chain::Address, chain::U256> stakes;  ///< the round's participants
};
inline const std::string kOpeningKey = "open";
std::string encode_opening(const RoundOpening& o);
/// Throws std::exception on a value that is not an opening.
RoundOpening decode_opening(const std::vector<std::uint8_t>& bytes);

/// How the coordinator ended a round (store key decision_key(round), JSON): a shard holding that
/// round's candidate part adopts it when the outcome is kAccepted, else keeps its global part.
struct CoordinatorDecision {
  RoundOutcome outcome = RoundOutcome::kFailed;
  std::string reason;
};
std::string decision_key(std::uint64_t round);
std::string encode_decision(const CoordinatorDecision& d);
CoordinatorDecision decode_decision(const std::vector<std::uint8_t>& bytes);

/// The whole candidate's keccak-256 sponge after shard k absorbed its part of round R in
/// `attempt` (KeccakChain's 204-byte state): shard k resumes shard k-1's, the coordinator
/// squeezes shard S-1's. The parts themselves never enter the store: the coordinator reads
/// them from the shards' round endpoints when it validates (shard_fetch.hpp).
std::string keccak_key(std::uint64_t round, std::uint64_t attempt, std::size_t shard);

/// A round's aggregation attempt (store key attempt_key(round), decimal; absent: 0): each
/// attempt forms its own Gloo group under "round/<R>/gloo/<attempt>". When an attempt fails for
/// a collective (a shard killed after the group formed, or restarted during it), the
/// coordinator starts the next one, up to kAttempts, within the aggregation's window
/// (docs/sharding.md, "Faults").
inline constexpr std::uint64_t kAttempts = 4;
std::string attempt_key(std::uint64_t round);

/// A shard's connection to its coordinator's store, made on first use (the coordinator may start
/// after the shard) and made again after a failure, used by the aggregation thread only; and
/// the heartbeat thread, started with it.
class ShardLink {
 public:
  /// `quorum`: the fewest updates committed on every shard that a round aggregates.
  ShardLink(ShardConfig config, std::size_t quorum);
  ~ShardLink();
  ShardLink(const ShardLink&) = delete;
  ShardLink& operator=(const ShardLink&) = delete;
  const ShardConfig& config() const { return config_; }
  std::size_t quorum() const { return quorum_; }
  /// The coordinator's latest opening, as the heartbeat thread last read it (nothing before the
  /// coordinator published one). Thread-safe, never waits on the network.
  std::optional<RoundOpening> opening() const;
  /// Which round's decision the heartbeat thread looks for (the loop sets its own round).
  void watch(std::uint64_t round);
  /// The coordinator's decision of `round` when the heartbeat thread has read it.
  std::optional<CoordinatorDecision> decision(std::uint64_t round) const;
  /// This murmurd started in the middle of `round`'s aggregation (a restart): its first attempt
  /// asks for a fresh group instead of joining one that may have formed without it.
  void resumed_in(std::uint64_t round);
  bool take_resumed(std::uint64_t round);
  /// The attempt this shard last ran of `round`; whether the coordinator has since asked for a
  /// later one (then a shard that already aggregated runs it too).
  void ran(std::uint64_t round, std::uint64_t attempt);
  bool retry_asked(std::uint64_t round) const;
  /// The store; connects (retrying up to the timeout) when not connected. Throws
  /// shard::CollectiveError.
  shard::Rendezvous& store();
  /// Forgets the connection (after a failure: the next round connects afresh).
  void reset();
  /// Where the coordinator reads this shard's candidate parts (its round endpoint, reachable
  /// at [shard] host; its Curve key; the chunk size), published in each result.
  void set_contact(ShardContact contact);
  ShardContact contact() const;
  /// Bytes this shard's aggregation thread set into and read from the store (the store's own
  /// and Gloo's keys aside), for /metrics: a round adds O(N + S) bytes, never a part.
  void count_store(std::uint64_t set, std::uint64_t got);
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
  void read_coordinator(shard::Rendezvous& store);
  ShardConfig config_;
  std::size_t quorum_ = 1;
  mutable std::mutex follow_mutex_;  ///< guards the members below
  std::optional<RoundOpening> opening_;
  std::uint64_t watched_ = 0;
  std::optional<std::pair<std::uint64_t, CoordinatorDecision>> decision_;
  std::uint64_t resumed_ = 0;
  std::pair<std::uint64_t, std::uint64_t> ran_{0, 0}, asked_{0, 0};  ///< (round, attempt)
  mutable std::mutex figures_mutex_;
  Figures figures_;
  ShardContact contact_;
  std::uint64_t store_set_ = 0, store_got_ = 0;
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
/// (the whole update's, what the node signs), once the commitment is kept beside the part
/// (split_commitment_file) for the part's readers. Refuses (ProtocolError) ERR_MALFORMED without
/// a commitment or with one of another shape, ERR_HASH_MISMATCH when the bytes do not check.
chain::Hash32 check_shard_commit(const ShardConfig& config, const Spool& spool,
                                 const Upload& upload, const wire::UploadCommit& commit);

/// Where a shard keeps the split commitment (wire::SplitCommitment, serialised) of a committed
/// part, beside its spool file (and removed with it, server.spool_keep_rounds): a voter's read of
/// the part gets it with the part's first range (update_reads.cpp) and checks the part with it.
std::filesystem::path split_commitment_file(const Spool& spool, const Upload& upload);

/// What a shard publishes about a round under "round/<R>/result/<k>" (JSON): its range, the
/// updates it aggregated and dropped, its candidate part, the collective figures, or the error.
std::string shard_result_key(std::uint64_t round, std::size_t shard);

/// On the aggregation thread, in place of aggregate_and_record: publishes this shard's committed
/// updates (address, hash, samples) under "round/<R>/committed/<k>", waits up to the timeout for
/// every shard's list, keeps the updates every shard committed (address order), forms the
/// round's Gloo group under "round/<R>/gloo", aggregates its range (shard::aggregate_shard),
/// stores the candidate part (the global part plus the aggregate), records the diagnostics and
/// the aggregation, and publishes its result. Any failure (a shard that never reports, a peer
/// lost mid-collective, the rule refusing, fewer common updates than the quorum) is the result's
/// error, with the shard and step named, published where the store can be reached; the shard
/// then waits for the coordinator's decision like any other. The result (JSON) also carries the
/// rows (address, hash, samples, signature, verdict, weight, score, distance, flag) and how many
/// pieces of the candidate part were published (part_key).
AggregationResult shard_aggregate_and_record(Spool& spool, StateStore& store, std::uint64_t round,
                                             const std::vector<Upload>& uploads,
                                             const RoundRule& rule, const chain::Hash32& global,
                                             kernels::Backend& backend, ShardLink& link);

}  // namespace murmur::server
