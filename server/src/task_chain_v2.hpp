#pragma once
// murmurd's side of AllianceTaskV2 (issue 16; contracts/README.md, "AllianceTaskV2"): selected
// when task.contract is an AllianceTaskV2 (it answers MIN_EXIT_WINDOW()). murmurd is the task's
// aggregator: it opens each round (openRound, after the exit window), draws the roles from the
// seed block (drawRoles; anyone may), posts the candidate with the bitmap of the updates the rule
// included (postCandidate; included_updates in chain_step.hpp), and closes the round when its
// windows allow (finalizeRound, or abandonRound when no candidate came). It never carries a vote:
// voters commit and reveal on chain themselves, and the round's outcome is read from the contract.
// Every call first reads the round's state on chain, so a restart adopts what already happened
// instead of sending it again. Calls block (waiting for blocks or for a window to pass); murmurd
// makes them on the chain step's worker thread, except `commitment_mismatch`, which the loop calls
// over its own connection.
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "murmur/chain/alliance_v2.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/rpc.hpp"
#include "murmur/chain/wallet.hpp"
#include "murmur/server/config.hpp"
#include "round_record.hpp"

namespace murmur::server {

/// Thrown by a wait when murmurd is stopping.
class ChainStepCancelled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What the vote on chain decided, with the finalization's (or abandon's) transaction.
struct ChainVote {
  RoundDecision decision;
  RoundPosting posting;
};

class TaskChainV2 {
 public:
  /// True when `config.contract` on `config.chain`'s node is an AllianceTaskV2.
  static bool detect(const Config& config);

  /// Connects, loads the aggregator's key and checks chain id and aggregator (std::runtime_error
  /// saying which). `stopping` ends every wait with ChainStepCancelled.
  TaskChainV2(const Config& config, const std::atomic<bool>& stopping);
  ~TaskChainV2();

  /// `round`'s seed: openRound once the exit window allows it (unless the round is open
  /// already), then drawRoles once the seed block is mined (unless drawn). Throws
  /// std::runtime_error if the chain's task is at another round.
  chain::Hash32 open_round(std::uint64_t round);
  /// The bound participants of the round in flight and their frozen stakes; empty between
  /// rounds.
  std::map<chain::Address, chain::U256> participants();
  /// The vote of `round` on chain: postCandidate(candidate, bitmap of `included`) unless posted,
  /// then wait for the voters' commits and reveals and finalizeRound (when `finalize`; else wait
  /// for anyone else to), and read the outcome.
  ChainVote vote(std::uint64_t round, const chain::Hash32& candidate,
                 const std::vector<chain::Address>& included, bool finalize);
  /// Closes `round` on chain if it is still open: adopts a finalization or abandon already
  /// there, finishes the vote when a candidate was posted, else abandonRound once the post
  /// deadline has passed.
  RoundPosting close(std::uint64_t round, bool finalize);
  /// As TaskChain::catch_up: a round left in flight before `round - 1` is closed as the
  /// contract allows (close: a finalization from the votes on chain when a candidate was posted,
  /// else abandonRound once its post deadline passed), and every round murmurd ran on the local
  /// seed is opened, its roles drawn, and abandoned after its post deadline, until the chain's
  /// round counter is `round - 1`. Each round closed is appended to `closed` as it is closed.
  void catch_up(std::uint64_t round, bool finalize,
                std::vector<std::pair<std::uint64_t, RoundPosting>>& closed);
  /// As TaskChain::settled: `round`'s posting when it is finalized or abandoned on chain.
  std::optional<RoundPosting> settled(std::uint64_t round);
  /// With the loop's own connection: why an upload of `hash` by `node` in `round` is refused
  /// (no update hash committed on chain, or another one), or nullopt when it matches.
  std::optional<std::string> commitment_mismatch(std::uint64_t round, const chain::Address& node,
                                                 const chain::Hash32& hash);

  const chain::Address& aggregator() const { return wallet_.address(); }

 private:
  /// The timestamp the next block will at least have: max(latest + 1, wall clock).
  std::uint64_t next_block_time();
  void wait_until_time_past(std::uint64_t t, const char* what);
  void wait_for_block(std::uint64_t n, const char* what);
  void pause();
  RoundPosting posting_of_closed(std::uint64_t round, const chain::V2RoundInfo& r);
  ChainVote outcome(std::uint64_t round);

  ChainConfig config_;
  chain::Address address_;
  chain::U256 task_;
  const std::atomic<bool>& stopping_;
  chain::RpcClient rpc_;
  chain::EthClient eth_;
  chain::Wallet wallet_;
  chain::AllianceTaskV2Contract contract_;
  std::uint64_t from_block_ = 0;  ///< log scans start here (the block murmurd started at)
  std::mutex reader_mutex_;       ///< the loop's connection
  chain::RpcClient reader_rpc_;
  chain::EthClient reader_eth_;
  chain::AllianceTaskV2Contract reader_;
};

}  // namespace murmur::server
