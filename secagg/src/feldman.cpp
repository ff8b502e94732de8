#include "murmur/secagg/feldman.hpp"

#include <sodium.h>

#include <stdexcept>
#include <string>

namespace murmur::secagg {
namespace {

void ensure_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("feldman: libsodium failed to initialise");
}

Scalar small(unsigned v) {
  Scalar s{};
  s[0] = static_cast<std::uint8_t>(v);
  s[1] = static_cast<std::uint8_t>(v >> 8);
  return s;
}

Scalar mul(const Scalar& a, const Scalar& b) {
  Scalar r;
  crypto_core_ristretto255_scalar_mul(r.data(), a.data(), b.data());
  return r;
}

Scalar add(const Scalar& a, const Scalar& b) {
  Scalar r;
  crypto_core_ristretto255_scalar_add(r.data(), a.data(), b.data());
  return r;
}

}  // namespace

bool is_valid_point(const Point& p) {
  ensure_sodium();
  // The identity (all zeros) decodes, but no key or commitment of ours is ever it.
  return !sodium_is_zero(p.data(), p.size()) &&
         crypto_core_ristretto255_is_valid_point(p.data()) == 1;
}

Scalar random_scalar() {
  ensure_sodium();
  Scalar s;
  do crypto_core_ristretto255_scalar_random(s.data());
  while (sodium_is_zero(s.data(), s.size()));
  return s;
}

Point base_times(const Scalar& s) {
  ensure_sodium();
  Point p;
  if (crypto_scalarmult_ristretto255_base(p.data(), s.data()) != 0)
    throw std::invalid_argument("feldman: the zero scalar has no commitment");
  return p;
}

Dealing deal(const Scalar& secret, unsigned n, unsigned t) {
  if (t < 1 || t > n || n > 255)
    throw std::invalid_argument("feldman: need 1 <= t <= n <= 255, got t=" + std::to_string(t) +
                                " n=" + std::to_string(n));
  std::vector<Scalar> a(t);
  a[0] = secret;
  for (unsigned j = 1; j < t; ++j) a[j] = random_scalar();
  Dealing d;
  for (const auto& c : a) d.commitments.push_back(base_times(c));
  for (unsigned x = 1; x <= n; ++x) {
    const Scalar sx = small(x);
    Scalar y = a[t - 1];  // Horner at x
    for (unsigned j = t - 1; j-- > 0;) y = add(mul(y, sx), a[j]);
    d.shares.push_back({static_cast<std::uint8_t>(x), y});
  }
  for (auto& c : a) sodium_memzero(c.data(), c.size());
  return d;
}

bool verify(const Share& share, std::span<const Point> commitments) {
  ensure_sodium();
  if (share.x == 0 || commitments.empty()) return false;
  for (const auto& c : commitments)
    if (!is_valid_point(c)) return false;
  // sum_j x^j C_j by Horner: acc = C_{t-1}; acc = x acc + C_j. x acc is never the identity
  // (x < L, acc of prime order) unless acc is; an identity partial sum means a degenerate
  // dealing, which is refused.
  const Scalar sx = small(share.x);
  Point acc = commitments.back();
  for (std::size_t j = commitments.size() - 1; j-- > 0;) {
    Point scaled;
    if (crypto_scalarmult_ristretto255(scaled.data(), sx.data(), acc.data()) != 0) return false;
    if (crypto_core_ristretto255_add(acc.data(), scaled.data(), commitments[j].data()) != 0)
      return false;
  }
  Point expected;
  if (crypto_scalarmult_ristretto255_base(expected.data(), share.y.data()) != 0) return false;
  return sodium_memcmp(expected.data(), acc.data(), acc.size()) == 0;
}

bool verify_batch(std::span<const Share> shares, std::span<const Point> commitments) {
  ensure_sodium();
  if (commitments.empty()) return false;
  for (const auto& c : commitments)
    if (!is_valid_point(c)) return false;
  Scalar lhs{};
  std::vector<Scalar> coef(commitments.size(), Scalar{});
  for (const auto& s : shares) {
    if (s.x == 0) return false;
    Scalar r{};
    randombytes_buf(r.data(), 16);
    lhs = add(lhs, mul(r, s.y));
    Scalar power = r;  // r x^j
    for (auto& c : coef) {
      c = add(c, power);
      power = mul(power, small(s.x));
    }
  }
  Point rhs{};
  bool empty = true;
  for (std::size_t j = 0; j < commitments.size(); ++j) {
    if (sodium_is_zero(coef[j].data(), coef[j].size())) continue;  // the identity adds nothing
    Point term;
    if (crypto_scalarmult_ristretto255(term.data(), coef[j].data(), commitments[j].data()) != 0)
      return false;
    if (empty)
      rhs = term;
    else if (crypto_core_ristretto255_add(rhs.data(), rhs.data(), term.data()) != 0)
      return false;
    empty = false;
  }
  Point expected;
  if (empty || crypto_scalarmult_ristretto255_base(expected.data(), lhs.data()) != 0) return false;
  return sodium_memcmp(expected.data(), rhs.data(), rhs.size()) == 0;
}

Scalar combine(std::span<const Share> shares) {
  if (shares.empty()) throw std::invalid_argument("feldman: no shares");
  Scalar secret{};
  for (std::size_t i = 0; i < shares.size(); ++i) {
    if (shares[i].x == 0) throw std::invalid_argument("feldman: a share with x = 0");
    // Lagrange basis at 0: prod_{j != i} x_j / (x_j - x_i) (mod L).
    Scalar num = small(1), den = small(1);
    for (std::size_t j = 0; j < shares.size(); ++j) {
      if (j == i) continue;
      if (shares[j].x == shares[i].x)
        throw std::invalid_argument("feldman: two shares with the same x");
      Scalar diff;
      crypto_core_ristretto255_scalar_sub(diff.data(), small(shares[j].x).data(),
                                          small(shares[i].x).data());
      num = mul(num, small(shares[j].x));
      den = mul(den, diff);
    }
    Scalar inv;
    if (crypto_core_ristretto255_scalar_invert(inv.data(), den.data()) != 0)
      throw std::invalid_argument("feldman: degenerate abscissae");
    secret = add(secret, mul(mul(num, inv), shares[i].y));
  }
  return secret;
}

}  // namespace murmur::secagg
