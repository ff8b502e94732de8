#include "murmur/chain/contract_view.hpp"

#include <stdexcept>

#include "murmur/chain/errors.hpp"

namespace murmur::chain {

std::vector<abi::Value> call_view(EthClient& eth, const Address& contract,
                                  const std::string& signature, const std::vector<abi::Value>& args,
                                  const std::vector<std::string>& outputs, std::string_view hint) {
  const Bytes data = abi::encode_call(abi::Signature::parse(signature), args);
  Bytes out = eth.call(CallRequest{std::nullopt, contract, data, {}});
  std::vector<abi::Type> types;
  for (const auto& o : outputs) types.push_back(abi::Type::parse(o));
  try {
    return abi::decode(types, out);
  } catch (const std::invalid_argument& e) {
    throw ChainError(signature + " on " + contract.to_checksum() + " returned undecodable data (" +
                     e.what() + "): " + std::string(hint));
  }
}

}  // namespace murmur::chain
