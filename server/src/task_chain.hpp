#pragma once
// murmurd's side of the task contract ([chain] in the configuration): it opens each round on
// chain (startRound, whose seed then decides the roles) and settles it (finalizeRound with the
// voters' signatures and the flagged proposers, or abandonRound when there is nothing to
// settle) through chain::Poster's journaled outbox, so a restart neither loses nor doubles a
// posting. Calls block until the transaction's receipt (bounded by receipt_timeout): murmurd
// makes them on a worker thread, one at a time.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "murmur/chain/alliance.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/outbox.hpp"
#include "murmur/chain/poster.hpp"
#include "murmur/chain/rpc.hpp"
#include "murmur/chain/wallet.hpp"
#include "murmur/server/config.hpp"
#include "round_record.hpp"

namespace murmur::server {

class TaskChain {
 public:
  /// Connects to `config.chain`'s node, loads the aggregator's key and checks that the node is
  /// chain `config.chain_id` and that task `config.task_id` of `config.contract` has that key as
  /// aggregator. Throws std::runtime_error saying which. Precondition: config.chain is set.
  explicit TaskChain(const Config& config);
  ~TaskChain();

  /// The seed of `round` on chain: opens it with startRound unless it is already open (a
  /// restart). Throws std::runtime_error if the chain's task is at another round.
  chain::Hash32 open_round(std::uint64_t round);
  /// Brings a chain left behind murmurd (a chain step that failed past fault_limit_ms) up to
  /// where `round` can be opened: a round left open before `round - 1` is abandoned, and every
  /// round murmurd ran on the local seed is opened and abandoned, so that the chain's round
  /// counter is `round - 1` again. Each round it closes is appended to `closed` (as it is
  /// closed, so that a failure halfway keeps what was done). Reads the task before every
  /// transaction: after a restart or a failed try it sends nothing twice. The round being
  /// settled (`round - 1`) is left as it is when still open: its posting is the step's own.
  void catch_up(std::uint64_t round, std::vector<std::pair<std::uint64_t, RoundPosting>>& closed);
  /// `round`'s posting as the chain has it when the round is closed there (finalized or
  /// abandoned), nullopt while it is open or was never opened: what murmurd adopts for a round
  /// recorded as failed that was closed later (catch_up before a restart).
  std::optional<RoundPosting> settled(std::uint64_t round);
  /// finalizeRound(task, round, candidate, votes, flagged) through the outbox.
  RoundPosting finalize(std::uint64_t round, const chain::Hash32& candidate,
                        const std::vector<chain::SignedVote>& votes,
                        const std::vector<chain::Address>& flagged);
  /// abandonRound(task): the round had no candidate or no vote.
  RoundPosting abandon(std::uint64_t round);
  /// The task's participants and their stakes now (AllianceTask.participants, nodeInfo): what
  /// the contract weighs votes by when it finalizes the round, slashing of earlier rounds
  /// included.
  std::map<chain::Address, chain::U256> participants();

  const chain::Address& aggregator() const { return wallet_.address(); }

 private:
  ChainConfig config_;
  chain::Address contract_address_;
  chain::U256 task_;
  chain::RpcClient rpc_;
  chain::EthClient eth_;
  chain::Wallet wallet_;
  chain::AllianceTaskContract contract_;
  chain::Outbox outbox_;
  chain::Poster poster_;
};

}  // namespace murmur::server
