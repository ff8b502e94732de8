#include "murmur/chain/address.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "murmur/chain/bytes.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::chain {

Address Address::from_hex(std::string_view text) {
  std::string_view s = text;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.size() != 40)
    throw std::invalid_argument("an address is 0x followed by 40 hex digits, got '" +
                                std::string(text) + "'");
  Address a;
  Bytes b = chain::from_hex(s);
  std::copy(b.begin(), b.end(), a.bytes.begin());
  bool has_lower = std::any_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'f'; });
  bool has_upper = std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'F'; });
  if (has_lower && has_upper && a.to_checksum().substr(2) != s)
    throw std::invalid_argument("address '" + std::string(text) +
                                "' has a wrong EIP-55 checksum (mixed case that does not match "
                                "keccak256 of the address): check for a typo, expected " +
                                a.to_checksum());
  return a;
}

std::string Address::to_checksum() const {
  std::string lower = to_hex(bytes, false);
  Hash32 h = keccak256(lower);
  for (std::size_t i = 0; i < lower.size(); ++i) {
    unsigned nibble = (i % 2 == 0) ? h[i / 2] >> 4 : h[i / 2] & 0xf;
    if (lower[i] >= 'a' && nibble >= 8) lower[i] = static_cast<char>(std::toupper(lower[i]));
  }
  return "0x" + lower;
}

std::string Address::to_lower_hex() const {
  return to_hex(bytes);
}

bool Address::is_zero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t x) { return x == 0; });
}

}  // namespace murmur::chain
