#pragma once
// murmurd's state database, state.db (SQLite, WAL, synchronous=FULL): the schema and its
// migrations, the curve key bindings, the persisted round, each upload's row (its durable
// offset, its commit), votes, the rule's diagnostics and the round record. The bytes of the
// updates and the models are the Spool's (spool.hpp). Thread-safe: the loop thread writes, the
// aggregation thread records diagnostics and figures.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "murmur.pb.h"
#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/sqlite.hpp"
#include "murmur/server/state_view.hpp"
#include "round_record.hpp"

namespace murmur::server {

enum class UploadState : int { kOpen = 0, kCommitted = 1, kFailed = 2 };

struct Upload {
  std::uint64_t round = 0;
  chain::Address address;
  std::uint64_t id = 0;
  wire::DType dtype = wire::DTYPE_F32;
  std::uint64_t parameters = 0;
  std::uint64_t durable = 0;  ///< bytes fsynced, the resume offset
  UploadState state = UploadState::kOpen;
  chain::Hash32 update_hash{};
  std::uint64_t num_samples = 0;
  chain::Bytes signature;
  std::uint64_t total_bytes() const;
};

/// The round as persisted: restarts resume from it.
struct RoundState {
  std::uint64_t round = 1;
  wire::Stage stage = wire::STAGE_UPLOADING;
  std::int64_t deadline_unix_ms = 0;
  chain::Hash32 global_model{};
  chain::Hash32 candidate_model{};
  /// The round's seed on chain (startRound) when murmurd opens rounds there; zero: the local
  /// seed decides the roles.
  chain::Hash32 seed{};
};

class StateStore {
 public:
  /// Opens (or creates, with its folder) `data_dir`/state.db and brings an older schema up to
  /// date.
  explicit StateStore(const std::filesystem::path& data_dir);
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Curve key (Z85) -> chain address bindings made at registration.
  void bind(const std::string& curve_key, const chain::Address& address);
  std::optional<chain::Address> bound(const std::string& curve_key) const;

  std::optional<RoundState> load_round() const;
  void save_round(const RoundState& state);
  /// Records why a round ended (accepted, rejected, no quorum: ...).
  void record_outcome(std::uint64_t round, const std::string& outcome);
  std::string outcome(std::uint64_t round) const;

  /// The address's upload for the round: the existing one unless it failed, else a new one.
  Upload begin_upload(std::uint64_t round, const chain::Address& address, wire::DType dtype,
                      std::uint64_t parameters);
  std::optional<Upload> upload(std::uint64_t round, const chain::Address& address) const;
  /// Once every byte below `end` is synced in the spool file: records `end` (never lowering it).
  void mark_durable(const Upload& upload, std::uint64_t end);
  void commit(Upload& upload, const chain::Hash32& hash, std::uint64_t samples,
              const chain::Bytes& signature);
  /// Marks the upload failed (its spool file is the Spool's to discard).
  void fail(Upload& upload);
  /// Committed uploads of the round, sorted by address (the rows' order for aggregation).
  std::vector<Upload> committed(std::uint64_t round) const;

  /// Records a vote; false if the voter already voted this round.
  bool record_vote(std::uint64_t round, const VoteRecord& vote);
  std::vector<VoteRecord> votes(std::uint64_t round) const;

  /// The rule's diagnostics of one update and its flag ("" when not flagged).
  void record_diagnostic(std::uint64_t round, const chain::Address& address,
                         const std::string& verdict, double weight, double score, double distance,
                         const std::string& flag = "");
  /// Validation figures of one update (beside its diagnostics row).
  void record_update_validation(std::uint64_t round, const chain::Address& address,
                                const UpdateValidation& v);

  // The round record (table `rounds`), filled in stage by stage.
  /// After aggregation: what was aggregated, and the validation figures when measured.
  void record_aggregation(std::uint64_t round, std::uint64_t updates, const std::string& rule,
                          const chain::Hash32& base, const chain::Hash32& candidate, double seconds,
                          const std::optional<RoundValidationRecord>& validation);
  /// When the round ends (any way).
  void record_decision(std::uint64_t round, const RoundDecision& decision);
  /// After posting on chain.
  void record_posting(std::uint64_t round, const RoundPosting& p);
  /// When validation failed: why (the round goes on without figures).
  void record_validation_error(std::uint64_t round, const std::string& error);
  /// With [chain], when the round opens: where its seed came from.
  void record_seed(std::uint64_t round, const RoundSeed& seed);
  /// The round engine's faults during the round (FaultWatch::round_json).
  void record_faults(std::uint64_t round, const std::string& faults_json);
  /// Rounds with a record, ascending.
  std::vector<std::uint64_t> recorded_rounds() const;
  /// Rounds whose recorded chain posting is `state` (e.g. "failed"), ascending.
  std::vector<std::uint64_t> rounds_with_posting(const std::string& state) const;
  /// Everything recorded about the round; nullopt if nothing is.
  std::optional<RoundRecord> round_record(std::uint64_t round) const;

 private:
  chain::sqlite::Database db_;
  mutable std::mutex mutex_;
  struct RelaxedSync;
};

}  // namespace murmur::server
