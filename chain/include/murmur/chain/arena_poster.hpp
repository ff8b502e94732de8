// Exactly-once postings of an AI Arena validator (issue 17): commitScores, revealScores and
// claim through the outbox (outbox.hpp), with the protocol chain::Poster follows for
// finalizeRound:
//   1. the key is Confirmed/Reverted in the outbox → that outcome, nothing is sent;
//   2. the key is Prepared/Sent (the process died or timed out) → a receipt for the recorded hash
//      settles it; otherwise the same raw bytes are sent again (same nonce: the chain includes it
//      at most once); if the node says the nonce is spent and no receipt exists, `landed` asks the
//      chain whether the effect is there (then it is adopted), else a new transaction is signed;
//   3. a new key → estimate (a reverting call throws RevertError and nothing is recorded), sign,
//      record durably, send, wait for the receipt, record the outcome.
#pragma once

#include <chrono>
#include <functional>

#include "murmur/chain/outbox.hpp"
#include "murmur/chain/poster.hpp"
#include "murmur/chain/wallet.hpp"

namespace murmur::chain {

class ArenaPoster {
 public:
  /// All references must outlive the poster. One poster per key and outbox file.
  ArenaPoster(Wallet& wallet, Address arena_task, Outbox& outbox,
              std::chrono::milliseconds receipt_timeout = std::chrono::seconds(120));

  /// Posts `calldata` to the ArenaTask for `key` exactly once (protocol above). `landed` tells
  /// whether the call's effect is on chain (for a transaction that landed under another hash).
  /// Throws RevertError (new key whose call reverts: nothing recorded), ReceiptTimeout (the
  /// posting stays pending: call again), TransportError/RpcError on node trouble.
  PostingResult post(const PostingKey& key, const Bytes& calldata,
                     const std::function<bool()>& landed);

  /// The outbox's record of `key`, if any.
  std::optional<Posting> find(const PostingKey& key) const { return outbox_.find(key); }

 private:
  Wallet& wallet_;
  Address contract_;
  Outbox& outbox_;
  PosterOptions options_;  ///< the receipt timeout; no hooks
};

}  // namespace murmur::chain
