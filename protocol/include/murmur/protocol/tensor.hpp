#pragma once
// Element types of updates on the wire: fp32, fp16 (IEEE binary16) or bf16.
#include <cstddef>
#include <cstdint>
#include <span>

#include "murmur.pb.h"

namespace murmur::protocol {

/// Bytes per element of `dtype`.
std::size_t element_bytes(wire::DType dtype);

/// Widens `bytes` (whole elements of `dtype`, little-endian) to floats: out.size() elements.
void to_float(wire::DType dtype, std::span<const std::uint8_t> bytes, std::span<float> out);

/// Narrows floats to `dtype` (round to nearest even), for nodes sending fp16/bf16.
void from_float(wire::DType dtype, std::span<const float> in, std::span<std::uint8_t> out);

/// Whether every element of `bytes` is finite (no NaN, no Inf), checked on the raw bits.
bool all_finite(wire::DType dtype, std::span<const std::uint8_t> bytes);

}  // namespace murmur::protocol
