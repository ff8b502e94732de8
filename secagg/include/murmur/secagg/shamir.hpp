#pragma once
// Shamir t-of-n secret sharing of byte strings over GF(2^8) (each byte shared with its own
// random polynomial of degree t-1; all bytes share the x coordinates 1..n).
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace murmur::secagg {

struct Share {
  std::uint8_t x = 0;               ///< 1..255
  std::vector<std::uint8_t> bytes;  ///< one evaluation per secret byte
};

/// n shares of `secret`, any t of which reconstruct it; fewer reveal nothing.
/// Preconditions: 1 <= t <= n <= 255. `random` fills the polynomial coefficients and must be
/// a cryptographic source (libsodium's randombytes_buf when null).
std::vector<Share> split(std::span<const std::uint8_t> secret, unsigned n, unsigned t,
                         void (*random)(void*, std::size_t) = nullptr);

/// The secret from at least t shares with distinct x (Lagrange interpolation at 0). With
/// fewer than t shares the result is garbage, not an error: callers check a commitment.
std::vector<std::uint8_t> combine(std::span<const Share> shares);

}  // namespace murmur::secagg
