// BLAKE3, 8 inputs at once in AVX2 lanes (compiled with -mavx2; called only where the CPU has
// it).
#include <immintrin.h>

#include "blake3_impl.hpp"

namespace murmur::protocol::blake3_detail {
namespace {

struct Avx2 {
  using V = __m256i;
  static constexpr std::size_t kLanes = 8;
  static V add(V a, V b) { return _mm256_add_epi32(a, b); }
  static V bxor(V a, V b) { return _mm256_xor_si256(a, b); }
  template <int N>
  static V rotr(V a) {
    if constexpr (N == 16) {
      return _mm256_shuffle_epi8(
          a, _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6,
                              7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
    } else if constexpr (N == 8) {
      return _mm256_shuffle_epi8(
          a, _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5,
                              6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12));
    } else {
      return _mm256_or_si256(_mm256_srli_epi32(a, N), _mm256_slli_epi32(a, 32 - N));
    }
  }
  static V set1(std::uint32_t x) { return _mm256_set1_epi32(static_cast<int>(x)); }
  static V load(const std::uint32_t* p) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  }
  static void store(std::uint32_t* p, V v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
  static V lane_mask(std::size_t lanes) {
    const V ids = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)), ids);
  }
  static void load_message(const std::uint8_t* base, std::size_t, std::size_t, V index, V mask,
                           V* m) {
    for (int w = 0; w < 16; ++w)
      m[w] = _mm256_mask_i32gather_epi32(
          _mm256_setzero_si256(), reinterpret_cast<const int*>(base + 4 * w), index, mask, 1);
  }
};

}  // namespace

void hash_many_avx2(const std::uint8_t* in, std::size_t stride, std::size_t n, std::size_t blocks,
                    const std::uint32_t* key, std::uint64_t counter, bool increment,
                    std::uint32_t flags, std::uint32_t start, std::uint32_t end,
                    std::uint32_t* out) {
  hash_many_with<Avx2>(in, stride, n, blocks, key, counter, increment, flags, start, end, out);
}

}  // namespace murmur::protocol::blake3_detail
