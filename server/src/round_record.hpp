#pragma once
// The structured record of one round (table `rounds` in state.db, one row per round; per-update
// rows in `diagnostics`): what the rule did to each update, what validation measured, how the
// vote went, what was posted. server::StateView (murmur/server/state_view.hpp) reads it back.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/uint256.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/rules.hpp"

namespace murmur::server {

inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

/// Why an update is flagged: "" (not flagged), "rejected" (the rule left it out or it was not
/// finite), "outlier" (coordinate-wise rules: farther from the aggregate than flag_ratio x the
/// median distance), "downweighted" (clipping rules: scaled by less than 1 / flag_ratio).
std::string flag_of(const kernels::AggregationSpec& spec, const kernels::RowDiagnostic& row,
                    double flag_ratio);

/// How a round ended.
enum class RoundOutcome { kAccepted, kRejected, kNoQuorum, kFailed };
/// "accepted", "rejected", "no quorum", "failed".
const char* to_string(RoundOutcome o);

/// The validation figures of one update (NaN where not measured; status "" when none).
struct UpdateValidation {
  std::string alone_status;  ///< kernels::to_string(CandidateStatus) of the update alone
  double alone_loss = kNoValue, alone_accuracy = kNoValue;
  double without_loss = kNoValue, without_accuracy = kNoValue;
  double contribution = kNoValue;  ///< loss(without) - loss(with): > 0 helped
};

/// The validation figures of the round.
struct RoundValidationRecord {
  double previous_loss = kNoValue, previous_accuracy = kNoValue;
  double candidate_loss = kNoValue, candidate_accuracy = kNoValue;
  std::string candidate_status;  ///< of the new global model
  std::uint64_t rows = 0;        ///< validation examples
  std::string weights;           ///< "rule" or "samples" (round_validator.hpp)
  std::uint64_t candidates = 0;
  double seconds = 0;
};

/// The vote's tally and the decision.
struct RoundDecision {
  RoundOutcome outcome = RoundOutcome::kRejected;
  std::string reason;  ///< the human-readable outcome, as in the outcomes table
  chain::U256 stake_for, stake_against;
  std::uint64_t votes = 0, votes_for = 0, votes_against = 0;
};

/// What posting the round on chain did.
struct RoundPosting {
  std::string state;  ///< "finalized", "abandoned", "failed"
  chain::Hash32 tx{};
  std::uint64_t block = 0;
  std::string error;
};

/// How a round's seed was drawn, with [chain]: "chain" (startRound's) or "local" (startRound
/// failed; the roles came from keccak256("murmur.local-seed.v1" || task || round) and the round
/// cannot settle on chain: the contract never opened it).
struct RoundSeed {
  std::string source;  ///< "chain" or "local"
  std::string error;   ///< why startRound failed ("" when source is "chain")
};

/// One update's row: the rule's diagnostics, its flag, its validation figures.
struct UpdateRecord {
  chain::Address address;
  std::string verdict;  ///< kernels::to_string(Verdict)
  double weight = kNoValue, score = kNoValue, distance = kNoValue;
  std::string flag;  ///< flag_of; "" when not flagged
  UpdateValidation validation;
};

/// A round as state.db holds it (Spool::round_record).
struct RoundRecord {
  std::uint64_t round = 0;
  std::uint64_t update_count = 0;  ///< committed updates aggregated (0: never aggregated)
  std::string rule;
  chain::Hash32 base_model{}, candidate_model{};
  double aggregation_seconds = kNoValue;
  std::optional<RoundValidationRecord> validation;  ///< when [validation] is configured
  std::optional<RoundDecision> decision;            ///< once the round has ended
  std::optional<RoundPosting> posting;              ///< when [chain] is configured
  std::optional<RoundSeed> seed;                    ///< when [chain] is configured
  /// Why validation failed ("" when it ran or is not configured): the round went on without
  /// figures.
  std::string validation_error;
  /// The round engine's faults during the round, as FaultWatch::round_json wrote them ("" or
  /// "{}": none): per fault class its count, first error and longest streak.
  std::string faults;
  std::vector<UpdateRecord> updates;  ///< sorted by address

  /// The flagged updates' addresses, sorted.
  std::vector<chain::Address> flagged() const;
};

}  // namespace murmur::server
