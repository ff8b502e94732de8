#include "murmur/shard/partition.hpp"

#include <bit>
#include <string>

namespace murmur::shard {

std::vector<CoordinateRange> partition(std::size_t d, std::size_t shards, std::size_t alignment,
                                       std::size_t bytes_per_coordinate) {
  if (shards == 0) throw PartitionError("partition: at least one shard is needed");
  if (alignment == 0 || bytes_per_coordinate == 0)
    throw PartitionError("partition: alignment and bytes per coordinate must be positive");
  const std::size_t unit_bytes = alignment * bytes_per_coordinate;
  if (unit_bytes % 1024 != 0 || !std::has_single_bit(unit_bytes / 1024))
    throw PartitionError("partition: an aligned unit of " + std::to_string(alignment) +
                         " coordinates is " + std::to_string(unit_bytes) +
                         " bytes; it must be a power-of-two number of 1024-byte BLAKE3 chunks");
  if (d == 0) throw PartitionError("partition: the update has no coordinates");
  const std::size_t units = (d + alignment - 1) / alignment;
  if (units < shards)
    throw PartitionError("partition: " + std::to_string(d) + " coordinates make " +
                         std::to_string(units) + " aligned units of " + std::to_string(alignment) +
                         ", fewer than the " + std::to_string(shards) +
                         " shards; use fewer shards or a smaller alignment");
  std::vector<CoordinateRange> ranges(shards);
  for (std::size_t s = 0; s < shards; ++s) {
    ranges[s].begin = std::min(d, s * units / shards * alignment);
    ranges[s].end = std::min(d, (s + 1) * units / shards * alignment);
  }
  return ranges;
}

std::vector<std::uint64_t> byte_boundaries(const std::vector<CoordinateRange>& ranges,
                                           std::size_t bytes_per_coordinate) {
  std::vector<std::uint64_t> b;
  if (ranges.empty()) return b;
  b.push_back(ranges.front().begin * bytes_per_coordinate);
  for (const CoordinateRange& r : ranges) b.push_back(r.end * bytes_per_coordinate);
  return b;
}

}  // namespace murmur::shard
