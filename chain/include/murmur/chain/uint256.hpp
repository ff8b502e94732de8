// 256-bit unsigned integers: token amounts, gas prices, ABI words. Arithmetic is checked
// (overflow and underflow throw), as Solidity 0.8 does; two's complement helpers serve intN.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace murmur::chain {

/// An unsigned 256-bit integer (four 64-bit limbs, least significant first).
class U256 {
 public:
  constexpr U256() = default;
  /// Implicit from any built-in unsigned value.
  constexpr U256(std::uint64_t v) : limbs_{v, 0, 0, 0} {}  // NOLINT(google-explicit-constructor)

  /// Big-endian bytes, at most 32 (shorter inputs are left-padded with zeros).
  static U256 from_be_bytes(std::span<const std::uint8_t> bytes);
  /// Parses decimal ("1000") or hex ("0x3e8"); throws std::invalid_argument on bad digits and
  /// std::overflow_error past 2^256 − 1.
  static U256 from_string(std::string_view text);
  /// 2^256 − 1.
  static U256 max();

  /// The 32 big-endian bytes.
  std::array<std::uint8_t, 32> to_be_bytes() const;
  /// Minimal big-endian bytes (empty for zero), as RLP encodes integers.
  std::basic_string<std::uint8_t> to_minimal_be() const;
  /// Decimal text. O(limbs²).
  std::string to_dec() const;
  /// JSON-RPC quantity: "0x" + hex without leading zeros ("0x0" for zero).
  std::string to_quantity() const;
  /// The value as uint64; throws std::overflow_error if it does not fit.
  std::uint64_t to_u64() const;

  bool is_zero() const { return (limbs_[0] | limbs_[1] | limbs_[2] | limbs_[3]) == 0; }
  /// Bit i (0 = least significant), i < 256.
  bool bit(unsigned i) const { return (limbs_[i / 64] >> (i % 64)) & 1; }
  /// Number of significant bits (0 for zero).
  unsigned bit_length() const;
  std::uint64_t limb(unsigned i) const { return limbs_[i]; }

  /// Checked arithmetic: throws std::overflow_error on overflow or underflow,
  /// std::domain_error on division by zero.
  friend U256 operator+(const U256& a, const U256& b);
  friend U256 operator-(const U256& a, const U256& b);
  friend U256 operator*(const U256& a, const U256& b);
  friend U256 operator/(const U256& a, const U256& b);
  friend U256 operator%(const U256& a, const U256& b);
  U256& operator+=(const U256& b) { return *this = *this + b; }
  U256& operator-=(const U256& b) { return *this = *this - b; }

  /// Wrapping (mod 2^256) operations for two's complement.
  U256 wrapping_neg() const;
  U256 operator<<(unsigned n) const;
  U256 operator>>(unsigned n) const;

  friend bool operator==(const U256&, const U256&) = default;
  friend std::strong_ordering operator<=>(const U256& a, const U256& b);

 private:
  std::array<std::uint64_t, 4> limbs_{};
  friend struct U256Access;
};

/// floor(a · b / d) with a 512-bit intermediate, as OpenZeppelin's Math.mulDiv; throws
/// std::domain_error if d = 0 and std::overflow_error if the result exceeds 256 bits.
U256 mul_div(const U256& a, const U256& b, const U256& d);

/// (quotient, remainder) of a / d; throws std::domain_error if d = 0. O(256) limb operations.
std::pair<U256, U256> div_mod(const U256& a, const U256& d);

/// A signed value as a 256-bit two's complement word (int256 and sign-extended intN).
U256 from_i64(std::int64_t v);
/// True if the word, read as int256, is negative.
inline bool is_negative(const U256& w) {
  return w.bit(255);
}
/// Decimal text of a word read as int256 ("-5").
std::string to_signed_dec(const U256& w);

}  // namespace murmur::chain
