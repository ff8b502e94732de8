#pragma once
// The chain step ([chain] in the configuration), as a component: `ChainRounds` owns murmurd's
// `TaskChain` and the worker thread that settles an ended round and opens the next one. The
// round engine hands it a `Settlement` (values gathered on the loop thread) and takes back a
// `ChainStep` once the worker is done; meanwhile the loop keeps serving in FINALIZING. TaskChain
// is used by one thread at a time: the loop (opening the first round, reading stakes) while no
// step runs, the worker while one does.
#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/alliance.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/server/config.hpp"
#include "round_record.hpp"
#include "state_store.hpp"
#include "task_chain.hpp"
#include "task_chain_v2.hpp"

namespace murmur::server {

/// What the loop gathers, as values, for settling an ended round on chain.
struct Settlement {
  std::uint64_t round = 0;
  chain::Hash32 seed{};       ///< the round's seed on chain; zero: it was not opened there
  chain::Hash32 candidate{};  ///< zero when the round had none
  std::vector<chain::SignedVote> votes;  ///< the voters' signed votes for the candidate
  /// The rule's flags and every proposer that did not commit (it did no work), sorted.
  std::vector<chain::Address> flagged;
  bool finalize = false;   ///< finalizeRound (decided by votes); false: abandonRound
  bool open_next = false;  ///< the task has a next round to open
  /// Earlier rounds whose record says their posting failed: the step adopts the chain's
  /// posting of each that is closed there now (TaskChain::settled).
  std::vector<std::uint64_t> unsettled;
};

/// What the chain worker hands back at the end of a round.
struct ChainStep {
  std::uint64_t round = 0;  ///< the round it settled
  RoundDecision decision;   ///< the decision it settled
  RoundPosting posting;
  chain::Hash32 next_seed{};  ///< zero when the next round was not opened
  std::string open_error;
  std::map<chain::Address, chain::U256> next_stakes;  ///< empty when they could not be read
  /// Earlier rounds the step closed on chain before opening the next one, with their postings
  /// (TaskChain::catch_up: a chain left behind after a step failed past fault_limit_ms). When
  /// the settled round is among them, `posting` is its entry.
  std::vector<std::pair<std::uint64_t, RoundPosting>> caught_up;
};

/// Test hooks of the chain step (process-wide; tests of a murmurd built to misbehave).
struct ChainTestHooks {
  /// false: murmurd never sends AllianceTaskV2's finalizeRound, it waits for anyone else to.
  std::atomic<bool> finalize{true};
};

/// The proposers AllianceTaskV2's bitmap marks as included in `round` (what earns a reward): the
/// committed updates whose row in the round record the rule left unflagged (flag_of: not
/// "rejected" by a selection rule or for being non-finite, not an "outlier" of a coordinate-wise
/// rule, not "downweighted" by a clipping rule), sorted by address. A round whose record has no
/// per-update rows (a SecAgg+ round: the rule saw group sums, not updates) includes every
/// committed update. `murmur verify` recomputes the same set (cli/src/verify_cli.cpp).
std::vector<chain::Address> included_updates(const StateStore& store, std::uint64_t round);

/// The text of `spec` whose keccak256 is `rule_hash` (AllianceTaskV2's ruleHash: keccak256 of the
/// rule's text as the creator gave it): `text` as written, the registry's canonical form
/// describe(parse(text)) (what murmurd records), or either without spaces; nullopt when none is.
/// murmurd checks its own rule with it at start; `murmur verify` the rule it recomputes with.
std::optional<std::string> rule_text_for_hash(const std::string& text,
                                              const chain::Hash32& rule_hash);

class ChainRounds {
 public:
  /// Connects to the task contract: AllianceTaskV2 when task.contract is one (TaskChainV2),
  /// else AllianceTask (TaskChain); throws as their constructors do.
  explicit ChainRounds(const Config& cfg);
  ~ChainRounds();
  ChainRounds(const ChainRounds&) = delete;
  ChainRounds& operator=(const ChainRounds&) = delete;

  /// On the loop thread: `round`'s seed on chain (startRound unless it is open already); zero
  /// when it cannot be opened (logged: roles then come from the local seed and the round will
  /// not be settled on chain).
  chain::Hash32 open_round(std::uint64_t round);
  /// On the loop thread: the task's participants and stakes now; empty when they cannot be read
  /// (logged; the engine keeps its `known` ones).
  std::map<chain::Address, chain::U256> participants(std::uint64_t round, std::size_t known);
  /// Starts the chain step on a worker thread: finalizeRound or abandonRound for `what`, then,
  /// if the task goes on, brings a chain left behind up to the next round (catch_up: a round
  /// left open earlier is closed, the rounds run on the local seed are opened and abandoned),
  /// startRound for the next round and a fresh read of the stakes.
  void settle(const RoundDecision& decision, Settlement what);
  /// Whether a step (or, on AllianceTaskV2, the vote on chain) was started and not yet
  /// collected.
  bool settling() const { return step_.valid() || vote_.valid(); }
  /// The step's result once the worker is done (its posting and any failure to open the next
  /// round are logged); nullopt while it runs.
  std::optional<ChainStep> finished();
  /// Stops the waits of a step still running (AllianceTaskV2's windows) and waits for it
  /// (murmurd stopping).
  void wait();

  /// True on AllianceTaskV2: the voters vote on chain, murmurd collects no vote.
  bool v2() const { return v2_ != nullptr; }
  /// AllianceTaskV2, on the loop thread in VOTING: starts (once) the worker that posts
  /// `candidate` with the bitmap of `included()` (included_updates: the committed updates the
  /// rule included), waits for
  /// the voters' commits and reveals and closes the round; returns the decision read from the
  /// contract once the worker is done (a failure is a kFailed decision: the FINALIZING step then
  /// closes the round as the chain allows).
  std::optional<RoundDecision> chain_vote(
      std::uint64_t round, const chain::Hash32& candidate,
      const std::function<std::vector<chain::Address>()>& included);
  /// AllianceTaskV2, on the loop thread at UploadCommit: why an update hash is refused (it is
  /// not the one the node committed on chain), nullopt when it is. AllianceTask: nullopt.
  std::optional<CommitmentMismatch> commitment_mismatch(std::uint64_t round,
                                                        const chain::Address& node,
                                                        const chain::Hash32& hash);
  /// AllianceTaskV2, on the loop thread: records `e` and has it reported on chain
  /// (TaskChainV2::report_equivocation); false on AllianceTask (no such call).
  bool report_equivocation(const Equivocation& e);

  static ChainTestHooks& test_hooks();

 private:
  std::atomic<bool> stopping_{false};
  std::unique_ptr<TaskChain> chain_;
  std::unique_ptr<TaskChainV2> v2_;
  std::future<ChainStep> step_;
  std::future<ChainVote> vote_;
  std::uint64_t vote_round_ = 0;
};

}  // namespace murmur::server
