#pragma once
// A round's aggregation as free functions of values: the committed uploads read from the spool
// (a read-only view: their files and the global model), the rule, the backend. They return
// what the round engine records; they touch no server state. The aggregation thread runs them
// on values it was handed (server.cpp, start_aggregation), then stores the candidate and the
// record through the spool and the state store, both thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/bytes.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/server/server.hpp"
#include "round_record.hpp"
#include "round_validator.hpp"
#include "spool.hpp"
#include "state_store.hpp"

namespace murmur::server {

/// The rule as the round engine applies it.
struct RoundRule {
  kernels::AggregationSpec spec;
  double flag_ratio = 0;  ///< flag_of's threshold
};

/// What aggregate_round computes.
struct RoundAggregate {
  kernels::AggregationReport report;  ///< the rule's diagnostics, one row per upload
  std::vector<double> counts;         ///< each upload's sample count (FedAvg weights)
  std::vector<UpdateRecord> updates;  ///< per upload (address order): verdict, weights, flag
  std::vector<float> base;            ///< the global model the round started from
  std::vector<float> candidate;       ///< base + the aggregate of the deltas
};

/// Runs `rule` over `uploads` (sorted by address, as StateStore::committed returns them) read
/// from `spool`: one pass over the rows per rule pass, tile by tile. Throws on an unreadable
/// update or model.
RoundAggregate aggregate_round(const Spool& spool, const std::vector<Upload>& uploads,
                               const RoundRule& rule, const chain::Hash32& global,
                               std::size_t parameters, kernels::Backend& backend);

/// What validate_round measures.
struct RoundValidation {
  RoundValidationRecord round;
  std::vector<UpdateValidation> updates;  ///< per upload, in the order of `uploads`
};

/// Scores the candidate, the previous model and every update alone and left out against the
/// validation set (RoundValidator::validate). Throws as it does.
RoundValidation validate_round(const Spool& spool, const std::vector<Upload>& uploads,
                               const RoundAggregate& aggregate, std::size_t parameters,
                               RoundValidator& validator);

/// What the aggregation thread hands back to the loop.
struct AggregationResult {
  chain::Hash32 candidate{};
  std::string error;  ///< non-empty: the round fails with it
  double seconds = 0;
  std::optional<RoundValidationRecord> validation;  ///< for the metrics
  std::string validation_error;  ///< non-empty: validation failed (recorded; the round goes on)
  std::optional<SecAggOutcome> secagg;  ///< a SecAgg+ round's groups
};

/// On the aggregation thread: aggregate_round, then the candidate stored in the spool, the
/// diagnostics, the validation figures (a validation failure is recorded as the round's
/// validation_error; it does not fail the round) and the round record in the state store.
AggregationResult aggregate_and_record(Spool& spool, StateStore& store, std::uint64_t round,
                                       const std::vector<Upload>& uploads, const RoundRule& rule,
                                       const chain::Hash32& global, std::size_t parameters,
                                       kernels::Backend& backend, RoundValidator* validator);

}  // namespace murmur::server
