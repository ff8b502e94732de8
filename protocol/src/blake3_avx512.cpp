// BLAKE3, 16 inputs at once in AVX-512 lanes (compiled with -mavx512f; called only where the
// CPU has it).
#include <immintrin.h>

// GCC 12 reports _mm512_ror_epi32's own "undefined" source operand as maybe-uninitialized once
// inlined (a false positive of its header: the operand is fully masked).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "blake3_impl.hpp"

namespace murmur::protocol::blake3_detail {
namespace {

struct Avx512 {
  using V = __m512i;
  static constexpr std::size_t kLanes = 16;
  static V add(V a, V b) { return _mm512_add_epi32(a, b); }
  static V bxor(V a, V b) { return _mm512_xor_si512(a, b); }
  template <int N>
  static V rotr(V a) {
    return _mm512_ror_epi32(a, N);
  }
  static V set1(std::uint32_t x) { return _mm512_set1_epi32(static_cast<int>(x)); }
  static V load(const std::uint32_t* p) { return _mm512_load_si512(p); }
  static void store(std::uint32_t* p, V v) { _mm512_store_si512(p, v); }
  static __mmask16 lane_mask(std::size_t lanes) {
    return static_cast<__mmask16>(lanes >= 16 ? 0xFFFFu : (1u << lanes) - 1u);
  }
  /// All 16 lanes: one 64-byte load per input and a 16 x 16 transpose in four rounds of
  /// two-register shuffles (64 in all; cheaper than 16 gathers). Fewer lanes: masked gathers.
  static void load_message(const std::uint8_t* base, std::size_t stride, std::size_t lanes, V index,
                           __mmask16 mask, V* m) {
    if (lanes < kLanes) {
      for (int w = 0; w < 16; ++w)
        m[w] = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, index, base + 4 * w, 1);
      return;
    }
    V r[16], a[16], b[16];
    for (std::size_t i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(base + i * stride);
    // Within each 128-bit lane L: a[2k] = rows 2k, 2k+1 at columns 4L, 4L+1; a[2k+1] at 4L+2, 4L+3.
    for (int k = 0; k < 8; ++k) {
      a[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
      a[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    // b[4k + c], lane L: column 4L + c of rows 4k .. 4k+3.
    for (int k = 0; k < 4; ++k) {
      b[4 * k] = _mm512_unpacklo_epi64(a[4 * k], a[4 * k + 2]);
      b[4 * k + 1] = _mm512_unpackhi_epi64(a[4 * k], a[4 * k + 2]);
      b[4 * k + 2] = _mm512_unpacklo_epi64(a[4 * k + 1], a[4 * k + 3]);
      b[4 * k + 3] = _mm512_unpackhi_epi64(a[4 * k + 1], a[4 * k + 3]);
    }
    // Column 4L + c gathers lane L of b[c], b[4+c], b[8+c], b[12+c].
    for (int c = 0; c < 4; ++c) {
      const V lo_left = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x44),
              hi_left = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xEE);
      const V lo_right = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x44),
              hi_right = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xEE);
      m[c] = _mm512_shuffle_i32x4(lo_left, lo_right, 0x88);
      m[4 + c] = _mm512_shuffle_i32x4(lo_left, lo_right, 0xDD);
      m[8 + c] = _mm512_shuffle_i32x4(hi_left, hi_right, 0x88);
      m[12 + c] = _mm512_shuffle_i32x4(hi_left, hi_right, 0xDD);
    }
  }
};

}  // namespace

void hash_many_avx512(const std::uint8_t* in, std::size_t stride, std::size_t n, std::size_t blocks,
                      const std::uint32_t* key, std::uint64_t counter, bool increment,
                      std::uint32_t flags, std::uint32_t start, std::uint32_t end,
                      std::uint32_t* out) {
  hash_many_with<Avx512>(in, stride, n, blocks, key, counter, increment, flags, start, end, out);
}

}  // namespace murmur::protocol::blake3_detail
