// libFuzzer target for RLP (chain/src/rlp.cpp) and the raw EIP-1559 transactions built on it
// (chain/src/transaction.cpp: 0x02 || rlp, the sender recovered from the signature). Refusals
// are std::invalid_argument; anything else escaping, a sanitizer report or a broken invariant
// below is a bug. The input is the encoded bytes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>

#include "fuzz_input.hpp"
#include "murmur/chain/rlp.hpp"
#include "murmur/chain/transaction.hpp"

namespace chain = murmur::chain;
namespace rlp = murmur::chain::rlp;
using murmur::fuzz::invariant_broken;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  try {
    // decode accepts canonical encodings only, so what it accepts encodes back to the input.
    const rlp::Item item = rlp::decode(bytes);
    const chain::Bytes again = rlp::encode(item);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) invariant_broken();
  } catch (const std::invalid_argument&) {
  }
  try {
    (void)chain::decode_transaction(bytes);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
