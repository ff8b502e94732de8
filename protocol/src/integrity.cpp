#include "murmur/protocol/integrity.hpp"

#include <cryptopp/keccak.h>
#include <sodium.h>

#include <stdexcept>

#include "murmur/chain/keccak.hpp"
#include "murmur/chain/secp256k1.hpp"

namespace murmur::protocol {

Checksum chunk_checksum(std::span<const std::uint8_t> bytes) {
  Checksum out{};
  crypto_generichash(out.data(), out.size(), bytes.data(), bytes.size(), nullptr, 0);
  return out;
}

struct UpdateHasher::Impl {
  CryptoPP::Keccak_256 keccak;
};

UpdateHasher::UpdateHasher() : impl_(std::make_unique<Impl>()) {}
UpdateHasher::~UpdateHasher() = default;
UpdateHasher::UpdateHasher(UpdateHasher&&) noexcept = default;
UpdateHasher& UpdateHasher::operator=(UpdateHasher&&) noexcept = default;

void UpdateHasher::update(std::span<const std::uint8_t> bytes) {
  impl_->keccak.Update(bytes.data(), bytes.size());
}

chain::Hash32 UpdateHasher::finish() {
  chain::Hash32 out{};
  impl_->keccak.Final(out.data());
  return out;
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
