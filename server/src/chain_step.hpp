#pragma once
// The chain step ([chain] in the configuration), as a component: `ChainRounds` owns murmurd's
// `TaskChain` and the worker thread that settles an ended round and opens the next one. The
// round engine hands it a `Settlement` (values gathered on the loop thread) and takes back a
// `ChainStep` once the worker is done; meanwhile the loop keeps serving in FINALIZING. TaskChain
// is used by one thread at a time: the loop (opening the first round, reading stakes) while no
// step runs, the worker while one does.
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/alliance.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/server/config.hpp"
#include "round_record.hpp"
#include "task_chain.hpp"

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
};

/// What the chain worker hands back at the end of a round.
struct ChainStep {
  std::uint64_t round = 0;  ///< the round it settled
  RoundDecision decision;   ///< the decision it settled
  RoundPosting posting;
  chain::Hash32 next_seed{};  ///< zero when the next round was not opened
  std::string open_error;
  std::map<chain::Address, chain::U256> next_stakes;  ///< empty when they could not be read
};

class ChainRounds {
 public:
  /// Connects to the task contract (TaskChain's checks; throws as it does).
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
  /// if the task goes on, startRound for the next round and a fresh read of the stakes.
  void settle(const RoundDecision& decision, Settlement what);
  /// Whether a step was started and not yet collected.
  bool settling() const { return step_.valid(); }
  /// The step's result once the worker is done (its posting and any failure to open the next
  /// round are logged); nullopt while it runs.
  std::optional<ChainStep> finished();
  /// Waits for a step still running (murmurd stopping).
  void wait();

 private:
  std::unique_ptr<TaskChain> chain_;
  std::future<ChainStep> step_;
};

}  // namespace murmur::server
