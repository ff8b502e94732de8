#pragma once
// Feldman verifiable secret sharing over ristretto255 (libsodium), the prime-order group of
// order L ~ 2^252. A secret scalar s is shared with a random polynomial f of degree t-1 over
// Z_L, f(0) = s; the dealer publishes the commitments C_j = a_j B to f's coefficients, and the
// share for holder x is f(x). Anyone holding the commitments checks a share by
//   f(x) B == sum_j x^j C_j   (Horner: t-1 scalar multiplications and additions),
// so every share that verifies lies on the one committed polynomial and any t of them give
// back s = f(0), with s B = C_0. A dealer cannot hand out shares that disagree without the
// holder of a bad one seeing it, and a holder cannot return a wrong share without the server
// seeing it. Hiding is computational (C_0 = s B reveals s only through a discrete log).
#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace murmur::secagg {

using Scalar = std::array<std::uint8_t, 32>;  ///< little-endian, reduced mod L
using Point = std::array<std::uint8_t, 32>;   ///< a ristretto255 encoding

struct Share {
  std::uint8_t x = 0;  ///< 1..255: the holder's abscissa
  Scalar y{};          ///< f(x)
};

struct Dealing {
  std::vector<Point> commitments;  ///< C_0 .. C_{t-1}
  std::vector<Share> shares;       ///< for x = 1 .. n
};

/// Whether `p` is the canonical encoding of a ristretto255 point (other than the identity).
bool is_valid_point(const Point& p);

/// A uniform non-zero scalar from libsodium's CSPRNG.
Scalar random_scalar();
/// s B; throws std::invalid_argument for s = 0 (the identity has no encoding libsodium returns).
Point base_times(const Scalar& s);

/// Shares `secret` t-of-n: random coefficients a_1..a_{t-1}, n shares and t commitments.
/// Preconditions: 1 <= t <= n <= 255. Cost: t base multiplications, n t scalar products.
Dealing deal(const Scalar& secret, unsigned n, unsigned t);

/// Whether `share` lies on the polynomial `commitments` commits to (false for x = 0, an
/// invalid point, or an empty commitment list). Cost: t - 1 scalar multiplications.
bool verify(const Share& share, std::span<const Point> commitments);

/// Whether every share lies on the committed polynomial, checked at once: with random
/// 128-bit weights r_i, (sum_i r_i y_i) B == sum_j (sum_i r_i x_i^j) C_j. A batch holding a
/// bad share passes with probability at most 2^-128. Cost: t + 1 scalar multiplications
/// whatever the number of shares (the server checks every share it is returned this way and
/// looks at them one by one only when a batch fails).
bool verify_batch(std::span<const Share> shares, std::span<const Point> commitments);

/// f(0) from shares with distinct non-zero x (Lagrange at 0 over Z_L). Exactly the secret when
/// at least t verified shares are given; throws std::invalid_argument on a repeated or zero x.
Scalar combine(std::span<const Share> shares);

}  // namespace murmur::secagg
