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
// Equivocation: a proposer whose UploadCommit carries its signed Update for another hash than the
// one it committed on chain has handed murmurd the evidence reportEquivocation takes. The loop
// hands it to `report_equivocation`, which records it (equivocations.db in the data directory,
// synchronous) and returns; a reporter thread of its own sends reportEquivocation (the
// contract refuses a second report of a node and round, so a retry after a crash is harmless) and
// records the outcome. Every transaction of the aggregator's key, the reporter's included, is
// sent under one lock, so that two never take the same nonce.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "murmur/chain/alliance_v2.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/rpc.hpp"
#include "murmur/chain/sqlite.hpp"
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

/// Why an upload's update hash is refused on AllianceTaskV2.
struct CommitmentMismatch {
  std::string reason;
  chain::Hash32 committed{};  ///< the node's commitment on chain; zero: none (or unread)
};

/// A proposer's signed Update for another hash than the one it committed on chain.
struct Equivocation {
  std::uint64_t round = 0;
  chain::Address node;
  chain::Hash32 update_hash{};  ///< the hash it signed (not its commitment)
  std::uint64_t num_samples = 0;
  chain::Bytes signature;
};

/// A recorded equivocation and what became of its report.
struct EquivocationReport {
  Equivocation evidence;
  std::string state;  ///< "pending", "reported" (by murmurd's tx), "refused" (the revert says why)
  chain::Hash32 tx{};
  std::string note;
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
  std::optional<CommitmentMismatch> commitment_mismatch(std::uint64_t round,
                                                        const chain::Address& node,
                                                        const chain::Hash32& hash);
  /// On the loop: records `e` durably (once per node and round) and wakes the reporter, which
  /// sends reportEquivocation. Throws std::runtime_error when it cannot be recorded.
  void report_equivocation(const Equivocation& e);
  /// Every recorded equivocation and its report, by round and node.
  std::vector<EquivocationReport> equivocation_reports() const;

  const chain::Address& aggregator() const { return wallet_.address(); }

 private:
  /// The timestamp the next block will at least have: max(latest + 1, wall clock).
  std::uint64_t next_block_time();
  void wait_until_time_past(std::uint64_t t, const char* what);
  void wait_for_block(std::uint64_t n, const char* what);
  void pause();
  RoundPosting posting_of_closed(std::uint64_t round, const chain::V2RoundInfo& r);
  ChainVote outcome(std::uint64_t round);
  /// A transaction of the aggregator's key from the chain step's worker (under `tx_mutex_`).
  chain::Receipt transact(const chain::Bytes& calldata);
  /// The reporter thread: sends the pending reports, then waits for more.
  void run_reporter();
  void record_report(const EquivocationReport& r) const;

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
  std::mutex tx_mutex_;  ///< one transaction of the aggregator's key at a time
  // The reporter: its own connection and wallet (same key), the evidence store, its thread.
  chain::RpcClient reporter_rpc_;
  chain::EthClient reporter_eth_;
  chain::Wallet reporter_wallet_;
  chain::AllianceTaskV2Contract reporter_;
  chain::sqlite::Database equivocations_;  ///< <data_dir>/equivocations.db (serialized)
  std::mutex reporter_mutex_;
  std::condition_variable reporter_cv_;
  bool reporter_closing_ = false;
  bool reporter_wake_ = false;  ///< new evidence since the reporter's last pass
  std::thread reporter_thread_;
};

}  // namespace murmur::server
