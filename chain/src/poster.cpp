#include "murmur/chain/poster.hpp"

#include <algorithm>

#include "murmur/chain/errors.hpp"

namespace murmur::chain {
namespace {

constexpr const char* kFinalizeKind = "finalizeRound";

bool says_nonce_used(const RpcError& e) {
  std::string m = e.rpc_message();
  std::transform(m.begin(), m.end(), m.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return m.find("nonce too low") != std::string::npos ||
         m.find("nonce has already been used") != std::string::npos ||
         m.find("already been used") != std::string::npos;
}

}  // namespace

Poster::Poster(Wallet& aggregator, Address alliance_task, Outbox& outbox, PosterOptions options)
    : wallet_(aggregator),
      contract_(alliance_task),
      outbox_(outbox),
      options_(std::move(options)) {}

Posting Poster::prepare(const PostingKey& key, const Bytes& calldata) {
  SignedTransaction tx = wallet_.prepare(contract_, calldata);  // RevertError: nothing recorded
  Posting p;
  p.key = key;
  p.sender = wallet_.address();
  p.nonce = tx.tx.nonce;
  p.raw_tx = tx.raw;
  p.tx_hash = tx.hash;
  outbox_.record_prepared(p);  // durable before the first byte leaves
  if (options_.after_record) options_.after_record(p);
  return p;
}

PostingResult Poster::settle(const PostingKey& key, const Receipt& r, const SignedTransaction& tx) {
  PostingResult out;
  out.key = key;
  out.tx_hash = r.tx_hash;
  out.block_number = r.block_number;
  out.gas_used = r.gas_used;
  out.success = r.success;
  if (r.success) {
    for (const auto& l : r.logs)
      if (l.address == contract_ && !l.topics.empty() &&
          l.topics[0] == alliance::round_finalized_event().topic0())
        out.event = alliance::decode_round_finalized(l);
  } else {
    try {
      explain_failed_receipt(wallet_.eth(), tx, r);
    } catch (const RevertError& e) {
      out.error = e.reason();
    }
  }
  outbox_.mark_mined(key, out.success, r.tx_hash, r.block_number, out.error);
  return out;
}

PostingResult Poster::send_and_confirm(const Posting& p) {
  SignedTransaction tx = decode_transaction(p.raw_tx);
  try {
    wallet_.eth().send_raw_transaction(p.raw_tx);
  } catch (const RevertError&) {
    // Nodes that mine on submission (Hardhat automine) report a mined revert here.
    if (auto r = wallet_.eth().get_receipt(p.tx_hash)) return settle(p.key, *r, tx);
    throw;
  }
  if (options_.after_send) options_.after_send(p);
  outbox_.mark_sent(p.key);
  Receipt r = wallet_.eth().wait_for_receipt(p.tx_hash, options_.receipt_timeout);
  return settle(p.key, r, tx);
}

PostingResult Poster::reconcile(Posting p) {
  SignedTransaction tx = decode_transaction(p.raw_tx);
  if (auto r = wallet_.eth().get_receipt(p.tx_hash)) return settle(p.key, *r, tx);
  try {
    return send_and_confirm(p);
  } catch (const RpcError& e) {
    if (!says_nonce_used(e)) throw;
  }
  // The nonce is spent but not by our transaction (unless its receipt just appeared).
  if (auto r = wallet_.eth().get_receipt(p.tx_hash)) return settle(p.key, *r, tx);
  AllianceTaskContract contract(wallet_.eth(), contract_);
  auto landed = contract.round_finalized_events(p.key.task_id, p.key.round);
  if (!landed.empty()) {
    // Finalized by another transaction of ours (e.g. re-signed by an operator): adopt it.
    auto r = wallet_.eth().get_receipt(landed.front().tx_hash);
    if (!r)
      throw ChainError("RoundFinalized log of " + p.key.to_string() +
                       " has no receipt: is the node syncing?");
    return settle(p.key, *r, tx);
  }
  Posting fresh = prepare(p.key, tx.tx.data);
  return send_and_confirm(fresh);
}

PostingResult Poster::finalize_round(const FinalizeRequest& rq) {
  PostingKey key{kFinalizeKind, rq.task_id, rq.round};
  if (auto existing = outbox_.find(key)) {
    if (existing->state == PostingState::Confirmed || existing->state == PostingState::Reverted) {
      PostingResult out;
      out.key = key;
      out.already_done = true;
      out.success = existing->state == PostingState::Confirmed;
      out.tx_hash = existing->tx_hash;
      out.block_number = existing->block_number;
      out.error = existing->error;
      return out;
    }
    return reconcile(*existing);  // the first recorded request for a key wins
  }
  Bytes calldata =
      alliance::finalize_round(rq.task_id, rq.round, rq.model_hash, rq.votes, rq.flagged_proposers);
  return send_and_confirm(prepare(key, calldata));
}

std::vector<PostingResult> Poster::resume() {
  std::vector<PostingResult> out;
  for (auto& p : outbox_.pending()) out.push_back(reconcile(p));
  return out;
}

}  // namespace murmur::chain
