// The poster: sends a round's finalizeRound exactly once, through the outbox.
//
// Protocol for one posting key (finalizeRound, task, round):
//   1. key already Confirmed/Reverted in the outbox → return that outcome, send nothing;
//   2. key Prepared/Sent (a previous process died or timed out) → reconcile: a receipt for the
//      recorded hash settles it; otherwise rebroadcast the same raw bytes (same nonce, so the
//      chain can include it at most once); if the node says the nonce is used and no receipt
//      exists, the transaction was replaced or dropped: if the round is finalized on chain the
//      landed transaction is adopted, else a new one is signed and recorded;
//   3. new key → estimate (a reverting finalize throws RevertError here and nothing is recorded),
//      sign, record (durable), send, wait for the receipt, record the outcome.
// A crash anywhere leaves either nothing (before 3's record: nothing was sent) or a record whose
// transaction is reconciled by `resume()` or the next `finalize_round` for the key. The contract
// also refuses a second finalize of the same round (WrongRound / RoundNotOpen).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include "murmur/chain/alliance.hpp"
#include "murmur/chain/outbox.hpp"
#include "murmur/chain/wallet.hpp"

namespace murmur::chain {

/// What the aggregator posts at the end of a round.
struct FinalizeRequest {
  U256 task_id;
  U256 round;
  Hash32 model_hash{};
  std::vector<SignedVote> votes;
  std::vector<Address> flagged_proposers;
};

/// The outcome of a posting.
struct PostingResult {
  PostingKey key;
  bool success = false;       ///< mined with status 1
  bool already_done = false;  ///< found finished in the outbox: nothing was sent this time
  Hash32 tx_hash{};
  std::uint64_t block_number = 0;
  std::uint64_t gas_used = 0;  ///< 0 when already_done
  std::string error;           ///< revert reason when !success
  std::optional<RoundFinalizedEvent> event;
};

/// Knobs and fault-injection hooks (tests simulate crashes by exiting inside them).
struct PosterOptions {
  std::chrono::milliseconds receipt_timeout{120'000};
  std::function<void(const Posting&)> after_record;  ///< after the durable record, before sending
  std::function<void(const Posting&)> after_send;    ///< after the node accepted the raw tx
};

/// Posts finalizeRound for the aggregator's wallet through an outbox. Not thread-safe; one poster
/// per aggregator key (nonces come from the node's pending count).
class Poster {
 public:
  /// All references must outlive the poster.
  Poster(Wallet& aggregator, Address alliance_task, Outbox& outbox, PosterOptions options = {});

  /// Finalizes (task, round) exactly once; see the protocol above. Throws RevertError if the
  /// finalize would revert (nothing recorded), ReceiptTimeout if no receipt arrives in time
  /// (the posting stays pending; call again or resume()), TransportError/RpcError on node trouble.
  PostingResult finalize_round(const FinalizeRequest& request);

  /// Reconciles every pending posting (call at startup); returns their outcomes.
  std::vector<PostingResult> resume();

 private:
  PostingResult reconcile(Posting p);

  Wallet& wallet_;
  Address contract_;
  Outbox& outbox_;
  PosterOptions options_;
};

}  // namespace murmur::chain
