// libFuzzer target for what an Ethereum node answers (chain/src/rpc.cpp, eth.cpp): the JSON-RPC
// reply body (read_reply: result, error object, or a body to retry), then its result read as
// the typed calls read it: a quantity (eth_chainId, eth_blockNumber, ...), a transaction
// receipt with its logs, eth_call's hex data (data_from_json), and a JSON-RPC error's revert data
// turned into a RevertError. Refusals are the chain layer's typed errors (ChainError and its
// subclasses) and std::invalid_argument from hex parsing; anything else escaping, a sanitizer
// report or a broken invariant below is a bug.
//
// Input layout: byte 0 picks how the result is read (below) and, bit 7, an HTTP status of 500
// instead of 200; the rest is the body.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz_input.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/rpc.hpp"

namespace chain = murmur::chain;
using murmur::fuzz::invariant_broken;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Never connects: EthClient needs one to exist for rethrow_as_revert.
  static chain::RpcClient rpc("http://127.0.0.1:9");
  static chain::EthClient eth(rpc);
  murmur::fuzz::Input in(data, size);
  const std::uint8_t mode = in.byte();
  const long status = (mode & 0x80) ? 500 : 200;
  const std::string body(in.rest());
  std::string problem;
  std::optional<nlohmann::json> result;
  try {
    result = chain::read_reply("eth_fuzz", status, body, problem);
  } catch (const chain::RpcError& e) {
    // What EthClient does with a refused call: a revert with its reason, or the error itself.
    try {
      eth.rethrow_as_revert("fuzz");
    } catch (const chain::RevertError& r) {
      (void)r.reason();
    } catch (const chain::RpcError&) {
    }
    return 0;
  }
  if (!result) {
    if (problem.empty()) invariant_broken();  // a retry always says why
    return 0;
  }
  if (!problem.empty()) invariant_broken();
  try {
    switch (mode & 3) {
      case 0: (void)chain::quantity_u64(*result); break;
      case 1: {
        if (result->is_null()) break;  // pending: no receipt yet
        const chain::Receipt r = chain::receipt_from_json(*result);
        for (const chain::Log& l : r.logs) (void)l.topics.size();
        break;
      }
      case 2: (void)chain::data_from_json(*result); break;
      default: (void)chain::quantity(*result); break;
    }
  } catch (const chain::ChainError&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
