#pragma once
// Checksums, hashes and signatures of what travels on the wire.
#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/protocol/blake3.hpp"

namespace murmur::protocol {

/// CRC-32C (Castagnoli) of a chunk, big-endian. Catches corruption of a chunk in transit
/// (without CurveZMQ) or in a buffer; it is not a commitment: the update hash is. CRC-32C
/// because the SSE4.2 instruction computes it at memory speed, where a cryptographic checksum
/// per chunk doubled the CPU each byte costs on both ends (see bench/ingest).
using Checksum = std::array<std::uint8_t, 4>;
Checksum chunk_checksum(std::span<const std::uint8_t> bytes);
/// The raw CRC-32C, continuing from `crc` (0 to start): crc32c("123456789") = 0xE3069283.
std::uint32_t crc32c(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0);
/// The checksum of a chunk whose CRC-32C is `crc` (what chunk_checksum returns).
Checksum checksum_of(std::uint32_t crc);

/// Both ends walk a chunk once, in pieces of this size that stay in the core's cache, doing
/// everything a byte needs (copy, checksum, NaN/Inf scan, update hash) piece by piece rather
/// than pass after pass over 4 MiB. A multiple of every element size.
constexpr std::size_t kChunkPiece = 256u << 10;

/// The update hash a node signs in Update(task, round, updateHash, numSamples): BLAKE3 of the
/// update's bytes as uploaded (what `b3sum` prints for the update file), fed in pieces as chunks
/// arrive (the server hashes each chunk once, when it accepts it). BLAKE3 rather than keccak-256
/// or SHA-256: the server must hash every byte it stores on the cores that also run CurveZMQ's
/// cipher, and BLAKE3 hashes one stream in 16 SIMD lanes, about 3x SHA-256 with the CPU's SHA
/// instructions here (protocol/README.md). No contract needs to recompute it: the chain sees
/// only the signed hash.
class UpdateHasher {
 public:
  void update(std::span<const std::uint8_t> bytes);
  [[nodiscard]] chain::Hash32 finish() const;

 private:
  Blake3 hasher_;
};

/// The update hash of `bytes` in one call.
chain::Hash32 update_hash(std::span<const std::uint8_t> bytes);

/// keccak256("murmur.register.v1" || chain_id (8 bytes big-endian) || curve_public_key): what
/// a node signs with its chain key to bind its CurveZMQ key to its address.
chain::Hash32 register_digest(std::uint64_t chain_id, std::span<const std::uint8_t> curve_key);

/// The signer of `digest`, or nullopt when `signature` is not a valid 65-byte r||s||v.
std::optional<chain::Address> signer(const chain::Hash32& digest,
                                     std::span<const std::uint8_t> signature);

}  // namespace murmur::protocol
