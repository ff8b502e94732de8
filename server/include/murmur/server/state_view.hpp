#pragma once
// A read-only view of a murmurd's state.db: what the round engine recorded per round (outcomes,
// the rule's diagnostics, votes, committed uploads, the round records). `murmurd rounds` and
// the simulator read through it, while murmurd writes (SQLite's WAL); the schema is the state
// store's (server/src/state_store.cpp), and nobody else reads it.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/sqlite.hpp"

namespace murmur::server {

struct RoundRecord;  // server/src/round_record.hpp

/// One signed vote, as recorded.
struct VoteRecord {
  chain::Address voter;
  chain::Hash32 model_hash{};
  int score = 0;  ///< +1 or -1
  double loss = 0;
  chain::Bytes signature;
};

/// The rule's diagnostics of one update.
struct DiagnosticRecord {
  std::string verdict;                         ///< kernels::to_string(Verdict)
  double weight = 0, score = 0, distance = 0;  ///< NaN where the server stored none
};

class StateView {
 public:
  /// Opens <data_dir>/state.db read-only; throws std::runtime_error naming the file (and the
  /// key to pass) when there is none.
  explicit StateView(const std::filesystem::path& data_dir);
  StateView(const StateView&) = delete;
  StateView& operator=(const StateView&) = delete;

  /// Why the round ended; nullopt while it has not.
  std::optional<std::string> outcome(std::uint64_t round) const;
  /// Per update of the round, by address.
  std::map<chain::Address, DiagnosticRecord> diagnostics(std::uint64_t round) const;
  /// The round's votes, by voter address.
  std::vector<VoteRecord> votes(std::uint64_t round) const;
  /// Addresses with a committed upload in the round, sorted.
  std::vector<chain::Address> committed(std::uint64_t round) const;
  /// Rounds with a record, ascending.
  std::vector<std::uint64_t> recorded_rounds() const;
  /// Everything recorded about the round (for murmurd's own readers: `murmurd rounds`, whose
  /// JSON is round_records_json); nullopt if nothing is.
  std::optional<RoundRecord> round_record(std::uint64_t round) const;

 private:
  chain::sqlite::Database db_;
};

}  // namespace murmur::server
