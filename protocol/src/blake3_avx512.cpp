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
  static V gather(const std::uint8_t* base, V index, __mmask16 mask) {
    return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, index, base, 1);
  }
};

}  // namespace

void hash_many_avx512(const std::uint8_t* in, std::size_t stride, std::size_t n, std::size_t blocks,
                      const std::uint32_t* key, std::uint64_t counter, bool increment, std::uint32_t flags,
                      std::uint32_t start, std::uint32_t end, std::uint32_t* out) {
  hash_many_with<Avx512>(in, stride, n, blocks, key, counter, increment, flags, start, end, out);
}

}  // namespace murmur::protocol::blake3_detail
