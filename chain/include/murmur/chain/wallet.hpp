// An account that builds, signs and sends EIP-1559 transactions: nonce from
// eth_getTransactionCount(addr, "pending"), gas from eth_estimateGas plus a margin, fees from the
// latest block.
#pragma once

#include <chrono>
#include <optional>

#include "murmur/chain/eth.hpp"
#include "murmur/chain/secp256k1.hpp"
#include "murmur/chain/transaction.hpp"

namespace murmur::chain {

/// Per-transaction overrides.
struct TxOptions {
  std::optional<std::uint64_t> gas_limit;  ///< default: estimate × (100 + gas_margin_percent) / 100
  std::optional<std::uint64_t> nonce;      ///< default: pending nonce
  unsigned gas_margin_percent = 20;
  std::chrono::milliseconds receipt_timeout{60'000};
};

/// Signs and sends transactions for one key. Not thread-safe (nonces come from the node).
class Wallet {
 public:
  /// Queries the chain id once. `eth` must outlive the wallet.
  Wallet(EthClient& eth, PrivateKey key);

  const Address& address() const { return address_; }
  std::uint64_t chain_id() const { return chain_id_; }
  const PrivateKey& key() const { return key_; }
  EthClient& eth() { return eth_; }

  /// Builds and signs a transaction to `to` (empty: deploy `data`). Estimating the gas runs the
  /// call, so a transaction that would revert throws RevertError here, before anything is sent.
  SignedTransaction prepare(const std::optional<Address>& to, const Bytes& data,
                            const U256& value = {}, const TxOptions& options = {});
  /// prepare, send, wait for the receipt; a mined-but-reverted transaction throws RevertError
  /// with the reason replayed by eth_call at the parent block.
  Receipt transact(const std::optional<Address>& to, const Bytes& data, const U256& value = {},
                   const TxOptions& options = {});
  /// Waits for a sent transaction; throws RevertError if it reverted, ReceiptTimeout after
  /// `timeout`.
  Receipt confirm(const SignedTransaction& tx, std::chrono::milliseconds timeout);

 private:
  EthClient& eth_;
  PrivateKey key_;
  Address address_;
  std::uint64_t chain_id_;
};

/// For a receipt with status 0: replays the transaction with eth_call at the block before it and
/// throws the RevertError that explains it (or a generic one if the replay succeeds).
[[noreturn]] void explain_failed_receipt(EthClient& eth, const SignedTransaction& tx,
                                         const Receipt& receipt);

}  // namespace murmur::chain
