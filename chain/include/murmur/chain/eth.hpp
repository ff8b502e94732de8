// Typed Ethereum JSON-RPC calls over an RpcClient; reverts become RevertError with the reason
// decoded through an ErrorRegistry.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/revert.hpp"
#include "murmur/chain/rpc.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain {

/// An event log.
struct Log {
  Address address;
  std::vector<Hash32> topics;
  Bytes data;
  std::uint64_t block_number = 0;
  Hash32 tx_hash{};
  std::uint64_t log_index = 0;
};

/// A mined transaction's receipt.
struct Receipt {
  Hash32 tx_hash{};
  std::uint64_t block_number = 0;
  bool success = false;  ///< status 1
  std::uint64_t gas_used = 0;
  U256 effective_gas_price;
  Address from;
  std::optional<Address> to;
  std::optional<Address> contract_address;  ///< set for contract creations
  std::vector<Log> logs;
};

/// Parameters of eth_call / eth_estimateGas.
struct CallRequest {
  std::optional<Address> from;
  std::optional<Address> to;  ///< empty: contract creation
  Bytes data;
  U256 value;
};

/// An eth_getLogs filter; each topic position matches anything when empty.
struct LogFilter {
  std::optional<Address> address;
  std::vector<std::optional<Hash32>> topics;
  std::uint64_t from_block = 0;
  std::optional<std::uint64_t> to_block;  ///< empty: "latest"
};

/// EIP-1559 fee suggestion.
struct FeeQuote {
  U256 base_fee;  ///< of the latest block
  U256 max_priority_fee_per_gas;
  U256 max_fee_per_gas;  ///< 2·baseFee + tip, so the tx survives six full blocks of rises
};

/// Typed wrappers around the eth_* methods the chain layer needs.
class EthClient {
 public:
  /// `errors` decodes revert data (nullptr: Error/Panic only). Both must outlive the client.
  explicit EthClient(RpcClient& rpc, const ErrorRegistry* errors = nullptr);

  std::uint64_t chain_id();
  std::uint64_t block_number();
  /// eth_getTransactionCount(address, "pending"): the next nonce, counting the mempool.
  std::uint64_t pending_nonce(const Address& account);
  U256 balance(const Address& account);
  /// eth_estimateGas; throws RevertError if the call would revert.
  std::uint64_t estimate_gas(const CallRequest& call);
  /// Tip from eth_maxPriorityFeePerGas (1 gwei if the node lacks it) and baseFee of the latest
  /// block.
  FeeQuote suggest_fees();
  /// eth_sendRawTransaction. Returns keccak256(raw). A node that already has the transaction
  /// ("already known") counts as success; other refusals throw RpcError.
  Hash32 send_raw_transaction(std::span<const std::uint8_t> raw);
  /// eth_getTransactionReceipt; empty while pending or unknown.
  std::optional<Receipt> get_receipt(const Hash32& tx_hash);
  /// Polls for the receipt every `poll` until `timeout`; throws ReceiptTimeout after it.
  Receipt wait_for_receipt(const Hash32& tx_hash, std::chrono::milliseconds timeout,
                           std::chrono::milliseconds poll = std::chrono::milliseconds(250));
  /// eth_call at `block` ("latest" or a 0x quantity); throws RevertError on a revert.
  Bytes call(const CallRequest& call, const std::string& block = "latest");
  std::vector<Log> get_logs(const LogFilter& filter);
  /// Any other method, e.g. hardhat_* or evm_* in tests.
  nlohmann::json raw(const std::string& method, const nlohmann::json& params);

  /// Turns a JSON-RPC error that carries revert data into a RevertError; rethrows anything else.
  [[noreturn]] void rethrow_as_revert(const std::string& context) const;
  const ErrorRegistry& errors() const;

 private:
  RpcClient& rpc_;
  const ErrorRegistry* errors_;
};

/// JSON of a call request ({"from","to","data","value"}).
nlohmann::json to_json(const CallRequest& call);
/// Parses a receipt object as eth_getTransactionReceipt returns it. Throws TransportError for a
/// field missing, of the wrong JSON type or past 64 bits, std::invalid_argument for bad hex.
Receipt receipt_from_json(const nlohmann::json& j);
/// Parses a 0x quantity ("0x1a") or decimal JSON number into a U256: TransportError for another
/// JSON type or a number past 2^256 - 1, std::invalid_argument for bad hex.
U256 quantity(const nlohmann::json& j);
/// quantity(j) as the 64-bit number a chain id, block number, nonce or gas amount is:
/// TransportError past 64 bits (or past 256: a node answering garbage).
std::uint64_t quantity_u64(const nlohmann::json& j);
/// Parses 0x hex data (eth_call's result): TransportError for another JSON type,
/// std::invalid_argument for bad hex.
Bytes data_from_json(const nlohmann::json& j);

}  // namespace murmur::chain
