#include "murmur/protocol/integrity.hpp"

#include <cstring>
#include <stdexcept>

#include "murmur/chain/keccak.hpp"
#include "murmur/chain/secp256k1.hpp"

namespace murmur::protocol {

namespace {

// CRC-32C, reflected polynomial 0x82F63B78: a byte table for CPUs without SSE4.2, the crc32
// instruction (8 bytes a step) where it exists, chosen once at first use.
constexpr std::array<std::uint32_t, 256> kCrcTable = [] {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}();

std::uint32_t crc32c_table(const std::uint8_t* p, std::size_t n, std::uint32_t c) {
  for (std::size_t i = 0; i < n; ++i) c = kCrcTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42_stream(const std::uint8_t* p,
                                                                    std::size_t n,
                                                                    std::uint32_t c) {
  std::uint64_t c64 = c;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
  }
  auto c32 = static_cast<std::uint32_t>(c64);
  for (; n > 0; --n) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}

// The crc32 instruction takes 3 cycles and can start every cycle, so three independent streams
// run at three times one. The stream CRCs are joined by shifting each past the bytes that
// follow it: shifting a CRC register by n zero bytes is linear over GF(2), a 32 x 32 bit matrix,
// whose columns are the instruction's own result on each single bit followed by n zero bytes.
constexpr std::size_t kStride = 4096;

struct ShiftMatrix {
  std::array<std::uint32_t, 32> column{};
  std::uint32_t operator()(std::uint32_t v) const {
    std::uint32_t r = 0;
    for (int k = 0; k < 32; ++k) r ^= column[k] & (0u - ((v >> k) & 1u));
    return r;
  }
};

__attribute__((target("sse4.2"))) ShiftMatrix stride_shift() {
  static const std::array<std::uint8_t, kStride> zeros{};
  ShiftMatrix m;
  for (int k = 0; k < 32; ++k) m.column[k] = crc32c_sse42_stream(zeros.data(), kStride, 1u << k);
  return m;
}

__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const std::uint8_t* p, std::size_t n,
                                                             std::uint32_t c) {
  static const ShiftMatrix shift = stride_shift();
  for (; n >= 3 * kStride; p += 3 * kStride, n -= 3 * kStride) {
    std::uint64_t a = c, b = 0, d = 0;
    for (std::size_t i = 0; i < kStride; i += 8) {
      std::uint64_t x, y, z;
      std::memcpy(&x, p + i, 8);
      std::memcpy(&y, p + kStride + i, 8);
      std::memcpy(&z, p + 2 * kStride + i, 8);
      a = __builtin_ia32_crc32di(a, x);
      b = __builtin_ia32_crc32di(b, y);
      d = __builtin_ia32_crc32di(d, z);
    }
    c = shift(shift(static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b)) ^
        static_cast<std::uint32_t>(d);
  }
  return crc32c_sse42_stream(p, n, c);
}
#endif

using CrcFn = std::uint32_t (*)(const std::uint8_t*, std::size_t, std::uint32_t);

CrcFn pick_crc() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.2")) return crc32c_sse42;
#endif
  return crc32c_table;
}

}  // namespace

std::uint32_t crc32c(std::span<const std::uint8_t> bytes, std::uint32_t crc) {
  static const CrcFn fn = pick_crc();
  return ~fn(bytes.data(), bytes.size(), ~crc);
}

Checksum chunk_checksum(std::span<const std::uint8_t> bytes) {
  return checksum_of(crc32c(bytes));
}

Checksum checksum_of(std::uint32_t c) {
  return {static_cast<std::uint8_t>(c >> 24), static_cast<std::uint8_t>(c >> 16),
          static_cast<std::uint8_t>(c >> 8), static_cast<std::uint8_t>(c)};
}

void UpdateHasher::update(std::span<const std::uint8_t> bytes) {
  hasher_.update(bytes);
}

chain::Hash32 UpdateHasher::finish() const {
  return hasher_.finish();
}

chain::Hash32 update_hash(std::span<const std::uint8_t> bytes) {
  return blake3(bytes);
}

chain::Hash32 register_digest(std::uint64_t chain_id, std::span<const std::uint8_t> curve_key) {
  constexpr std::string_view kTag = "murmur.register.v1";
  chain::Bytes msg(kTag.begin(), kTag.end());
  for (int shift = 56; shift >= 0; shift -= 8)
    msg.push_back(static_cast<std::uint8_t>(chain_id >> shift));
  msg.insert(msg.end(), curve_key.begin(), curve_key.end());
  return chain::keccak256(msg);
}

std::optional<chain::Address> signer(const chain::Hash32& digest,
                                     std::span<const std::uint8_t> signature) {
  if (signature.size() != 65) return std::nullopt;
  try {
    const auto sig = chain::Signature::from_rsv(signature);
    if (!sig.is_low_s()) return std::nullopt;
    return chain::recover_address(digest, sig);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

}  // namespace murmur::protocol
