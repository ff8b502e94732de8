// Keccak-256 as Ethereum uses it (the original Keccak padding, not FIPS-202 SHA3-256).
#pragma once

#include <span>
#include <string_view>

#include "murmur/chain/bytes.hpp"

namespace murmur::chain {

/// Keccak-256 of `data` (Crypto++ Keccak_256). O(n).
Hash32 keccak256(std::span<const std::uint8_t> data);
/// Keccak-256 of the bytes of `text` (e.g. a function or type signature).
Hash32 keccak256(std::string_view text);

/// The 4-byte selector of a function or error signature: keccak256(signature)[0..4).
std::array<std::uint8_t, 4> selector(std::string_view signature);

}  // namespace murmur::chain
