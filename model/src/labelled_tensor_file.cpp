#include "murmur/model/labelled_tensor_file.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "murmur/model/errors.hpp"

namespace murmur::model {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the labelled-tensor format is little-endian; add byte swapping for this host");

constexpr char kMagic[8] = {'M', 'U', 'R', 'M', 'U', 'R', 'L', 'T'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kFixedHeader = 32;
constexpr std::uint32_t kMaxRank = 8;

template <class T>
void put(std::vector<unsigned char>& out, T v) {
  const auto* p = reinterpret_cast<const unsigned char*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

template <class T>
T get(const std::vector<unsigned char>& in, std::size_t offset) {
  T v;
  std::memcpy(&v, in.data() + offset, sizeof(T));
  return v;
}

std::uint32_t crc_of(const unsigned char* data, std::size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::size_t done = 0; done < size;) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(size - done, 1u << 30));
    crc = crc32(crc, data + done, n);
    done += n;
  }
  return static_cast<std::uint32_t>(crc);
}

}  // namespace

void write_labelled_tensors(const std::filesystem::path& path, const LabelledSet& set) {
  const std::string name = path.string();
  set.check(name);
  if (set.example_dims.size() > kMaxRank)
    throw DataError(name + ": examples of rank " + std::to_string(set.example_dims.size()) +
                    ", the format holds at most " + std::to_string(kMaxRank));
  if (set.classes < 2) throw DataError(name + ": a labelled set needs >= 2 classes");
  for (std::size_t j = 0; j < set.features.size(); ++j)
    if (!std::isfinite(set.features[j]))
      throw DataError(name + ": feature " + std::to_string(j) + " is not finite");
  std::vector<unsigned char> out;
  out.reserve(kFixedHeader + 8 * set.example_dims.size() + 4 * set.features.size() +
              4 * set.labels.size() + 4);
  out.insert(out.end(), std::begin(kMagic), std::end(kMagic));
  put<std::uint32_t>(out, kVersion);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(set.example_dims.size()));
  put<std::uint64_t>(out, set.rows());
  put<std::uint32_t>(out, static_cast<std::uint32_t>(set.classes));
  put<std::uint32_t>(out, 0);
  for (std::size_t d : set.example_dims) put<std::uint64_t>(out, d);
  const auto* f = reinterpret_cast<const unsigned char*>(set.features.data());
  out.insert(out.end(), f, f + set.features.size() * sizeof(float));
  const auto* l = reinterpret_cast<const unsigned char*>(set.labels.data());
  out.insert(out.end(), l, l + set.labels.size() * sizeof(std::int32_t));
  put<std::uint32_t>(out, crc_of(out.data(), out.size()));

  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  file.close();
  if (!file) throw DataError(name + ": cannot write the labelled-tensor file");
}

LabelledSet read_labelled_tensors(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream file(path, std::ios::binary);
  if (!file) throw DataError(name + ": cannot open the labelled-tensor file");
  const std::vector<unsigned char> in((std::istreambuf_iterator<char>(file)),
                                      std::istreambuf_iterator<char>());
  const auto bad = [&](const std::string& why) {
    return DataError(name + ": " + why + " (labelled-tensor format, model/README.md)");
  };
  if (in.size() < kFixedHeader + 4)
    throw bad(std::to_string(in.size()) + " bytes, shorter than the header; truncated");
  if (!std::equal(std::begin(kMagic), std::end(kMagic), in.begin()))
    throw bad("wrong magic: the file does not start with \"MURMURLT\"");
  const auto version = get<std::uint32_t>(in, 8);
  if (version != kVersion)
    throw bad("version " + std::to_string(version) + ", this reader knows version " +
              std::to_string(kVersion) + "; upgrade murmur or rewrite the file");
  const auto rank = get<std::uint32_t>(in, 12);
  const auto count = get<std::uint64_t>(in, 16);
  const auto classes = get<std::uint32_t>(in, 24);
  if (rank == 0 || rank > kMaxRank)
    throw bad("example rank " + std::to_string(rank) + ", must be 1.." + std::to_string(kMaxRank));
  if (classes < 2) throw bad(std::to_string(classes) + " classes, must be >= 2");
  if (get<std::uint32_t>(in, 28) != 0) throw bad("reserved header field is not 0");
  const std::size_t header = kFixedHeader + 8 * rank;
  if (in.size() < header + 4) throw bad("truncated inside the header's dimensions");
  LabelledSet set;
  set.classes = classes;
  std::size_t per_example = 1;
  for (std::uint32_t i = 0; i < rank; ++i) {
    const auto d = get<std::uint64_t>(in, kFixedHeader + 8 * i);
    if (d == 0) throw bad("dimension " + std::to_string(i) + " is 0");
    if (__builtin_mul_overflow(per_example, d, &per_example))
      throw bad("the example dimensions overflow");
    set.example_dims.push_back(d);
  }
  // Every product and sum checked: an example of 2^62 floats is 2^64 bytes, which wraps to 0.
  std::size_t example_bytes = 0, feature_bytes = 0, label_bytes = 0, body = 0, expected = 0;
  if (__builtin_mul_overflow(per_example, sizeof(float), &example_bytes) ||
      __builtin_mul_overflow(count, example_bytes, &feature_bytes) ||
      __builtin_mul_overflow(count, sizeof(std::int32_t), &label_bytes) ||
      __builtin_add_overflow(feature_bytes, label_bytes, &body) ||
      __builtin_add_overflow(header + 4, body, &expected))
    throw bad("the header's sizes overflow");
  if (in.size() != expected)
    throw bad(std::to_string(in.size()) + " bytes, the header (" + std::to_string(count) +
              " examples of " + std::to_string(per_example) + " floats) says " +
              std::to_string(expected) + (in.size() < expected ? "; truncated" : "; extra bytes"));
  const auto stored = get<std::uint32_t>(in, in.size() - 4);
  const std::uint32_t actual = crc_of(in.data(), in.size() - 4);
  if (stored != actual) throw bad("CRC-32 mismatch: the file is corrupt");
  set.features.resize(count * per_example);
  std::memcpy(set.features.data(), in.data() + header, feature_bytes);
  set.labels.resize(count);
  std::memcpy(set.labels.data(), in.data() + header + feature_bytes, label_bytes);
  for (std::size_t j = 0; j < set.features.size(); ++j)
    if (!std::isfinite(set.features[j]))
      throw bad("feature " + std::to_string(j) + " is not finite");
  set.check(name);
  return set;
}

}  // namespace murmur::model
