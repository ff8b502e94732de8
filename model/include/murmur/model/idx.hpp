#pragma once
// Readers for IDX files (LeCun's MNIST format, also Fashion-MNIST's), gzip-compressed or not.
#include <filesystem>

#include "murmur/model/labelled_set.hpp"

namespace murmur::model {

/// Where Debian's dataset-fashion-mnist package installs the four files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Reads an IDX image file (magic 0x00000803: unsigned bytes, 3 dimensions [n, h, w]) and an
/// IDX label file (magic 0x00000801: unsigned bytes, [n]) into n examples of h x w floats
/// pixel / 255 in [0, 1]; classes = largest label + 1. Either file may be gzip-compressed
/// (read with zlib) or plain. All integers in the header are big-endian.
///
/// Throws DataError, naming the file, when it cannot be opened, the gzip stream is truncated or
/// corrupt (bad CRC, invalid deflate data), the magic number is wrong, a dimension is 0, the
/// payload is shorter or longer than the header says, or the two files disagree on n.
/// Cost: one pass over the decompressed bytes (47 MB for Fashion-MNIST's training images).
LabelledSet read_idx(const std::filesystem::path& images, const std::filesystem::path& labels);

enum class FashionMnistSplit { kTrain, kTest };

/// Fashion-MNIST's training set (60,000 examples) or test set (10,000), 28 x 28 in [0, 1],
/// 10 classes, from `dir` ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz). Throws DataError
/// as read_idx does; a missing file says to install dataset-fashion-mnist.
LabelledSet load_fashion_mnist(FashionMnistSplit split,
                               const std::filesystem::path& dir = kFashionMnistDir);

}  // namespace murmur::model
