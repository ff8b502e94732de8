#pragma once
// Checksums, hashes and signatures of what travels on the wire.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/eip712.hpp"

namespace murmur::protocol {

using Checksum = std::array<std::uint8_t, 16>;

/// BLAKE2b-128 (libsodium crypto_generichash) of a chunk's bytes: catches corruption of a
/// chunk in transit or at rest; not a commitment (the keccak update hash is).
Checksum chunk_checksum(std::span<const std::uint8_t> bytes);

/// Keccak-256 over data fed in pieces (an update arrives in chunks; the spool re-reads it).
class UpdateHasher {
 public:
  UpdateHasher();
  ~UpdateHasher();
  UpdateHasher(UpdateHasher&&) noexcept;
  UpdateHasher& operator=(UpdateHasher&&) noexcept;
  void update(std::span<const std::uint8_t> bytes);
  chain::Hash32 finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// keccak256("murmur.register.v1" || chain_id (8 bytes big-endian) || curve_public_key): what
/// a node signs with its chain key to bind its CurveZMQ key to its address.
chain::Hash32 register_digest(std::uint64_t chain_id, std::span<const std::uint8_t> curve_key);

/// The signer of `digest`, or nullopt when `signature` is not a valid 65-byte r||s||v.
std::optional<chain::Address> signer(const chain::Hash32& digest,
                                     std::span<const std::uint8_t> signature);

}  // namespace murmur::protocol
