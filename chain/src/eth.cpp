#include "murmur/chain/eth.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "murmur/chain/errors.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::chain {

U256 quantity(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return U256(j.get<std::uint64_t>());
  if (j.is_string()) {
    try {
      return U256::from_string(j.get<std::string>());
    } catch (const std::overflow_error& e) {
      throw TransportError(std::string("a quantity in the JSON-RPC reply: ") + e.what());
    }
  }
  throw TransportError("expected a hex quantity in the JSON-RPC reply, got " + j.dump());
}

std::uint64_t quantity_u64(const nlohmann::json& j) {
  const U256 v = quantity(j);
  if (v.bit_length() > 64)
    throw TransportError("expected a 64-bit quantity in the JSON-RPC reply, got " +
                         v.to_quantity());
  return v.to_u64();
}

namespace {

Address address_of(const nlohmann::json& j) {
  return Address::from_hex(j.get<std::string>());
}

Log log_from_json(const nlohmann::json& j) {
  Log l;
  l.address = address_of(j.at("address"));
  for (const auto& t : j.at("topics")) l.topics.push_back(hash_from_hex(t.get<std::string>()));
  l.data = from_hex(j.at("data").get<std::string>());
  if (j.contains("blockNumber") && !j["blockNumber"].is_null())
    l.block_number = quantity_u64(j["blockNumber"]);
  if (j.contains("transactionHash") && !j["transactionHash"].is_null())
    l.tx_hash = hash_from_hex(j["transactionHash"].get<std::string>());
  if (j.contains("logIndex") && !j["logIndex"].is_null()) l.log_index = quantity_u64(j["logIndex"]);
  return l;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Revert data in a JSON-RPC error: geth puts it in "data" as hex; Hardhat in "data" or
// "data.data"; some nodes nest it deeper under "originalError".
std::optional<Bytes> revert_data(const nlohmann::json& data) {
  if (data.is_string()) {
    std::string s = data.get<std::string>();
    if (s.rfind("0x", 0) == 0) {
      try {
        return from_hex(s);
      } catch (const std::invalid_argument&) {
        return std::nullopt;
      }
    }
    return std::nullopt;
  }
  if (data.is_object()) {
    for (const char* key : {"data", "originalError"})
      if (data.contains(key))
        if (auto b = revert_data(data[key])) return b;
  }
  return std::nullopt;
}

}  // namespace

nlohmann::json to_json(const CallRequest& call) {
  nlohmann::json j = nlohmann::json::object();
  if (call.from) j["from"] = call.from->to_lower_hex();
  if (call.to) j["to"] = call.to->to_lower_hex();
  j["data"] = to_hex(call.data);
  if (!call.value.is_zero()) j["value"] = call.value.to_quantity();
  return j;
}

Receipt receipt_from_json(const nlohmann::json& j) {
  try {
    Receipt r;
    r.tx_hash = hash_from_hex(j.at("transactionHash").get<std::string>());
    r.block_number = quantity_u64(j.at("blockNumber"));
    r.success = quantity(j.at("status")) == U256(1);
    r.gas_used = quantity_u64(j.at("gasUsed"));
    if (j.contains("effectiveGasPrice") && !j["effectiveGasPrice"].is_null())
      r.effective_gas_price = quantity(j["effectiveGasPrice"]);
    r.from = address_of(j.at("from"));
    if (j.contains("to") && !j["to"].is_null()) r.to = address_of(j["to"]);
    if (j.contains("contractAddress") && !j["contractAddress"].is_null())
      r.contract_address = address_of(j["contractAddress"]);
    for (const auto& l : j.at("logs")) r.logs.push_back(log_from_json(l));
    return r;
  } catch (const nlohmann::json::exception& e) {
    // A field missing or of the wrong JSON type: garbage from the node, not a crash here.
    throw TransportError("the node's transaction receipt does not parse: " + std::string(e.what()));
  } catch (const std::overflow_error& e) {
    throw TransportError("the node's transaction receipt does not parse: " + std::string(e.what()));
  }
}

Bytes data_from_json(const nlohmann::json& j) {
  if (!j.is_string())
    throw TransportError("expected 0x hex data in the JSON-RPC reply, got " + j.dump());
  return from_hex(j.get<std::string>());
}

EthClient::EthClient(RpcClient& rpc, const ErrorRegistry* errors) : rpc_(rpc), errors_(errors) {}

const ErrorRegistry& EthClient::errors() const {
  static const ErrorRegistry kDefault;
  return errors_ ? *errors_ : kDefault;
}

void EthClient::rethrow_as_revert(const std::string& context) const {
  try {
    throw;
  } catch (const RpcError& e) {
    std::optional<Bytes> data = revert_data(e.data());
    bool says_revert = lower(e.rpc_message()).find("revert") != std::string::npos || e.code() == 3;
    if (!data && !says_revert) throw;
    if (!data) throw RevertError(context, "", e.rpc_message(), {});
    RevertReason r = errors().decode(*data);
    throw RevertError(context, r.name, r.message, *data);
  }
}

std::uint64_t EthClient::chain_id() {
  return quantity_u64(rpc_.call("eth_chainId", nlohmann::json::array()));
}

std::uint64_t EthClient::block_number() {
  return quantity_u64(rpc_.call("eth_blockNumber", nlohmann::json::array()));
}

std::uint64_t EthClient::pending_nonce(const Address& account) {
  return quantity_u64(rpc_.call("eth_getTransactionCount",
                                nlohmann::json::array({account.to_lower_hex(), "pending"})));
}

U256 EthClient::balance(const Address& account) {
  return quantity(
      rpc_.call("eth_getBalance", nlohmann::json::array({account.to_lower_hex(), "latest"})));
}

std::uint64_t EthClient::estimate_gas(const CallRequest& call) {
  try {
    return quantity_u64(rpc_.call("eth_estimateGas", nlohmann::json::array({to_json(call)})));
  } catch (const RpcError&) {
    rethrow_as_revert("eth_estimateGas");
  }
}

FeeQuote EthClient::suggest_fees() {
  FeeQuote q;
  nlohmann::json block =
      rpc_.call("eth_getBlockByNumber", nlohmann::json::array({"latest", false}));
  if (block.is_object() && block.contains("baseFeePerGas") && !block["baseFeePerGas"].is_null())
    q.base_fee = quantity(block["baseFeePerGas"]);
  try {
    q.max_priority_fee_per_gas =
        quantity(rpc_.call("eth_maxPriorityFeePerGas", nlohmann::json::array()));
  } catch (const RpcError&) {
    q.max_priority_fee_per_gas = U256(1'000'000'000);  // 1 gwei, what ethers assumes
  }
  q.max_fee_per_gas = q.base_fee * U256(2) + q.max_priority_fee_per_gas;
  return q;
}

Hash32 EthClient::send_raw_transaction(std::span<const std::uint8_t> raw) {
  Hash32 local = keccak256(raw);
  try {
    nlohmann::json r = rpc_.call("eth_sendRawTransaction", nlohmann::json::array({to_hex(raw)}));
    Hash32 remote = hash_from_hex(r.get<std::string>());
    if (remote != local)
      throw TransportError("eth_sendRawTransaction returned hash " + to_hex(remote) +
                           " but the transaction's hash is " + to_hex(local));
    return local;
  } catch (const RpcError& e) {
    std::string m = lower(e.rpc_message());
    if (m.find("already known") != std::string::npos ||
        m.find("known transaction") != std::string::npos ||
        m.find("already imported") != std::string::npos)
      return local;
    rethrow_as_revert("eth_sendRawTransaction");
  }
}

std::optional<Receipt> EthClient::get_receipt(const Hash32& tx_hash) {
  nlohmann::json r =
      rpc_.call("eth_getTransactionReceipt", nlohmann::json::array({to_hex(tx_hash)}));
  if (r.is_null()) return std::nullopt;
  return receipt_from_json(r);
}

Receipt EthClient::wait_for_receipt(const Hash32& tx_hash, std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds poll) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto r = get_receipt(tx_hash)) return *r;
    if (std::chrono::steady_clock::now() >= deadline)
      throw ReceiptTimeout("no receipt for transaction " + to_hex(tx_hash) + " within " +
                           std::to_string(timeout.count()) +
                           " ms; it may still be mined: retry, and the outbox will "
                           "rebroadcast the same signed transaction");
    std::this_thread::sleep_for(poll);
  }
}

Bytes EthClient::call(const CallRequest& call, const std::string& block) {
  try {
    return data_from_json(rpc_.call("eth_call", nlohmann::json::array({to_json(call), block})));
  } catch (const RpcError&) {
    rethrow_as_revert("eth_call");
  }
}

std::vector<Log> EthClient::get_logs(const LogFilter& f) {
  nlohmann::json q = nlohmann::json::object();
  if (f.address) q["address"] = f.address->to_lower_hex();
  q["fromBlock"] = U256(f.from_block).to_quantity();
  q["toBlock"] = f.to_block ? U256(*f.to_block).to_quantity() : std::string("latest");
  nlohmann::json topics = nlohmann::json::array();
  for (const auto& t : f.topics)
    topics.push_back(t ? nlohmann::json(to_hex(*t)) : nlohmann::json());
  q["topics"] = topics;
  std::vector<Log> out;
  for (const auto& l : rpc_.call("eth_getLogs", nlohmann::json::array({q})))
    out.push_back(log_from_json(l));
  return out;
}

nlohmann::json EthClient::raw(const std::string& method, const nlohmann::json& params) {
  return rpc_.call(method, params);
}

}  // namespace murmur::chain
