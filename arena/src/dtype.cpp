// Element types: names, widths, and the F32/F16/BF16 conversions (little-endian hosts only,
// as the format is little-endian; checked at compile time).
#include "murmur/arena/dtype.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <string>
#include <utility>

#include "murmur/arena/errors.hpp"

static_assert(std::endian::native == std::endian::little,
              "safetensors is little-endian; this reader assumes a little-endian host");

namespace murmur::arena {
namespace {

constexpr std::array<std::pair<Dtype, std::string_view>, 13> kNames{{
    {Dtype::kBool, "BOOL"},
    {Dtype::kU8, "U8"},
    {Dtype::kI8, "I8"},
    {Dtype::kU16, "U16"},
    {Dtype::kI16, "I16"},
    {Dtype::kF16, "F16"},
    {Dtype::kBF16, "BF16"},
    {Dtype::kU32, "U32"},
    {Dtype::kI32, "I32"},
    {Dtype::kF32, "F32"},
    {Dtype::kU64, "U64"},
    {Dtype::kI64, "I64"},
    {Dtype::kF64, "F64"},
}};

}  // namespace

std::string_view to_string(Dtype dtype) {
  for (const auto& [d, name] : kNames)
    if (d == dtype) return name;
  return "?";
}

std::optional<Dtype> parse_dtype(std::string_view name) {
  for (const auto& [d, n] : kNames)
    if (n == name) return d;
  return std::nullopt;
}

std::size_t element_bytes(Dtype dtype) {
  switch (dtype) {
    case Dtype::kBool:
    case Dtype::kU8:
    case Dtype::kI8: return 1;
    case Dtype::kU16:
    case Dtype::kI16:
    case Dtype::kF16:
    case Dtype::kBF16: return 2;
    case Dtype::kU32:
    case Dtype::kI32:
    case Dtype::kF32: return 4;
    case Dtype::kU64:
    case Dtype::kI64:
    case Dtype::kF64: return 8;
  }
  return 0;
}

bool is_float(Dtype dtype) {
  return dtype == Dtype::kF32 || dtype == Dtype::kF16 || dtype == Dtype::kBF16;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);  // Inf, NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal half: man * 2^-24, a normal float
    int e = -1;
    std::uint32_t m = man;
    do {
      m <<= 1;
      ++e;
    } while ((m & 0x400u) == 0);
    bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((m & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

std::uint16_t float_to_half(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t abs = bits & 0x7fffffffu;
  if (abs >= 0x7f800000u)  // Inf or NaN (a quiet NaN stays a NaN)
    return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to Inf
  if (abs < 0x38800000u) {  // subnormal half or zero: add 0.5 so the FPU rounds for us
    const float shifted = std::bit_cast<float>(abs) + 0.5f;
    return static_cast<std::uint16_t>(sign | (std::bit_cast<std::uint32_t>(shifted) - 0x3f000000u));
  }
  const std::uint32_t odd = (abs >> 13) & 1u;
  const std::uint32_t rounded = abs + 0xc8000fffu + odd;  // rebias exponent, round to even
  return static_cast<std::uint16_t>(sign | (rounded >> 13));
}

float bf16_to_float(std::uint16_t h) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

std::uint16_t float_to_bf16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  const std::uint32_t odd = (bits >> 16) & 1u;
  return static_cast<std::uint16_t>((bits + 0x7fffu + odd) >> 16);
}

void to_float(Dtype dtype, std::span<const std::byte> bytes, std::span<float> out) {
  if (!is_float(dtype))
    throw FormatError("cannot read " + std::string(to_string(dtype)) +
                      " elements as floats: only F32, F16 and BF16 tensors hold weights");
  if (bytes.size() != out.size() * element_bytes(dtype))
    throw FormatError("to_float: " + std::to_string(bytes.size()) + " bytes for " +
                      std::to_string(out.size()) + " " + std::string(to_string(dtype)) +
                      " elements");
  if (dtype == Dtype::kF32) {
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return;
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint16_t h;
    std::memcpy(&h, bytes.data() + 2 * i, 2);
    out[i] = dtype == Dtype::kF16 ? half_to_float(h) : bf16_to_float(h);
  }
}

void from_float(Dtype dtype, std::span<const float> in, std::span<std::byte> out) {
  if (!is_float(dtype))
    throw FormatError("cannot write floats as " + std::string(to_string(dtype)) +
                      ": only F32, F16 and BF16");
  if (out.size() != in.size() * element_bytes(dtype))
    throw FormatError("from_float: " + std::to_string(out.size()) + " bytes for " +
                      std::to_string(in.size()) + " elements");
  if (dtype == Dtype::kF32) {
    if (!in.empty()) std::memcpy(out.data(), in.data(), out.size());
    return;
  }
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::uint16_t h = dtype == Dtype::kF16 ? float_to_half(in[i]) : float_to_bf16(in[i]);
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
}

}  // namespace murmur::arena
