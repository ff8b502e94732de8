// libFuzzer target for what comes back from contract calls (chain/src/abi.cpp, revert.cpp):
// ABI return data decoded strictly as the tuples the chain layer reads, and revert data decoded
// into a readable reason through an error registry holding errors of AllianceTask's kinds.
// abi::decode refuses with std::invalid_argument; ErrorRegistry::decode promises never to throw.
// Anything else, a sanitizer report or a broken invariant below is a bug.
//
// Input layout: byte 0 picks the return type (below); the rest is the data, which is also
// decoded as revert data.
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "murmur/chain/abi.hpp"
#include "murmur/chain/revert.hpp"

namespace abi = murmur::chain::abi;
using murmur::fuzz::invariant_broken;

namespace {

// The tuples murmur reads from contracts (alliance.cpp's views, ERC-20), and types that reach
// every decoder path: nested dynamic arrays and tuples, fixed arrays, short ints and bytes.
const char* const kReturnTypes[] = {
    "(uint256)",
    "((address,uint32,uint32,uint32,address,uint16,uint16,bool,uint32,address,uint256,uint256,"
    "uint256,bytes32,bytes32))",
    "(uint256,bytes32,bool,address[])",
    "(string)",
    "(bytes)",
    "(int8,uint8,int256,bytes4)",
    "((uint256,bytes)[],string[2])",
    "(uint256[][],(bool,string)[3])",
    "(address,bytes32[],int64[])",
};
constexpr std::size_t kTypes = sizeof(kReturnTypes) / sizeof(kReturnTypes[0]);

// Custom errors with every parameter kind AllianceTask's errors have (chain/src/alliance.cpp),
// besides Error(string) and Panic(uint256), which every registry knows.
murmur::chain::ErrorRegistry registry() {
  murmur::chain::ErrorRegistry r;
  r.add("BadTaskParams(string)", {"reason"});
  r.add("UnknownRound(uint256,uint256)", {"taskId", "round"});
  r.add("NotAggregator(address)", {"caller"});
  r.add("ZeroAmount()");
  r.add("BadScore(address,int8)", {"voter", "score"});
  r.add("WrongRole(address,uint8)", {"node", "required"});
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<abi::Type> types = [] {
    std::vector<abi::Type> t;
    for (const char* text : kReturnTypes) t.push_back(abi::Type::parse(text));
    return t;
  }();
  if (size == 0) return 0;
  const abi::Type& type = types[data[0] % kTypes];
  const std::span<const std::uint8_t> body(data + 1, size - 1);
  try {
    const std::vector<abi::Value> values = abi::decode(type.components, body);
    // Accepted values are well-typed: they encode again, and that encoding decodes to the same
    // encoding (decode may accept non-canonical offsets, so the bytes may differ the first time).
    const murmur::chain::Bytes canonical = abi::encode(type.components, values);
    const std::vector<abi::Value> again = abi::decode(type.components, canonical);
    if (abi::encode(type.components, again) != canonical) invariant_broken();
    for (std::size_t i = 0; i < values.size(); ++i)
      (void)murmur::chain::format_value(type.components[i], values[i]);
  } catch (const std::invalid_argument&) {
  }
  static const murmur::chain::ErrorRegistry errors = registry();
  const murmur::chain::RevertReason reason = errors.decode(body);
  // Only Error(string) names its reason in the data; every other message is built here.
  if (reason.message.empty() && reason.name != "Error") invariant_broken();
  return 0;
}
