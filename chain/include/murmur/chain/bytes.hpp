// Byte strings, 32-byte hashes and hex text as Ethereum writes them ("0x" + lower-case hex).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace murmur::chain {

/// A byte string (calldata, RLP, signatures).
using Bytes = std::vector<std::uint8_t>;
/// A 32-byte value: Keccak-256 digests, bytes32, storage words.
using Hash32 = std::array<std::uint8_t, 32>;

/// Lower-case hex of `data`, with a "0x" prefix unless `prefix` is false. O(n).
std::string to_hex(std::span<const std::uint8_t> data, bool prefix = true);

/// Parses hex text with or without "0x"; throws std::invalid_argument on an odd length or a
/// non-hex digit, naming the offending text. O(n).
Bytes from_hex(std::string_view text);

/// Parses exactly 32 bytes of hex (e.g. a tx hash or bytes32); throws std::invalid_argument
/// otherwise.
Hash32 hash_from_hex(std::string_view text);

/// `a ‖ b`.
Bytes concat(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

/// Appends `b` to `out`.
void append(Bytes& out, std::span<const std::uint8_t> b);

}  // namespace murmur::chain
