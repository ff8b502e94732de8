#pragma once
// One read-only contract call, shared by the AllianceTask, AllianceTaskV2 and ArenaTask bindings.

#include <string>
#include <string_view>
#include <vector>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/address.hpp"
#include "murmur/chain/eth.hpp"

namespace murmur::chain {

/// eth_call of `signature(args)` on `contract`, the return data decoded as the types `outputs`.
/// Data that does not decode is a ChainError naming the call, the address and `hint` (what the
/// address should have been). A revert is RevertError, as EthClient::call throws it.
std::vector<abi::Value> call_view(EthClient& eth, const Address& contract,
                                  const std::string& signature, const std::vector<abi::Value>& args,
                                  const std::vector<std::string>& outputs, std::string_view hint);

}  // namespace murmur::chain
