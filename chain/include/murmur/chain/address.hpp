// 20-byte account addresses and their EIP-55 mixed-case checksum text.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace murmur::chain {

/// An Ethereum account or contract address.
struct Address {
  std::array<std::uint8_t, 20> bytes{};

  /// Parses "0x" + 40 hex digits. All-lower or all-upper text is accepted as is; mixed case must
  /// carry a valid EIP-55 checksum (a typo is caught rather than sent funds). Throws
  /// std::invalid_argument saying which rule failed.
  static Address from_hex(std::string_view text);
  /// EIP-55 checksummed text, e.g. "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".
  std::string to_checksum() const;
  /// Lower-case "0x" text (JSON-RPC accepts both).
  std::string to_lower_hex() const;
  bool is_zero() const;

  friend auto operator<=>(const Address&, const Address&) = default;
};

}  // namespace murmur::chain
