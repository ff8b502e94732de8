#include "murmur/chain/poster.hpp"

#include <utility>

#include "murmur/chain/errors.hpp"
#include "outbox_sender.hpp"

namespace murmur::chain {
namespace {

constexpr const char* kFinalizeKind = "finalizeRound";

/// Sends finalizeRound to `alliance_task`; a successful receipt's outcome carries the task's
/// RoundFinalized event.
OutboxSender finalize_sender(Wallet& wallet, Address alliance_task, Outbox& outbox,
                             const PosterOptions& options) {
  return OutboxSender(wallet, alliance_task, outbox, options,
                      [alliance_task](const Receipt& r, PostingResult& out) {
                        for (const auto& l : r.logs)
                          if (l.address == alliance_task && !l.topics.empty() &&
                              l.topics[0] == alliance::round_finalized_event().topic0())
                            out.event = alliance::decode_round_finalized(l);
                      });
}

}  // namespace

Poster::Poster(Wallet& aggregator, Address alliance_task, Outbox& outbox, PosterOptions options)
    : wallet_(aggregator),
      contract_(alliance_task),
      outbox_(outbox),
      options_(std::move(options)) {}

PostingResult Poster::reconcile(Posting p) {
  OutboxSender sender = finalize_sender(wallet_, contract_, outbox_, options_);
  SignedTransaction tx = decode_transaction(p.raw_tx);
  if (auto out = sender.resend(p, tx)) return *out;
  AllianceTaskContract contract(wallet_.eth(), contract_);
  auto landed = contract.round_finalized_events(p.key.task_id, p.key.round);
  if (!landed.empty()) {
    // Finalized by another transaction of ours (e.g. re-signed by an operator): adopt it.
    auto r = wallet_.eth().get_receipt(landed.front().tx_hash);
    if (!r)
      throw ChainError("RoundFinalized log of " + p.key.to_string() +
                       " has no receipt: is the node syncing?");
    return sender.settle(p.key, *r, tx);
  }
  Posting fresh = sender.prepare(p.key, tx.tx.data);
  return sender.send_and_confirm(fresh);
}

PostingResult Poster::finalize_round(const FinalizeRequest& rq) {
  PostingKey key{kFinalizeKind, rq.task_id, rq.round};
  if (auto existing = outbox_.find(key)) {
    if (auto done = finished_outcome(key, *existing)) return *done;
    return reconcile(*existing);  // the first recorded request for a key wins
  }
  Bytes calldata =
      alliance::finalize_round(rq.task_id, rq.round, rq.model_hash, rq.votes, rq.flagged_proposers);
  OutboxSender sender = finalize_sender(wallet_, contract_, outbox_, options_);
  return sender.send_and_confirm(sender.prepare(key, calldata));
}

std::vector<PostingResult> Poster::resume() {
  std::vector<PostingResult> out;
  for (auto& p : outbox_.pending()) out.push_back(reconcile(p));
  return out;
}

}  // namespace murmur::chain
