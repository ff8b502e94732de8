#pragma once
// Keccak-256 of a shard set's whole model without gathering it (docs/sharding.md, "The model's
// hash"): Keccak is a sequential sponge, so shard k absorbs its part into the sponge state
// shard k-1 left and hands the state on through the coordinator's store (204 bytes a shard);
// the coordinator squeezes the hash a single murmurd computes over the whole model's bytes.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "murmur/chain/bytes.hpp"

namespace murmur::server {

/// A Keccak-256 (Ethereum's padding) absorbed in pieces, possibly in different processes.
/// absorb is O(bytes); the state travels as kKeccakStateBytes (the 25 little-endian lanes, then
/// the byte offset in the current 136-byte block as u32 little-endian).
class KeccakChain {
 public:
  static constexpr std::size_t kStateBytes = 200 + 4;
  KeccakChain();
  ~KeccakChain();
  KeccakChain(KeccakChain&&) noexcept;
  KeccakChain& operator=(KeccakChain&&) noexcept;
  /// The sponge as a previous holder left it. Throws std::invalid_argument on a value of
  /// another size or an offset past the block.
  static KeccakChain resume(std::span<const std::uint8_t> state);
  void absorb(std::span<const std::uint8_t> bytes);
  /// The state to hand on (kStateBytes).
  std::vector<std::uint8_t> state() const;
  /// keccak256 of every byte absorbed, by this object and the holders before it.
  chain::Hash32 finish();

 private:
  struct Sponge;
  std::unique_ptr<Sponge> sponge_;
};

}  // namespace murmur::server
