#pragma once
// The SecAgg+ stages of a round ([secagg] enabled), as a component: it owns the round's
// SecAgg+ state (`SecAggRound`, in memory only), its handlers and its tick. The round engine
// passes it what it needs (the round's proposers and seed, the round as persisted) and applies
// the `SecAggStep` it returns; the stage itself, its deadline and its persistence stay the
// engine's. Its aggregation runs on its own thread with the round moved into it.
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "aggregate_round.hpp"
#include "metrics.hpp"
#include "murmur/chain/address.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/secagg/bucketing.hpp"
#include "murmur/server/config.hpp"
#include "round_record.hpp"
#include "spool.hpp"
#include "stage_table.hpp"
#include "state_store.hpp"

namespace murmur::server {

/// A SecAgg+ round in memory only: masked inputs and shares are never written to disk, so a
/// restart in the middle of one ends that round.
struct SecAggRound {
  explicit SecAggRound(secagg::GroupPlan plan) : server(std::move(plan)) {}
  std::uint64_t round = 0;
  secagg::BucketedServer server;
  std::map<chain::Address, secagg::NodeId> ids;  ///< the round's proposers, by address order
  std::vector<chain::Address> addresses;         ///< by global id
  std::set<secagg::NodeId> advertised, dealt, checked, unmasked, masked_done;
  std::map<secagg::NodeId, std::vector<std::uint32_t>> masked;  ///< masked words as they arrive
  /// Global ids of every group's U1.
  std::set<secagg::NodeId> u1() const;
};

/// What the round engine does next in a SecAgg+ round.
struct SecAggStep {
  enum class Kind {
    kStay,       ///< nothing yet
    kEnter,      ///< enter `stage` for `window`
    kAggregate,  ///< the stages are over: aggregate (SecAggStages::aggregate)
    kEnd,        ///< the round ends with `outcome` and `reason`
  };
  Kind kind = Kind::kStay;
  wire::Stage stage = wire::STAGE_UNSPECIFIED;
  std::chrono::milliseconds window{0};
  RoundOutcome outcome = RoundOutcome::kFailed;
  std::string reason;
};

class SecAggStages {
 public:
  /// `cfg` (its [secagg] section, the model's size, the rule) and `metrics` outlive it.
  SecAggStages(const Config& cfg, Metrics& metrics) : cfg_(cfg), metrics_(metrics) {}

  /// Draws `round`'s groups from `seed` over `proposers` (address order): the first stage to
  /// enter, or the round's end when there is no proposer or the groups cannot be drawn.
  SecAggStep begin(std::uint64_t round, const std::vector<chain::Address>& proposers,
                   const chain::Hash32& seed);
  /// `now`, the round as persisted, in one of the SecAgg+ stages: the next stage once the
  /// current one's deadline passed or every node it waits for answered. A round this component
  /// does not hold (a restart) ends as failed.
  SecAggStep tick(const RoundState& now, std::int64_t now_ms);
  /// Moves the round onto the aggregation thread: the bucketed unmasking and the robust rule
  /// across group means, the candidate stored in `spool` as `global` + the aggregate. `spool`
  /// (thread-safe) and `backend` (the thread's alone until the result is collected) outlive it.
  std::future<AggregationResult> aggregate(Spool& spool, kernels::Backend& backend,
                                           const chain::Hash32& global);
  /// The peer's place in this round's groups, while a SecAgg+ stage runs and it is in them.
  std::optional<wire::SecAggPlacement> placement(const chain::Address& peer,
                                                 wire::Stage stage) const;

  // The handlers of the SecAgg+ messages (kRoutes), each with the round as persisted.
  void refuse_nothing_to_fetch(Request& r, const RoundState& now);  ///< before SecAggFetch
  wire::Envelope on_fetch(Request& r, const RoundState& now);
  wire::Envelope on_advertise(Request& r, const RoundState& now);
  wire::Envelope on_dealing(Request& r, const RoundState& now);
  wire::Envelope on_checked(Request& r, const RoundState& now);
  wire::Envelope on_masked_chunk(Request& r, const RoundState& now);
  wire::Envelope on_unmask_shares(Request& r, const RoundState& now);

 private:
  /// The peer's place in this round's groups; ERR_NOT_PROPOSER when it is not in them.
  secagg::GroupPlan::Placement member(const chain::Address& peer, std::uint64_t round) const;

  const Config& cfg_;
  Metrics& metrics_;
  std::unique_ptr<SecAggRound> round_;  ///< loop-owned; moved to the aggregation at the end
};

}  // namespace murmur::server
