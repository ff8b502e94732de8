#include "murmur/secagg/shamir.hpp"

#include <sodium.h>

#include <array>
#include <stdexcept>

namespace murmur::secagg {
namespace {

/// GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1; 3 generates the multiplicative group.
struct Field {
  std::array<std::uint8_t, 512> exp{};
  std::array<std::uint8_t, 256> log{};
  Field() {
    std::uint8_t v = 1;
    for (int i = 0; i < 255; ++i) {
      exp[i] = exp[i + 255] = v;
      log[v] = static_cast<std::uint8_t>(i);
      // v *= 3: v ^ xtime(v)
      const std::uint8_t xt = static_cast<std::uint8_t>((v << 1) ^ ((v & 0x80) ? 0x1b : 0));
      v = static_cast<std::uint8_t>(v ^ xt);
    }
  }
  std::uint8_t mul(std::uint8_t a, std::uint8_t b) const {
    return (a == 0 || b == 0) ? 0 : exp[log[a] + log[b]];
  }
  std::uint8_t div(std::uint8_t a, std::uint8_t b) const {
    if (b == 0) throw std::invalid_argument("shamir: division by zero");
    return a == 0 ? 0 : exp[log[a] + 255 - log[b]];
  }
};

const Field& field() {
  static const Field f;
  return f;
}

}  // namespace

std::vector<Share> split(std::span<const std::uint8_t> secret, unsigned n, unsigned t,
                         void (*random)(void*, std::size_t)) {
  if (t < 1 || t > n || n > 255)
    throw std::invalid_argument("shamir: need 1 <= t <= n <= 255, got t=" + std::to_string(t) +
                                " n=" + std::to_string(n));
  if (random == nullptr) {
    if (sodium_init() < 0) throw std::runtime_error("shamir: libsodium failed to initialise");
    random = randombytes_buf;
  }
  const Field& f = field();
  std::vector<Share> shares(n);
  for (unsigned i = 0; i < n; ++i) shares[i] = {static_cast<std::uint8_t>(i + 1), std::vector<std::uint8_t>(secret.size())};
  std::vector<std::uint8_t> coef(t);
  for (std::size_t b = 0; b < secret.size(); ++b) {
    coef[0] = secret[b];
    if (t > 1) random(coef.data() + 1, t - 1);
    for (auto& s : shares) {  // Horner at x
      std::uint8_t y = 0;
      for (unsigned k = t; k-- > 0;) y = static_cast<std::uint8_t>(f.mul(y, s.x) ^ coef[k]);
      s.bytes[b] = y;
    }
  }
  sodium_memzero(coef.data(), coef.size());
  return shares;
}

std::vector<std::uint8_t> combine(std::span<const Share> shares) {
  if (shares.empty()) throw std::invalid_argument("shamir: no shares");
  const Field& f = field();
  const std::size_t len = shares[0].bytes.size();
  std::vector<std::uint8_t> secret(len, 0);
  for (std::size_t i = 0; i < shares.size(); ++i) {
    if (shares[i].x == 0 || shares[i].bytes.size() != len)
      throw std::invalid_argument("shamir: malformed share");
    // Lagrange basis at 0: prod_{j != i} x_j / (x_j - x_i); subtraction is xor in GF(2^8).
    std::uint8_t basis = 1;
    for (std::size_t j = 0; j < shares.size(); ++j) {
      if (j == i) continue;
      if (shares[j].x == shares[i].x) throw std::invalid_argument("shamir: two shares with the same x");
      basis = f.mul(basis, f.div(shares[j].x, static_cast<std::uint8_t>(shares[j].x ^ shares[i].x)));
    }
    for (std::size_t b = 0; b < len; ++b) secret[b] ^= f.mul(basis, shares[i].bytes[b]);
  }
  return secret;
}

}  // namespace murmur::secagg
