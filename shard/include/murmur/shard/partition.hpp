#pragma once
// How an update's coordinates are split among S shards: contiguous ranges whose boundaries are
// multiples of an alignment that is a power-of-two number of BLAKE3 chunks (so a part's bytes
// are whole subtrees of the update's BLAKE3 tree, part_commitment.hpp) and of the CPU Gram
// matrix's tile (so a range's Gram tiles are the whole update's tiles).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace murmur::shard {

/// A partition that cannot be made; the message says which argument and why.
class PartitionError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Coordinates [begin, end) of the update: one shard's part.
struct CoordinateRange {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const { return end - begin; }
  friend bool operator==(const CoordinateRange&, const CoordinateRange&) = default;
};

/// Default alignment: 4096 float32 coordinates = 16 KiB = 16 BLAKE3 chunks, the CPU Gram
/// kernel's tile (kernels/cpu/gram.cpp), so each range's tiles are tiles of the whole.
inline constexpr std::size_t kDefaultAlignment = 4096;

/// The S contiguous ranges of `d` coordinates, in shard order: as equal as the alignment allows
/// (whole aligned units split floor(s U / S) .. floor((s+1) U / S), U = ceil(d / alignment)),
/// the last ending at d. A range may be empty only when d has fewer units than shards; that is
/// refused. `alignment` (in coordinates) times `bytes_per_coordinate` must be a power-of-two
/// multiple of 1024 bytes. Throws PartitionError otherwise.
std::vector<CoordinateRange> partition(std::size_t d, std::size_t shards,
                                       std::size_t alignment = kDefaultAlignment,
                                       std::size_t bytes_per_coordinate = 4);

/// The ranges' byte boundaries b0 = 0 < b1 < ... < bS = d * bytes_per_coordinate: what
/// protocol::commit_parts splits an update at.
std::vector<std::uint64_t> byte_boundaries(const std::vector<CoordinateRange>& ranges,
                                           std::size_t bytes_per_coordinate = 4);

}  // namespace murmur::shard
