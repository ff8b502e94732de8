#include "murmur/protocol/integrity.hpp"

#include <openssl/evp.h>

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
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const std::uint8_t* p, std::size_t n,
                                                             std::uint32_t c) {
  // One stream, 8 bytes an instruction: several GB/s, next to which CurveZMQ's cipher and the
  // SHA-256 update hash dominate, so interleaved streams would not show in bench/ingest.
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c64);
  while (n > 0) {
    c32 = __builtin_ia32_crc32qi(c32, *p++);
    --n;
  }
  return c32;
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
  const std::uint32_t c = crc32c(bytes);
  return {static_cast<std::uint8_t>(c >> 24), static_cast<std::uint8_t>(c >> 16),
          static_cast<std::uint8_t>(c >> 8), static_cast<std::uint8_t>(c)};
}

struct UpdateHasher::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Impl() {
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("UpdateHasher: OpenSSL cannot start SHA-256");
  }
  ~Impl() { EVP_MD_CTX_free(ctx); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
};

UpdateHasher::UpdateHasher() : impl_(std::make_unique<Impl>()) {}
UpdateHasher::~UpdateHasher() = default;
UpdateHasher::UpdateHasher(UpdateHasher&&) noexcept = default;
UpdateHasher& UpdateHasher::operator=(UpdateHasher&&) noexcept = default;

void UpdateHasher::update(std::span<const std::uint8_t> bytes) {
  if (EVP_DigestUpdate(impl_->ctx, bytes.data(), bytes.size()) != 1)
    throw std::runtime_error("UpdateHasher: SHA-256 update failed");
}

chain::Hash32 UpdateHasher::finish() {
  chain::Hash32 out{};
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, out.data(), &n) != 1 || n != out.size())
    throw std::runtime_error("UpdateHasher: SHA-256 final failed");
  return out;
}

chain::Hash32 update_hash(std::span<const std::uint8_t> bytes) {
  UpdateHasher h;
  h.update(bytes);
  return h.finish();
}

chain::Hash32 register_digest(std::uint64_t chain_id, std::span<const std::uint8_t> curve_key) {
  constexpr std::string_view kTag = "murmur.register.v1";
  chain::Bytes msg(kTag.begin(), kTag.end());
  for (int shift = 56; shift >= 0; shift -= 8) msg.push_back(static_cast<std::uint8_t>(chain_id >> shift));
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
