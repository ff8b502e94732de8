#pragma once
// BLAKE3 (the default 256-bit hash mode), incremental, with AVX-512 and AVX2 paths chosen at
// run time: the update hash of every upload, computed by the node as it sends and by murmurd as
// it accepts each chunk. Output equals the reference implementation's (`b3sum`).
//
// Why BLAKE3: murmurd must make one cryptographic pass over every byte it stores, on the same
// cores that run CurveZMQ's cipher. BLAKE3 hashes 16 chunks of 1 KiB side by side in SIMD lanes
// (its tree makes that possible for a single stream), several times SHA-256 with the CPU's SHA
// instructions (see bench/ingest and protocol/README.md for the figures).
#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "murmur/chain/bytes.hpp"

namespace murmur::protocol {

class Blake3 {
 public:
  Blake3();
  /// Feeds more bytes: any split of the input gives the same hash.
  void update(std::span<const std::uint8_t> bytes);
  /// The hash of everything fed so far; the hasher can go on being fed afterwards.
  [[nodiscard]] chain::Hash32 finish() const;

  using Words = std::array<std::uint32_t, 8>;

 private:
  void chunk_update(std::span<const std::uint8_t> bytes);
  void push_cv(const Words& cv, std::uint64_t chunk_counter);

  // The chunk being filled: its chaining value so far, the block not yet compressed (the last
  // block of a chunk is compressed only once it is known whether more input follows).
  Words chunk_cv_;
  std::uint64_t chunk_counter_ = 0;
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_len_ = 0;
  std::size_t blocks_compressed_ = 0;
  // Chaining values of completed subtrees, largest first; merged lazily (a merge needs to know
  // whether it is the root).
  std::vector<Words> stack_;
};

/// BLAKE3 of `bytes` in one call.
chain::Hash32 blake3(std::span<const std::uint8_t> bytes);

namespace blake3_detail {
/// The SIMD paths this build and this CPU have, best first; "portable" is always last.
std::vector<std::string_view> available_backends();
/// Makes every Blake3 use `name` (one of available_backends()); "" goes back to the best one.
/// For tests and benchmarks; not thread-safe against running hashes.
void use_backend(std::string_view name);
/// The backend in use.
std::string_view backend();
}  // namespace blake3_detail

}  // namespace murmur::protocol
