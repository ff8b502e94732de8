// What chain::Poster and chain::ArenaPoster share (poster.hpp, arena_poster.hpp): the steps of
// their exactly-once protocol for one posting key, all but how each finds out that a replaced
// or dropped transaction's effect landed under another hash. Internal to murmur_chain.
#pragma once

#include <functional>
#include <optional>

#include "murmur/chain/outbox.hpp"
#include "murmur/chain/poster.hpp"
#include "murmur/chain/wallet.hpp"

namespace murmur::chain {

/// Sends one wallet's calls of one contract through an outbox. Holds only references and a
/// reader: a poster builds one where it posts.
class OutboxSender {
 public:
  /// Reads what a poster wants from a successful receipt (its contract's events) into the
  /// outcome, before the outcome is recorded.
  using ReadSuccess = std::function<void(const Receipt&, PostingResult&)>;

  /// All references must outlive the sender; `options` gives the receipt timeout and the hooks.
  OutboxSender(Wallet& wallet, Address contract, Outbox& outbox, const PosterOptions& options,
               ReadSuccess read_success = {});

  /// Estimates and signs a call of the contract, records it durably (Prepared), then runs
  /// `after_record`. An estimate that reverts throws RevertError and nothing is recorded.
  Posting prepare(const PostingKey& key, const Bytes& calldata);

  /// Sends the recorded raw bytes, runs `after_send`, marks the key Sent, waits for the receipt
  /// and settles it. Throws ReceiptTimeout (the key stays Sent), RpcError/TransportError.
  PostingResult send_and_confirm(const Posting& p);

  /// Records a mined receipt's outcome for `key`; a failed receipt's revert reason is found by
  /// replaying `tx` (explain_failed_receipt).
  PostingResult settle(const PostingKey& key, const Receipt& r, const SignedTransaction& tx);

  /// For a pending posting `p` (`tx`: its raw bytes decoded): its receipt settles it, else its
  /// bytes are sent again. std::nullopt when the node says the nonce is spent and there is still
  /// no receipt for `p`: the transaction was replaced or dropped, and the caller decides whether
  /// its effect landed.
  std::optional<PostingResult> resend(const Posting& p, const SignedTransaction& tx);

 private:
  Wallet& wallet_;
  Address contract_;
  Outbox& outbox_;
  const PosterOptions& options_;
  ReadSuccess read_success_;
};

/// The outcome a Confirmed or Reverted record of `key` stands for (already_done: nothing is
/// sent); std::nullopt while the record is Prepared or Sent.
std::optional<PostingResult> finished_outcome(const PostingKey& key, const Posting& record);

}  // namespace murmur::chain
