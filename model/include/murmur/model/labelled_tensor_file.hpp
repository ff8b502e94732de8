#pragma once
// A task's own validation set on disk: the labelled-tensor file format (".mlt").
//
//   offset    size        field
//   0         8           magic, the ASCII bytes "MURMURLT"
//   8         4           version, 1
//   12        4           rank r of one example, 1..8
//   16        8           count n of examples
//   24        4           classes C >= 2; every label lies in [0, C)
//   28        4           reserved, 0
//   32        8 r         the example's dimensions d_1..d_r, each >= 1
//   32 + 8r   4 n prod(d) features: float32, example-major, all finite
//   ...       4 n         labels: int32
//   ...       4           CRC-32 (zlib's crc32, as gzip's) of every byte before it
//
// Every integer and float is little-endian; the file is exactly this long.
#include <filesystem>

#include "murmur/model/labelled_set.hpp"

namespace murmur::model {

/// Writes `set` (checked first: DataError if inconsistent or a feature is not finite) to
/// `path` in the format above; throws DataError if the file cannot be written.
void write_labelled_tensors(const std::filesystem::path& path, const LabelledSet& set);

/// Reads a labelled-tensor file. Throws DataError naming the file and the field when the
/// magic, version, rank, dimensions, classes, length or CRC are wrong, or a label is out of
/// range or a feature is not finite.
LabelledSet read_labelled_tensors(const std::filesystem::path& path);

}  // namespace murmur::model
