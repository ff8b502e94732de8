#pragma once
// BLAKE3's compression function written once over a "lanes" type S: S = Scalar is the portable
// compression of one block; S = Avx2 / Avx512 compresses 8 / 16 independent inputs at once, one
// per SIMD lane (the message words of lane i gathered from input i). Included by blake3.cpp and
// by the two SIMD translation units, each compiled for its instruction set; everything here has
// internal linkage so the three instantiations never meet.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace murmur::protocol::blake3_detail {

constexpr std::array<std::uint32_t, 8> kIv = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                              0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};
constexpr std::uint32_t kChunkStart = 1, kChunkEnd = 2, kParent = 4, kRoot = 8;
constexpr std::size_t kBlockLen = 64, kChunkLen = 1024;

/// Signature shared by the backends: hashes `n` inputs of `blocks` 64-byte blocks each (input
/// i at in + i * stride) into their chaining values, 8 words each at out + 8 * i. Input i's
/// counter is counter + i when `increment` (chunks), else counter (parents); `start` / `end`
/// are added to `flags` on the first / last block.
using HashManyFn = void (*)(const std::uint8_t* in, std::size_t stride, std::size_t n,
                            std::size_t blocks, const std::uint32_t* key, std::uint64_t counter,
                            bool increment, std::uint32_t flags, std::uint32_t start,
                            std::uint32_t end, std::uint32_t* out);

void hash_many_portable(const std::uint8_t*, std::size_t, std::size_t, std::size_t,
                        const std::uint32_t*, std::uint64_t, bool, std::uint32_t, std::uint32_t,
                        std::uint32_t, std::uint32_t*);
void hash_many_avx2(const std::uint8_t*, std::size_t, std::size_t, std::size_t,
                    const std::uint32_t*, std::uint64_t, bool, std::uint32_t, std::uint32_t,
                    std::uint32_t, std::uint32_t*);
void hash_many_avx512(const std::uint8_t*, std::size_t, std::size_t, std::size_t,
                      const std::uint32_t*, std::uint64_t, bool, std::uint32_t, std::uint32_t,
                      std::uint32_t, std::uint32_t*);

namespace {

/// Message word order of each of the 7 rounds: round r applies the spec's permutation r times.
constexpr std::array<std::array<std::uint8_t, 16>, 7> kSchedule = [] {
  constexpr std::array<std::uint8_t, 16> kPermutation = {2, 6,  3,  10, 7, 0,  4,  13,
                                                         1, 11, 12, 5,  9, 14, 15, 8};
  std::array<std::array<std::uint8_t, 16>, 7> s{};
  for (std::uint8_t i = 0; i < 16; ++i) s[0][i] = i;
  for (std::size_t r = 1; r < 7; ++r)
    for (std::size_t i = 0; i < 16; ++i) s[r][i] = s[r - 1][kPermutation[i]];
  return s;
}();

template <class S>
inline void g(typename S::V& a, typename S::V& b, typename S::V& c, typename S::V& d,
              typename S::V x, typename S::V y) {
  a = S::add(S::add(a, b), x);
  d = S::template rotr<16>(S::bxor(d, a));
  c = S::add(c, d);
  b = S::template rotr<12>(S::bxor(b, c));
  a = S::add(S::add(a, b), y);
  d = S::template rotr<8>(S::bxor(d, a));
  c = S::add(c, d);
  b = S::template rotr<7>(S::bxor(b, c));
}

template <class S, std::size_t R>
inline void round(typename S::V* v, const typename S::V* m) {
  constexpr auto& s = kSchedule[R];
  g<S>(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
  g<S>(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
  g<S>(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
  g<S>(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
  g<S>(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
  g<S>(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
  g<S>(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
  g<S>(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
}

/// The 7 rounds over state v (cv, IV, counter, length, flags) and message m.
template <class S>
inline void rounds(typename S::V* v, const typename S::V* m) {
  round<S, 0>(v, m);
  round<S, 1>(v, m);
  round<S, 2>(v, m);
  round<S, 3>(v, m);
  round<S, 4>(v, m);
  round<S, 5>(v, m);
  round<S, 6>(v, m);
}

struct Scalar {
  using V = std::uint32_t;
  static V add(V a, V b) { return a + b; }
  static V bxor(V a, V b) { return a ^ b; }
  template <int N>
  static V rotr(V a) {
    return (a >> N) | (a << (32 - N));  // not std::rotr: no shared template across ISAs
  }
};

inline std::uint32_t load_le32(const std::uint8_t* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return w;  // little-endian hosts only (static_assert in blake3.cpp)
}

/// The full 16-word output of compressing one block: words 0..7 are the next chaining value.
inline std::array<std::uint32_t, 16> compress(const std::uint32_t* cv, const std::uint8_t* block,
                                              std::uint64_t counter, std::uint32_t block_len,
                                              std::uint32_t flags) {
  std::uint32_t m[16];
  for (int i = 0; i < 16; ++i) m[i] = load_le32(block + 4 * i);
  std::uint32_t v[16] = {cv[0],
                         cv[1],
                         cv[2],
                         cv[3],
                         cv[4],
                         cv[5],
                         cv[6],
                         cv[7],
                         kIv[0],
                         kIv[1],
                         kIv[2],
                         kIv[3],
                         static_cast<std::uint32_t>(counter),
                         static_cast<std::uint32_t>(counter >> 32),
                         block_len,
                         flags};
  rounds<Scalar>(v, m);
  std::array<std::uint32_t, 16> out{};
  for (int i = 0; i < 8; ++i) {
    out[i] = v[i] ^ v[i + 8];
    out[i + 8] = v[i + 8] ^ cv[i];
  }
  return out;
}

/// hash_many for a lanes type S with S::kLanes lanes, S::lane_mask and S::load_message (the 16
/// message words of one block, word w of lane i from input i).
template <class S>
inline void hash_lanes(const std::uint8_t* in, std::size_t stride, std::size_t lanes,
                       std::size_t blocks, const std::uint32_t* key, std::uint64_t counter,
                       bool increment, std::uint32_t flags, std::uint32_t start, std::uint32_t end,
                       std::uint32_t* out) {
  using V = typename S::V;
  alignas(64) std::uint32_t offsets[S::kLanes], lo[S::kLanes], hi[S::kLanes];
  for (std::size_t i = 0; i < S::kLanes; ++i) {
    const std::uint64_t c = counter + (increment ? i : 0);
    offsets[i] = static_cast<std::uint32_t>(i < lanes ? i * stride : 0);
    lo[i] = static_cast<std::uint32_t>(c);
    hi[i] = static_cast<std::uint32_t>(c >> 32);
  }
  const auto mask = S::lane_mask(lanes);
  const V index = S::load(offsets), counter_lo = S::load(lo), counter_hi = S::load(hi);
  V h[8];
  for (int i = 0; i < 8; ++i) h[i] = S::set1(key[i]);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint8_t* base = in + b * kBlockLen;
    V m[16];
    S::load_message(base, stride, lanes, index, mask, m);
    std::uint32_t f = flags;
    if (b == 0) f |= start;
    if (b + 1 == blocks) f |= end;
    V v[16] = {h[0],
               h[1],
               h[2],
               h[3],
               h[4],
               h[5],
               h[6],
               h[7],
               S::set1(kIv[0]),
               S::set1(kIv[1]),
               S::set1(kIv[2]),
               S::set1(kIv[3]),
               counter_lo,
               counter_hi,
               S::set1(static_cast<std::uint32_t>(kBlockLen)),
               S::set1(f)};
    rounds<S>(v, m);
    for (int i = 0; i < 8; ++i) h[i] = S::bxor(v[i], v[i + 8]);
  }
  alignas(64) std::uint32_t words[8][S::kLanes];
  for (int i = 0; i < 8; ++i) S::store(words[i], h[i]);
  for (std::size_t l = 0; l < lanes; ++l)
    for (int i = 0; i < 8; ++i) out[8 * l + i] = words[i][l];
}

template <class S>
inline void hash_many_with(const std::uint8_t* in, std::size_t stride, std::size_t n,
                           std::size_t blocks, const std::uint32_t* key, std::uint64_t counter,
                           bool increment, std::uint32_t flags, std::uint32_t start,
                           std::uint32_t end, std::uint32_t* out) {
  for (std::size_t done = 0; done < n; done += S::kLanes) {
    const std::size_t lanes = n - done < S::kLanes ? n - done : S::kLanes;
    hash_lanes<S>(in + done * stride, stride, lanes, blocks, key, counter + (increment ? done : 0),
                  increment, flags, start, end, out + 8 * done);
  }
}

}  // namespace
}  // namespace murmur::protocol::blake3_detail
