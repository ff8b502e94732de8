#include "murmur/chain/arena_poster.hpp"

#include <algorithm>
#include <cctype>

#include "murmur/chain/errors.hpp"

namespace murmur::chain {
namespace {

bool says_nonce_used(const RpcError& e) {
  std::string m = e.rpc_message();
  std::transform(m.begin(), m.end(), m.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return m.find("nonce too low") != std::string::npos ||
         m.find("already been used") != std::string::npos;
}

}  // namespace

Posting ArenaPoster::prepare(const PostingKey& key, const Bytes& calldata) {
  SignedTransaction tx = wallet_.prepare(contract_, calldata);  // RevertError: nothing recorded
  Posting p;
  p.key = key;
  p.sender = wallet_.address();
  p.nonce = tx.tx.nonce;
  p.raw_tx = tx.raw;
  p.tx_hash = tx.hash;
  outbox_.record_prepared(p);  // durable before the first byte leaves
  return p;
}

PostingResult ArenaPoster::settle(const PostingKey& key, const Receipt& r,
                                  const SignedTransaction& tx) {
  PostingResult out;
  out.key = key;
  out.tx_hash = r.tx_hash;
  out.block_number = r.block_number;
  out.gas_used = r.gas_used;
  out.success = r.success;
  if (!r.success) {
    try {
      explain_failed_receipt(wallet_.eth(), tx, r);
    } catch (const RevertError& e) {
      out.error = e.reason();
    }
  }
  outbox_.mark_mined(key, out.success, r.tx_hash, r.block_number, out.error);
  return out;
}

PostingResult ArenaPoster::send_and_confirm(const Posting& p) {
  SignedTransaction tx = decode_transaction(p.raw_tx);
  try {
    wallet_.eth().send_raw_transaction(p.raw_tx);
  } catch (const RevertError&) {
    // Nodes that mine on submission (Hardhat automine) report a mined revert here.
    if (auto r = wallet_.eth().get_receipt(p.tx_hash)) return settle(p.key, *r, tx);
    throw;
  }
  outbox_.mark_sent(p.key);
  Receipt r = wallet_.eth().wait_for_receipt(p.tx_hash, timeout_);
  return settle(p.key, r, tx);
}

PostingResult ArenaPoster::post(const PostingKey& key, const Bytes& calldata,
                                const std::function<bool()>& landed) {
  auto existing = outbox_.find(key);
  if (!existing) return send_and_confirm(prepare(key, calldata));
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
  // Pending: the first recorded transaction for the key wins (its bytes, not `calldata`).
  const Posting& p = *existing;
  SignedTransaction tx = decode_transaction(p.raw_tx);
  if (auto r = wallet_.eth().get_receipt(p.tx_hash)) return settle(p.key, *r, tx);
  try {
    return send_and_confirm(p);
  } catch (const RpcError& e) {
    if (!says_nonce_used(e)) throw;
  }
  if (auto r = wallet_.eth().get_receipt(p.tx_hash)) return settle(p.key, *r, tx);
  if (landed && landed()) {
    // The effect is on chain through another transaction of this key's sender: adopt it.
    outbox_.mark_mined(p.key, true, p.tx_hash, 0, "landed through another transaction");
    PostingResult out;
    out.key = p.key;
    out.success = true;
    out.already_done = true;
    out.tx_hash = p.tx_hash;
    return out;
  }
  return send_and_confirm(prepare(p.key, tx.tx.data));
}

}  // namespace murmur::chain
