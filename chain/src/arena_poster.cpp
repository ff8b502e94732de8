#include "murmur/chain/arena_poster.hpp"

#include "outbox_sender.hpp"

namespace murmur::chain {

ArenaPoster::ArenaPoster(Wallet& wallet, Address arena_task, Outbox& outbox,
                         std::chrono::milliseconds receipt_timeout)
    : wallet_(wallet), contract_(arena_task), outbox_(outbox) {
  options_.receipt_timeout = receipt_timeout;
}

PostingResult ArenaPoster::post(const PostingKey& key, const Bytes& calldata,
                                const std::function<bool()>& landed) {
  OutboxSender sender(wallet_, contract_, outbox_, options_);
  auto existing = outbox_.find(key);
  if (!existing) return sender.send_and_confirm(sender.prepare(key, calldata));
  if (auto done = finished_outcome(key, *existing)) return *done;
  // Pending: the first recorded transaction for the key wins (its bytes, not `calldata`).
  const Posting& p = *existing;
  SignedTransaction tx = decode_transaction(p.raw_tx);
  if (auto out = sender.resend(p, tx)) return *out;
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
  return sender.send_and_confirm(sender.prepare(p.key, tx.tx.data));
}

}  // namespace murmur::chain
