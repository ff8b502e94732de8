#pragma once
// Element types of safetensors files and their conversion to and from float.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace murmur::arena {

/// The safetensors element types (the format's names: "F32", "BF16", ...).
enum class Dtype { kBool, kU8, kI8, kU16, kI16, kF16, kBF16, kU32, kI32, kF32, kU64, kI64, kF64 };

/// The format's name of `dtype`, e.g. "BF16".
std::string_view to_string(Dtype dtype);
/// The dtype named `name`, or nothing when the format has no such type.
std::optional<Dtype> parse_dtype(std::string_view name);
/// Bytes per element.
std::size_t element_bytes(Dtype dtype);
/// Whether to_float reads this type: F32, F16 and BF16 (the weights of a decoder).
bool is_float(Dtype dtype);

/// IEEE binary16 -> float (exact).
float half_to_float(std::uint16_t h);
/// float -> IEEE binary16, round to nearest even; overflow gives infinity.
std::uint16_t float_to_half(float f);
/// bfloat16 -> float (exact).
float bf16_to_float(std::uint16_t h);
/// float -> bfloat16, round to nearest even; NaN stays NaN.
std::uint16_t float_to_bf16(float f);

/// Widens out.size() little-endian elements of an F32, F16 or BF16 buffer to floats.
/// Throws FormatError for other types or when bytes.size() != out.size() * element_bytes.
void to_float(Dtype dtype, std::span<const std::byte> bytes, std::span<float> out);
/// Narrows floats to F32, F16 or BF16 little-endian bytes (out.size() = in.size() * width).
void from_float(Dtype dtype, std::span<const float> in, std::span<std::byte> out);

}  // namespace murmur::arena
