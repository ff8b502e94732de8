#include "murmur/chain/wallet.hpp"

#include "murmur/chain/errors.hpp"

namespace murmur::chain {

Wallet::Wallet(EthClient& eth, PrivateKey key)
    : eth_(eth), key_(std::move(key)), address_(key_.address()), chain_id_(eth.chain_id()) {}

SignedTransaction Wallet::prepare(const std::optional<Address>& to, const Bytes& data,
                                  const U256& value, const TxOptions& options) {
  Eip1559Transaction tx;
  tx.chain_id = chain_id_;
  tx.nonce = options.nonce ? *options.nonce : eth_.pending_nonce(address_);
  tx.to = to;
  tx.value = value;
  tx.data = data;
  if (options.gas_limit) {
    tx.gas_limit = *options.gas_limit;
  } else {
    std::uint64_t estimate = eth_.estimate_gas(CallRequest{address_, to, data, value});
    tx.gas_limit = estimate * (100 + options.gas_margin_percent) / 100;
  }
  FeeQuote fees = eth_.suggest_fees();
  tx.max_priority_fee_per_gas = fees.max_priority_fee_per_gas;
  tx.max_fee_per_gas = fees.max_fee_per_gas;
  return sign_transaction(tx, key_);
}

Receipt Wallet::confirm(const SignedTransaction& tx, std::chrono::milliseconds timeout) {
  Receipt r = eth_.wait_for_receipt(tx.hash, timeout);
  if (!r.success) explain_failed_receipt(eth_, tx, r);
  return r;
}

Receipt Wallet::transact(const std::optional<Address>& to, const Bytes& data, const U256& value,
                         const TxOptions& options) {
  SignedTransaction tx = prepare(to, data, value, options);
  eth_.send_raw_transaction(tx.raw);
  return confirm(tx, options.receipt_timeout);
}

void explain_failed_receipt(EthClient& eth, const SignedTransaction& tx, const Receipt& receipt) {
  std::string context = "transaction " + to_hex(receipt.tx_hash) + " (block " +
                        std::to_string(receipt.block_number) + ")";
  std::string at = receipt.block_number > 0 ? U256(receipt.block_number - 1).to_quantity()
                                            : std::string("latest");
  try {
    eth.call(CallRequest{tx.from, tx.tx.to, tx.tx.data, tx.tx.value}, at);
  } catch (const RevertError& e) {
    throw RevertError(context, e.error_name(), e.reason(), e.revert_data());
  }
  throw RevertError(context, "",
                    "status 0 (out of gas at limit " + std::to_string(tx.tx.gas_limit) +
                        ", or the state changed before it was mined)",
                    {});
}

}  // namespace murmur::chain
