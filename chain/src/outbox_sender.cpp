#include "outbox_sender.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

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

OutboxSender::OutboxSender(Wallet& wallet, Address contract, Outbox& outbox,
                           const PosterOptions& options, ReadSuccess read_success)
    : wallet_(wallet),
      contract_(contract),
      outbox_(outbox),
      options_(options),
      read_success_(std::move(read_success)) {}

Posting OutboxSender::prepare(const PostingKey& key, const Bytes& calldata) {
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

PostingResult OutboxSender::settle(const PostingKey& key, const Receipt& r,
                                   const SignedTransaction& tx) {
  PostingResult out;
  out.key = key;
  out.tx_hash = r.tx_hash;
  out.block_number = r.block_number;
  out.gas_used = r.gas_used;
  out.success = r.success;
  if (r.success) {
    if (read_success_) read_success_(r, out);
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

PostingResult OutboxSender::send_and_confirm(const Posting& p) {
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

std::optional<PostingResult> OutboxSender::resend(const Posting& p, const SignedTransaction& tx) {
  if (auto r = wallet_.eth().get_receipt(p.tx_hash)) return settle(p.key, *r, tx);
  try {
    return send_and_confirm(p);
  } catch (const RpcError& e) {
    if (!says_nonce_used(e)) throw;
  }
  // The nonce is spent but not by our transaction (unless its receipt just appeared).
  if (auto r = wallet_.eth().get_receipt(p.tx_hash)) return settle(p.key, *r, tx);
  return std::nullopt;
}

std::optional<PostingResult> finished_outcome(const PostingKey& key, const Posting& record) {
  if (record.state != PostingState::Confirmed && record.state != PostingState::Reverted)
    return std::nullopt;
  PostingResult out;
  out.key = key;
  out.already_done = true;
  out.success = record.state == PostingState::Confirmed;
  out.tx_hash = record.tx_hash;
  out.block_number = record.block_number;
  out.error = record.error;
  return out;
}

}  // namespace murmur::chain
