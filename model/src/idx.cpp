// IDX files: a big-endian header (magic 0x0000TTRR: type TT, RR dimensions; then RR u32
// sizes) followed by the payload. MNIST and Fashion-MNIST use type 0x08 (unsigned byte).
#include "murmur/model/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "murmur/model/errors.hpp"

namespace murmur::model {
namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;       // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;       // unsigned bytes, 1 dimension
constexpr std::size_t kMaxBytes = std::size_t{1} << 32;  // refuse to inflate more than 4 GiB

std::string hex(std::uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

/// The whole decompressed content of `path` (gzip, or plain: zlib reads it transparently).
std::vector<unsigned char> inflate_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  gzFile file = gzopen(name.c_str(), "rb");
  if (file == nullptr) throw DataError(name + ": cannot open: " + std::strerror(errno));
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(file, gzclose_r);
  std::vector<unsigned char> bytes;
  constexpr unsigned kChunk = 1u << 20;
  while (true) {
    const std::size_t size = bytes.size();
    bytes.resize(size + kChunk);
    const int got = gzread(file, bytes.data() + size, kChunk);
    int code = Z_OK;
    const char* message = gzerror(file, &code);
    if (got < 0 || (code != Z_OK && code != Z_BUF_ERROR))
      throw DataError(name + ": corrupt gzip stream (" + message +
                      "); the file is damaged: download or reinstall it");
    bytes.resize(size + static_cast<std::size_t>(got));
    if (code == Z_BUF_ERROR)
      throw DataError(name + ": truncated gzip stream (" + message + ") after " +
                      std::to_string(bytes.size()) +
                      " bytes; the file is incomplete: download or reinstall it");
    if (static_cast<unsigned>(got) < kChunk) break;
    if (bytes.size() > kMaxBytes)
      throw DataError(name + ": inflates to more than 4 GiB; not an IDX file of a data set");
  }
  // gzclose_r reports a stream cut in the middle of a member that gzread did not flag.
  guard.release();
  if (const int code = gzclose_r(file); code != Z_OK)
    throw DataError(name + ": truncated or corrupt gzip stream (zlib error " +
                    std::to_string(code) + "); download or reinstall it");
  return bytes;
}

std::uint32_t big_endian(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

/// Checks the magic number and returns the dimensions of an IDX file of unsigned bytes, and
/// that the payload after the header has exactly their product of bytes.
std::vector<std::size_t> idx_header(const std::vector<unsigned char>& bytes, std::uint32_t magic,
                                    const std::string& name, const char* kind) {
  const std::size_t rank = magic & 0xff;
  const std::size_t header = 4 + 4 * rank;
  if (bytes.size() < 4)
    throw DataError(name + ": " + std::to_string(bytes.size()) +
                    " bytes, too short for an IDX header; the file is truncated");
  const std::uint32_t found = big_endian(bytes.data());
  if (found != magic)
    throw DataError(name + ": magic number " + hex(found) + ", expected " + hex(magic) + " (" +
                    kind + "); this is not an IDX " + kind + " file");
  if (bytes.size() < header)
    throw DataError(name + ": " + std::to_string(bytes.size()) + " bytes, the header alone is " +
                    std::to_string(header) + "; the file is truncated");
  std::vector<std::size_t> dims(rank);
  std::size_t payload = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    dims[i] = big_endian(bytes.data() + 4 + 4 * i);
    if (dims[i] == 0)
      throw DataError(name + ": dimension " + std::to_string(i) + " is 0 in the header");
    if (__builtin_mul_overflow(payload, dims[i], &payload) || payload > kMaxBytes)
      throw DataError(name + ": the header's dimensions describe more than 4 GiB");
  }
  const std::size_t have = bytes.size() - header;
  if (have < payload)
    throw DataError(name + ": truncated: the header declares " + std::to_string(payload) +
                    " bytes of data, the file has " + std::to_string(have) +
                    "; download or reinstall it");
  if (have > payload)
    throw DataError(name + ": " + std::to_string(have - payload) +
                    " bytes after the data the header declares (" + std::to_string(payload) +
                    "); the file is corrupt or not a plain IDX file");
  return dims;
}

}  // namespace

LabelledSet read_idx(const std::filesystem::path& images, const std::filesystem::path& labels) {
  const std::vector<unsigned char> image_bytes = inflate_file(images);
  const std::vector<std::size_t> dims =
      idx_header(image_bytes, kImagesMagic, images.string(), "images");
  const std::vector<unsigned char> label_bytes = inflate_file(labels);
  const std::vector<std::size_t> count =
      idx_header(label_bytes, kLabelsMagic, labels.string(), "labels");
  if (count[0] != dims[0])
    throw DataError(labels.string() + ": " + std::to_string(count[0]) + " labels for " +
                    std::to_string(dims[0]) + " images in " + images.string() +
                    "; the two files are not a pair");

  LabelledSet set;
  set.example_dims = {dims[1], dims[2]};
  const unsigned char* pixels = image_bytes.data() + 16;
  set.features.resize(dims[0] * dims[1] * dims[2]);
  for (std::size_t j = 0; j < set.features.size(); ++j)
    set.features[j] = static_cast<float>(pixels[j]) / 255.0f;
  set.labels.resize(count[0]);
  std::int32_t max_label = 0;
  for (std::size_t i = 0; i < count[0]; ++i) {
    set.labels[i] = label_bytes[8 + i];
    max_label = std::max(max_label, set.labels[i]);
  }
  set.classes = static_cast<std::size_t>(max_label) + 1;
  return set;
}

LabelledSet load_fashion_mnist(FashionMnistSplit split, const std::filesystem::path& dir) {
  const std::string prefix = split == FashionMnistSplit::kTrain ? "train" : "t10k";
  const std::filesystem::path images = dir / (prefix + "-images-idx3-ubyte.gz");
  const std::filesystem::path labels = dir / (prefix + "-labels-idx1-ubyte.gz");
  for (const auto& file : {images, labels}) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
      throw DataError(file.string() +
                      ": not found; install Fashion-MNIST (apt-get install dataset-fashion-mnist, "
                      "or scripts/setup.sh) or pass the directory that holds its IDX files");
  }
  LabelledSet set = read_idx(images, labels);
  const std::size_t expected = split == FashionMnistSplit::kTrain ? 60000 : 10000;
  if (set.rows() != expected || set.example_dims != std::vector<std::size_t>{28, 28} ||
      set.classes > 10)
    throw DataError(images.string() + ": " + set.describe() + ", Fashion-MNIST's " + prefix +
                    " split is " + std::to_string(expected) +
                    " x 28x28 with 10 classes; these are not its files");
  set.classes = 10;
  return set;
}

}  // namespace murmur::model
