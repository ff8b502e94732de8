#pragma once
// The key material behind the protocol's boxes and complaints (internal to murmur::secagg).
#include <optional>
#include <span>
#include <utility>

#include "murmur/secagg/protocol.hpp"

namespace murmur::secagg::detail {

void ensure_sodium();
Key32 blake(std::span<const std::uint8_t> data);

/// secret * peer on ristretto255; throws SecAggError for an invalid point or the identity.
Point dh(const Scalar& secret, const Point& peer);

/// The contents of a box, once opened.
struct OpenedShare {
  NodeId from = 0, to = 0;
  std::uint8_t x = 0;
  Scalar self_share{}, key_share{};
};

/// nullopt when the box is not the expected size or does not authenticate under `key`.
std::optional<OpenedShare> open_share(const SealedShare& box, const Key32& key);

/// Chaum-Pedersen: proof (e, z) that K = c P for the c with C = c B, bound to (C, P, K).
std::pair<Scalar, Scalar> prove_dh(const Scalar& c, const Point& c_public, const Point& peer,
                                   const Point& k);
bool verify_dh(const Point& c_public, const Point& peer, const Point& k, const Scalar& e,
               const Scalar& z);

}  // namespace murmur::secagg::detail
