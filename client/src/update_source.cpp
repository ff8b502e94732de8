#include "murmur/client/update_source.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"

namespace murmur::client {

static_assert(std::endian::native == std::endian::little,
              "the wire is little-endian and updates are read in place");

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// Reads bytes [offset, offset + out.size()) of an element array whose element e is
/// `element(e)` converted to `dtype`, converting whole elements through a small buffer.
template <class Element>
void read_elements(wire::DType dtype, std::uint64_t offset, std::span<std::uint8_t> out,
                   Element element) {
  const std::size_t eb = protocol::element_bytes(dtype);
  constexpr std::size_t kBatch = 4096;
  float values[kBatch];
  std::uint8_t bytes[kBatch * 4];
  std::uint64_t pos = offset;
  const std::uint64_t end = offset + out.size();
  while (pos < end) {
    const std::uint64_t first = pos / eb;
    const std::uint64_t last = std::min<std::uint64_t>((end + eb - 1) / eb, first + kBatch);
    const std::size_t n = static_cast<std::size_t>(last - first);
    for (std::size_t i = 0; i < n; ++i) values[i] = element(first + i);
    protocol::from_float(dtype, {values, n}, {bytes, n * eb});
    const std::uint64_t skip = pos - first * eb;
    const std::uint64_t take = std::min<std::uint64_t>(n * eb - skip, end - pos);
    std::memcpy(out.data() + (pos - offset), bytes + skip, take);
    pos += take;
  }
}

}  // namespace

std::uint64_t UpdateSource::size_bytes() const {
  return parameters() * protocol::element_bytes(dtype());
}

DigestedUpdate::DigestedUpdate(const UpdateSource& inner) : inner_(inner) {
  protocol::UpdateHasher hasher;
  std::vector<std::uint8_t> buf;
  const std::uint64_t total = inner.size_bytes();
  for (std::uint64_t at = 0; at < total;) {
    buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(total - at, 1u << 20)));
    inner.read(at, buf);
    hasher.update(buf);
    at += buf.size();
  }
  digest_ = hasher.finish();
}

void FloatUpdate::read(std::uint64_t offset, std::span<std::uint8_t> out) const {
  if (dtype_ == wire::DTYPE_F32) {  // f32 on the wire is the host's little-endian float
    std::memcpy(out.data(), reinterpret_cast<const std::uint8_t*>(values_.data()) + offset,
                out.size());
    return;
  }
  read_elements(dtype_, offset, out, [this](std::uint64_t e) { return values_[e]; });
}

std::span<const std::uint8_t> FloatUpdate::in_place() const {
  if (dtype_ != wire::DTYPE_F32) return {};
  return {reinterpret_cast<const std::uint8_t*>(values_.data()), values_.size() * sizeof(float)};
}

float synthetic_value(std::uint64_t seed, std::uint64_t index, std::uint64_t j) {
  const std::uint64_t r = splitmix64(splitmix64(seed ^ splitmix64(index)) + j);
  return static_cast<float>(r >> 40) * 0x1p-24f - 0.5f;
}

void SyntheticUpdate::read(std::uint64_t offset, std::span<std::uint8_t> out) const {
  const std::uint64_t row = splitmix64(seed_ ^ splitmix64(index_));
  read_elements(dtype_, offset, out, [row](std::uint64_t j) {
    return static_cast<float>(splitmix64(row + j) >> 40) * 0x1p-24f - 0.5f;
  });
}

}  // namespace murmur::client
