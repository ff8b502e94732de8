#include "murmur/protocol/tensor.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace murmur::protocol {
namespace {

std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

/// IEEE binary16 -> binary32, exact (subnormals, infinities and NaN included).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

/// binary32 -> binary16, round to nearest even, overflow to Inf.
std::uint16_t float_to_half(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u);
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to beyond 65504
  if (abs < 0x38800000u) {                        // subnormal half or zero
    const float magnitude = std::bit_cast<float>(abs);
    return sign | static_cast<std::uint16_t>(std::nearbyint(magnitude * 16777216.0f));
  }
  const std::uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return sign | static_cast<std::uint16_t>((rounded - 0x38000000u) >> 13);
}

void check_size(wire::DType dtype, std::size_t bytes, std::size_t elements) {
  if (bytes != elements * element_bytes(dtype))
    throw std::invalid_argument("tensor: " + std::to_string(bytes) + " bytes for " +
                                std::to_string(elements) + " elements of " +
                                wire::DType_Name(dtype));
}

}  // namespace

std::size_t element_bytes(wire::DType dtype) {
  switch (dtype) {
    case wire::DTYPE_F32: return 4;
    case wire::DTYPE_F16:
    case wire::DTYPE_BF16: return 2;
    default:
      throw std::invalid_argument("unknown dtype " + std::to_string(static_cast<int>(dtype)));
  }
}

void to_float(wire::DType dtype, std::span<const std::uint8_t> bytes, std::span<float> out) {
  check_size(dtype, bytes.size(), out.size());
  const std::uint8_t* p = bytes.data();
  switch (dtype) {
    case wire::DTYPE_F32:
      std::memcpy(out.data(), p, bytes.size());  // little-endian hosts only (x86-64, arm64)
      break;
    case wire::DTYPE_F16:
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = half_to_float(load16(p + 2 * i));
      break;
    case wire::DTYPE_BF16:
      for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = std::bit_cast<float>(static_cast<std::uint32_t>(load16(p + 2 * i)) << 16);
      break;
    default: element_bytes(dtype);
  }
}

void from_float(wire::DType dtype, std::span<const float> in, std::span<std::uint8_t> out) {
  check_size(dtype, out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    std::uint16_t h = 0;
    switch (dtype) {
      case wire::DTYPE_F32: std::memcpy(out.data() + 4 * i, &in[i], 4); continue;
      case wire::DTYPE_F16: h = float_to_half(in[i]); break;
      case wire::DTYPE_BF16: {
        const std::uint32_t x = std::bit_cast<std::uint32_t>(in[i]);
        h = (x & 0x7fffffffu) > 0x7f800000u
                ? static_cast<std::uint16_t>((x >> 16) | 0x40u)  // keep NaN a NaN
                : static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
        break;
      }
      default: element_bytes(dtype);
    }
    out[2 * i] = static_cast<std::uint8_t>(h & 0xff);
    out[2 * i + 1] = static_cast<std::uint8_t>(h >> 8);
  }
}

namespace {

/// True when no element of `n` words of type W has all of `exponent`'s bits set (Inf or NaN).
/// Blocks of 4096 elements without an early exit inside, so the compiler vectorises the test;
/// a block with a non-finite element ends the scan.
template <class W>
bool no_full_exponent(const std::uint8_t* p, std::size_t n, W exponent) {
  constexpr std::size_t kBlock = 4096;
  for (std::size_t at = 0; at < n; at += kBlock) {
    const std::size_t end = std::min(n, at + kBlock);
    W bad = 0;
    for (std::size_t i = at; i < end; ++i) {
      W x;
      std::memcpy(&x, p + sizeof(W) * i, sizeof(W));  // little-endian, as on the wire
      bad |= static_cast<W>((x & exponent) == exponent);
    }
    if (bad != 0) return false;
  }
  return true;
}

}  // namespace

bool all_finite(wire::DType dtype, std::span<const std::uint8_t> bytes) {
  static_assert(std::endian::native == std::endian::little,
                "tensor bytes are little-endian on the wire");
  const std::size_t n = bytes.size() / element_bytes(dtype);
  switch (dtype) {
    case wire::DTYPE_F32: return no_full_exponent<std::uint32_t>(bytes.data(), n, 0x7f800000u);
    case wire::DTYPE_F16: return no_full_exponent<std::uint16_t>(bytes.data(), n, 0x7c00u);
    case wire::DTYPE_BF16: return no_full_exponent<std::uint16_t>(bytes.data(), n, 0x7f80u);
    default: return false;
  }
}

}  // namespace murmur::protocol
