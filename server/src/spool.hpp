#pragma once
// The durable state of murmurd: update bytes in spool files (fsynced before they are
// acknowledged), models under their keccak-256 hash, and everything else in SQLite (WAL,
// synchronous=FULL). After kill -9 and a restart nothing acknowledged is lost.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "murmur.pb.h"
#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
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

struct VoteRecord {
  chain::Address voter;
  chain::Hash32 model_hash{};
  int score = 0;
  double loss = 0;
  chain::Bytes signature;
};

class Spool {
 public:
  explicit Spool(const std::filesystem::path& dir);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

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
  /// A chunk in three steps, for murmurd's loop and its sync threads: the loop opens the
  /// upload's file (`open_upload`, descriptors kept until `fail`); a sync thread `write_synced`s
  /// the chunk: writes it at `offset` and fdatasyncs the file (and, for a new file, the
  /// directory that names it), throwing when the disk refuses — thread-safe, and chunks of one
  /// upload may be written side by side; once every byte below `end` is synced, the loop
  /// records `end` with `mark_durable` (never lowering it). Block-aligned runs go through
  /// O_DIRECT, sparing the CPU the page cache (a copy, page allocation and writeback for every
  /// byte); the rest, and file systems without O_DIRECT, through ordinary writes.
  struct Descriptors {
    int buffered = -1;
    int direct = -1;  ///< O_DIRECT, or -1 where the file system has none
  };
  Descriptors open_upload(const Upload& upload);
  void write_synced(const Upload& upload, Descriptors fds, std::uint64_t offset,
                    std::span<const std::uint8_t> bytes);
  void mark_durable(const Upload& upload, std::uint64_t end);
  /// The update hash of the spooled bytes (read back from disk).
  chain::Hash32 hash_of(const Upload& upload) const;
  void commit(Upload& upload, const chain::Hash32& hash, std::uint64_t samples,
              const chain::Bytes& signature);
  void fail(Upload& upload);
  /// Committed uploads of the round, sorted by address (the rows' order for aggregation).
  std::vector<Upload> committed(std::uint64_t round) const;
  std::filesystem::path file(const Upload& upload) const;

  /// Stores `values` as little-endian f32 under their keccak-256; returns the hash.
  chain::Hash32 store_model(std::span<const float> values);
  bool has_model(const chain::Hash32& hash) const;
  std::uint64_t model_bytes(const chain::Hash32& hash) const;
  std::vector<std::uint8_t> read_model(const chain::Hash32& hash, std::uint64_t offset,
                                       std::uint64_t length) const;
  std::vector<float> load_model(const chain::Hash32& hash) const;

  /// Records a vote; false if the voter already voted this round.
  bool record_vote(std::uint64_t round, const VoteRecord& vote);
  std::vector<VoteRecord> votes(std::uint64_t round) const;

  /// The rule's diagnostics of one update and its flag ("" when not flagged).
  void record_diagnostic(std::uint64_t round, const chain::Address& address,
                         const std::string& verdict, double weight, double score,
                         double distance, const std::string& flag = "");
  /// Validation figures of one update (beside its diagnostics row).
  void record_update_validation(std::uint64_t round, const chain::Address& address,
                                const UpdateValidation& v);

  // The round record (table `rounds`), filled in stage by stage.
  /// After aggregation: what was aggregated, and the validation figures when measured.
  void record_aggregation(std::uint64_t round, std::uint64_t updates, const std::string& rule,
                          const chain::Hash32& base, const chain::Hash32& candidate,
                          double seconds, const std::optional<RoundValidationRecord>& validation);
  /// When the round ends (any way).
  void record_decision(std::uint64_t round, const RoundDecision& decision);
  /// After posting on chain.
  void record_posting(std::uint64_t round, const RoundPosting& posting);
  /// Rounds with a record, ascending.
  std::vector<std::uint64_t> recorded_rounds() const;
  /// Everything recorded about the round; nullopt if nothing is.
  std::optional<RoundRecord> round_record(std::uint64_t round) const;

 private:
  void exec(const std::string& sql) const;

  std::filesystem::path dir_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mutex_;
  std::map<std::string, Descriptors> fds_;  // open spool files by path
  std::set<int> unnamed_;  // of those (by buffered descriptor), files whose directory entry is not yet synced
  struct RelaxedSync;
};

}  // namespace murmur::server
