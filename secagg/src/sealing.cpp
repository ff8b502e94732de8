#include "sealing.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace murmur::secagg {
namespace detail {
namespace {

constexpr std::size_t kPlain = 1 + 32 + 32 + 4 + 4;  // x | b share | s share | from | to
constexpr std::size_t kBox = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + kPlain;

void put_id(std::uint8_t* p, NodeId v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
NodeId get_id(const std::uint8_t* p) {
  NodeId v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<NodeId>(p[i]) << (8 * i);
  return v;
}

/// The Fiat-Shamir challenge of the DH proof: BLAKE2b-512 of everything, reduced mod L.
Scalar challenge(const Point& c_public, const Point& peer, const Point& k, const Point& r1,
                 const Point& r2) {
  std::array<std::uint8_t, 16 + 5 * 32> m{};
  std::memcpy(m.data(), "murmur.dleq.v1\0\0", 16);
  std::size_t at = 16;
  for (const Point* p : {&c_public, &peer, &k, &r1, &r2}) {
    std::memcpy(m.data() + at, p->data(), 32);
    at += 32;
  }
  std::array<std::uint8_t, 64> wide{};
  crypto_generichash(wide.data(), wide.size(), m.data(), m.size(), nullptr, 0);
  Scalar e;
  crypto_core_ristretto255_scalar_reduce(e.data(), wide.data());
  return e;
}

}  // namespace

void ensure_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("secagg: libsodium failed to initialise");
}

Key32 blake(std::span<const std::uint8_t> data) {
  Key32 out{};
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

Point dh(const Scalar& secret, const Point& peer) {
  ensure_sodium();
  Point out;
  if (crypto_scalarmult_ristretto255(out.data(), secret.data(), peer.data()) != 0)
    throw SecAggError("secagg: a peer's public key is not a valid ristretto255 point");
  return out;
}

std::optional<OpenedShare> open_share(const SealedShare& box, const Key32& key) {
  if (box.box.size() != kBox) return std::nullopt;
  std::array<std::uint8_t, kPlain> m{};
  if (crypto_secretbox_open_easy(m.data(), box.box.data() + crypto_secretbox_NONCEBYTES,
                                 box.box.size() - crypto_secretbox_NONCEBYTES, box.box.data(),
                                 key.data()) != 0)
    return std::nullopt;
  OpenedShare o;
  o.x = m[0];
  std::memcpy(o.self_share.data(), m.data() + 1, 32);
  std::memcpy(o.key_share.data(), m.data() + 33, 32);
  o.from = get_id(m.data() + 65);
  o.to = get_id(m.data() + 69);
  sodium_memzero(m.data(), m.size());
  return o;
}

std::pair<Scalar, Scalar> prove_dh(const Scalar& c, const Point& c_public, const Point& peer,
                                   const Point& k) {
  const Scalar r = random_scalar();
  const Point r1 = base_times(r), r2 = dh(r, peer);
  const Scalar e = challenge(c_public, peer, k, r1, r2);
  Scalar ec, z;
  crypto_core_ristretto255_scalar_mul(ec.data(), e.data(), c.data());
  crypto_core_ristretto255_scalar_add(z.data(), r.data(), ec.data());
  return {e, z};
}

bool verify_dh(const Point& c_public, const Point& peer, const Point& k, const Scalar& e,
               const Scalar& z) {
  ensure_sodium();
  // R1 = z B - e C and R2 = z P - e K; the proof holds when e is their challenge.
  Point zb, ec, zp, ek, r1, r2;
  if (crypto_scalarmult_ristretto255_base(zb.data(), z.data()) != 0 ||
      crypto_scalarmult_ristretto255(ec.data(), e.data(), c_public.data()) != 0 ||
      crypto_scalarmult_ristretto255(zp.data(), z.data(), peer.data()) != 0 ||
      crypto_scalarmult_ristretto255(ek.data(), e.data(), k.data()) != 0 ||
      crypto_core_ristretto255_sub(r1.data(), zb.data(), ec.data()) != 0 ||
      crypto_core_ristretto255_sub(r2.data(), zp.data(), ek.data()) != 0)
    return false;
  const Scalar expected = challenge(c_public, peer, k, r1, r2);
  return sodium_memcmp(expected.data(), e.data(), e.size()) == 0;
}

}  // namespace detail

Key32 box_key(const Point& dh_point, const Point& a_public, const Point& b_public) {
  std::array<std::uint8_t, 16 + 3 * 32> m{};
  std::memcpy(m.data(), "murmur.box.v1\0\0\0", 16);
  std::memcpy(m.data() + 16, dh_point.data(), 32);
  const bool a_first = std::lexicographical_compare(a_public.begin(), a_public.end(),
                                                    b_public.begin(), b_public.end());
  std::memcpy(m.data() + 48, (a_first ? a_public : b_public).data(), 32);
  std::memcpy(m.data() + 80, (a_first ? b_public : a_public).data(), 32);
  const Key32 k = detail::blake(m);
  sodium_memzero(m.data(), m.size());
  return k;
}

SealedShare seal_share(NodeId from, NodeId to, std::uint8_t x, const Scalar& self_share,
                       const Scalar& key_share, const Scalar& c_secret, const Point& c_public,
                       const Point& peer_c_public) {
  Key32 key = box_key(detail::dh(c_secret, peer_c_public), c_public, peer_c_public);
  std::array<std::uint8_t, detail::kPlain> m{};
  m[0] = x;
  std::memcpy(m.data() + 1, self_share.data(), 32);
  std::memcpy(m.data() + 33, key_share.data(), 32);
  detail::put_id(m.data() + 65, from);
  detail::put_id(m.data() + 69, to);
  SealedShare s{from, to, std::vector<std::uint8_t>(detail::kBox)};
  randombytes_buf(s.box.data(), crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(s.box.data() + crypto_secretbox_NONCEBYTES, m.data(), m.size(),
                        s.box.data(), key.data());
  sodium_memzero(m.data(), m.size());
  sodium_memzero(key.data(), key.size());
  return s;
}

}  // namespace murmur::secagg
