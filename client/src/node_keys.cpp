#include "murmur/client/node_keys.hpp"

#include <stdexcept>
#include <string_view>

#include "murmur/chain/keccak.hpp"

namespace murmur::client {

chain::PrivateKey derive_node_key(std::uint64_t seed, std::uint64_t index) {
  constexpr std::string_view kTag = "murmur.node-key.v1";
  for (unsigned k = 0; k < 256; ++k) {
    chain::Bytes msg(kTag.begin(), kTag.end());
    for (int shift = 56; shift >= 0; shift -= 8)
      msg.push_back(static_cast<std::uint8_t>(seed >> shift));
    for (int shift = 56; shift >= 0; shift -= 8)
      msg.push_back(static_cast<std::uint8_t>(index >> shift));
    msg.push_back(static_cast<std::uint8_t>(k));
    try {
      return chain::PrivateKey(chain::keccak256(msg));
    } catch (const std::invalid_argument&) {
      // zero or >= the group order: take the next counter value.
    }
  }
  throw std::logic_error(
      "derive_node_key: no valid secret in 256 tries (cannot happen for keccak)");
}

}  // namespace murmur::client
