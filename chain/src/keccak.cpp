#include "murmur/chain/keccak.hpp"

#include <cryptopp/keccak.h>

namespace murmur::chain {

Hash32 keccak256(std::span<const std::uint8_t> data) {
  CryptoPP::Keccak_256 h;
  h.Update(data.data(), data.size());
  Hash32 out;
  h.Final(out.data());
  return out;
}

Hash32 keccak256(std::string_view text) {
  return keccak256(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

std::array<std::uint8_t, 4> selector(std::string_view signature) {
  Hash32 h = keccak256(signature);
  return {h[0], h[1], h[2], h[3]};
}

}  // namespace murmur::chain
