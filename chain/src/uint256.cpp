#include "murmur/chain/uint256.hpp"

#include <algorithm>
#include <stdexcept>

namespace murmur::chain {

using u128 = unsigned __int128;

struct U256Access {
  static std::array<std::uint64_t, 4>& limbs(U256& v) { return v.limbs_; }
  static const std::array<std::uint64_t, 4>& limbs(const U256& v) { return v.limbs_; }
};

namespace {
using L = U256Access;

// a * m + c for a small multiplier; returns the carry out.
std::uint64_t mul_small_add(U256& a, std::uint64_t m, std::uint64_t c) {
  auto& x = L::limbs(a);
  for (auto& limb : x) {
    u128 t = static_cast<u128>(limb) * m + c;
    limb = static_cast<std::uint64_t>(t);
    c = static_cast<std::uint64_t>(t >> 64);
  }
  return c;
}

// a / m for a small divisor; returns the remainder.
std::uint64_t div_small(U256& a, std::uint64_t m) {
  auto& x = L::limbs(a);
  u128 r = 0;
  for (int i = 3; i >= 0; --i) {
    u128 cur = (r << 64) | x[i];
    x[i] = static_cast<std::uint64_t>(cur / m);
    r = cur % m;
  }
  return static_cast<std::uint64_t>(r);
}

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}
}  // namespace

U256 U256::from_be_bytes(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > 32)
    throw std::invalid_argument("U256::from_be_bytes: " + std::to_string(bytes.size()) +
                                " bytes do not fit in 32");
  U256 r;
  std::size_t n = bytes.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t pos = n - 1 - i;  // byte i from the right
    r.limbs_[i / 8] |= static_cast<std::uint64_t>(bytes[pos]) << (8 * (i % 8));
  }
  return r;
}

U256 U256::from_string(std::string_view text) {
  std::string_view s = text;
  unsigned base = 10;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) throw std::invalid_argument("not a number: '" + std::string(text) + "'");
  U256 r;
  for (char c : s) {
    unsigned d = static_cast<unsigned>(digit_value(c));
    if (d >= base)
      throw std::invalid_argument("not a base-" + std::to_string(base) + " number: '" +
                                  std::string(text) + "'");
    if (mul_small_add(r, base, d) != 0)
      throw std::overflow_error("number exceeds 2^256-1: '" + std::string(text) + "'");
  }
  return r;
}

U256 U256::max() {
  U256 r;
  r.limbs_ = {~0ULL, ~0ULL, ~0ULL, ~0ULL};
  return r;
}

std::array<std::uint8_t, 32> U256::to_be_bytes() const {
  std::array<std::uint8_t, 32> out{};
  for (std::size_t i = 0; i < 32; ++i)
    out[31 - i] = static_cast<std::uint8_t>(limbs_[i / 8] >> (8 * (i % 8)));
  return out;
}

std::basic_string<std::uint8_t> U256::to_minimal_be() const {
  auto b = to_be_bytes();
  auto it = std::find_if(b.begin(), b.end(), [](std::uint8_t x) { return x != 0; });
  return {it, b.end()};
}

std::string U256::to_dec() const {
  if (is_zero()) return "0";
  U256 v = *this;
  std::string out;
  while (!v.is_zero()) out.push_back(static_cast<char>('0' + div_small(v, 10)));
  std::reverse(out.begin(), out.end());
  return out;
}

std::string U256::to_quantity() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  if (is_zero()) return "0x0";
  std::string out;
  for (int nib = 63; nib >= 0; --nib) {
    unsigned d = static_cast<unsigned>(limbs_[nib / 16] >> (4 * (nib % 16))) & 0xf;
    if (out.empty() && d == 0) continue;
    out.push_back(kDigits[d]);
  }
  return "0x" + out;
}

std::uint64_t U256::to_u64() const {
  if (limbs_[1] | limbs_[2] | limbs_[3])
    throw std::overflow_error("value " + to_dec() + " does not fit in 64 bits");
  return limbs_[0];
}

unsigned U256::bit_length() const {
  for (int i = 3; i >= 0; --i)
    if (limbs_[i]) return static_cast<unsigned>(64 * i + 64 - __builtin_clzll(limbs_[i]));
  return 0;
}

U256 operator+(const U256& a, const U256& b) {
  U256 r;
  u128 carry = 0;
  for (int i = 0; i < 4; ++i) {
    u128 t = static_cast<u128>(a.limbs_[i]) + b.limbs_[i] + carry;
    r.limbs_[i] = static_cast<std::uint64_t>(t);
    carry = t >> 64;
  }
  if (carry)
    throw std::overflow_error("uint256 addition overflows: " + a.to_dec() + " + " + b.to_dec());
  return r;
}

U256 operator-(const U256& a, const U256& b) {
  if (a < b)
    throw std::overflow_error("uint256 subtraction underflows: " + a.to_dec() + " - " + b.to_dec());
  U256 r;
  std::uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    u128 t = static_cast<u128>(a.limbs_[i]) - b.limbs_[i] - borrow;
    r.limbs_[i] = static_cast<std::uint64_t>(t);
    borrow = (t >> 64) ? 1 : 0;
  }
  return r;
}

namespace {
// Full 512-bit product, 8 limbs little-endian.
std::array<std::uint64_t, 8> mul_wide(const U256& a, const U256& b) {
  std::array<std::uint64_t, 8> r{};
  for (int i = 0; i < 4; ++i) {
    u128 carry = 0;
    for (int j = 0; j < 4; ++j) {
      u128 t = static_cast<u128>(a.limb(i)) * b.limb(j) + r[i + j] + carry;
      r[i + j] = static_cast<std::uint64_t>(t);
      carry = t >> 64;
    }
    r[i + 4] = static_cast<std::uint64_t>(carry);
  }
  return r;
}

// Shift-subtract long division of an n-limb numerator by d (d != 0); the quotient must fit in
// 256 bits.
std::pair<U256, U256> long_div(const std::uint64_t* num, int nlimbs, const U256& d) {
  U256 q, r;
  for (int bitpos = 64 * nlimbs - 1; bitpos >= 0; --bitpos) {
    bool top = r.bit(255);
    r = r << 1;
    if ((num[bitpos / 64] >> (bitpos % 64)) & 1) L::limbs(r)[0] |= 1;
    if (top || r >= d) {
      // r - d mod 2^256: correct also when the shifted-out top bit was set (r + 2^256 - d).
      U256 nd = d.wrapping_neg();
      u128 carry = 0;
      for (int i = 0; i < 4; ++i) {
        u128 t = static_cast<u128>(L::limbs(r)[i]) + L::limbs(nd)[i] + carry;
        L::limbs(r)[i] = static_cast<std::uint64_t>(t);
        carry = t >> 64;
      }
      if (bitpos >= 256) throw std::overflow_error("mulDiv result exceeds 256 bits");
      L::limbs(q)[bitpos / 64] |= 1ULL << (bitpos % 64);
    }
  }
  return {q, r};
}
}  // namespace

U256 operator*(const U256& a, const U256& b) {
  auto w = mul_wide(a, b);
  if (w[4] | w[5] | w[6] | w[7])
    throw std::overflow_error("uint256 multiplication overflows: " + a.to_dec() + " * " +
                              b.to_dec());
  U256 r;
  for (int i = 0; i < 4; ++i) r.limbs_[i] = w[i];
  return r;
}

std::pair<U256, U256> div_mod(const U256& a, const U256& d) {
  if (d.is_zero()) throw std::domain_error("uint256 division by zero");
  return long_div(L::limbs(a).data(), 4, d);
}

U256 operator/(const U256& a, const U256& b) {
  return div_mod(a, b).first;
}
U256 operator%(const U256& a, const U256& b) {
  return div_mod(a, b).second;
}

U256 mul_div(const U256& a, const U256& b, const U256& d) {
  if (d.is_zero()) throw std::domain_error("mulDiv by zero");
  auto w = mul_wide(a, b);
  return long_div(w.data(), 8, d).first;
}

U256 U256::wrapping_neg() const {
  U256 r;
  u128 carry = 1;
  for (int i = 0; i < 4; ++i) {
    u128 t = static_cast<u128>(~limbs_[i]) + carry;
    r.limbs_[i] = static_cast<std::uint64_t>(t);
    carry = t >> 64;
  }
  return r;
}

U256 U256::operator<<(unsigned n) const {
  if (n >= 256) return {};
  U256 r;
  unsigned limb_shift = n / 64, bit_shift = n % 64;
  for (int i = 3; i >= static_cast<int>(limb_shift); --i) {
    std::uint64_t v = limbs_[i - limb_shift] << bit_shift;
    if (bit_shift && i - static_cast<int>(limb_shift) - 1 >= 0)
      v |= limbs_[i - limb_shift - 1] >> (64 - bit_shift);
    r.limbs_[i] = v;
  }
  return r;
}

U256 U256::operator>>(unsigned n) const {
  if (n >= 256) return {};
  U256 r;
  unsigned limb_shift = n / 64, bit_shift = n % 64;
  for (unsigned i = 0; i + limb_shift < 4; ++i) {
    std::uint64_t v = limbs_[i + limb_shift] >> bit_shift;
    if (bit_shift && i + limb_shift + 1 < 4) v |= limbs_[i + limb_shift + 1] << (64 - bit_shift);
    r.limbs_[i] = v;
  }
  return r;
}

std::strong_ordering operator<=>(const U256& a, const U256& b) {
  for (int i = 3; i >= 0; --i)
    if (a.limbs_[i] != b.limbs_[i]) return a.limbs_[i] <=> b.limbs_[i];
  return std::strong_ordering::equal;
}

U256 from_i64(std::int64_t v) {
  if (v >= 0) return U256(static_cast<std::uint64_t>(v));
  return U256(static_cast<std::uint64_t>(-(v + 1)) + 1).wrapping_neg();
}

std::string to_signed_dec(const U256& w) {
  if (!is_negative(w)) return w.to_dec();
  std::string s = w.wrapping_neg().to_dec();
  s.insert(s.begin(), '-');  // not "-" + s: GCC 12 raises a false -Wrestrict there
  return s;
}

}  // namespace murmur::chain
