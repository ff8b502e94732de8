#include "shard_keccak.hpp"

#include <cryptopp/keccak.h>

#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>

namespace murmur::server {

// Crypto++'s Keccak keeps the 25 lanes and the offset in the block being absorbed as protected
// members (keccak.h: m_state, m_counter); the derived class reads and sets them, so the
// permutation and padding stay Crypto++'s.
struct KeccakChain::Sponge : CryptoPP::Keccak_256 {
  static constexpr std::size_t kRate = 200 - 2 * 32;
  void save(std::uint8_t* out) const {
    std::memcpy(out, m_state.BytePtr(), 200);
    const std::uint32_t c = m_counter;
    for (int b = 0; b < 4; ++b) out[200 + b] = static_cast<std::uint8_t>(c >> (8 * b));
  }
  void load(const std::uint8_t* in) {
    std::uint32_t c = 0;
    for (int b = 0; b < 4; ++b) c |= static_cast<std::uint32_t>(in[200 + b]) << (8 * b);
    if (c >= kRate)
      throw std::invalid_argument("keccak state: offset " + std::to_string(c) +
                                  " past the 136-byte block");
    std::memcpy(m_state.BytePtr(), in, 200);
    m_counter = c;
  }
};

static_assert(std::endian::native == std::endian::little,
              "the sponge's lanes travel as the host lays them out: little-endian hosts only");

KeccakChain::KeccakChain() : sponge_(std::make_unique<Sponge>()) {}
KeccakChain::~KeccakChain() = default;
KeccakChain::KeccakChain(KeccakChain&&) noexcept = default;
KeccakChain& KeccakChain::operator=(KeccakChain&&) noexcept = default;

KeccakChain KeccakChain::resume(std::span<const std::uint8_t> state) {
  if (state.size() != kStateBytes)
    throw std::invalid_argument("keccak state of " + std::to_string(state.size()) + " bytes, not " +
                                std::to_string(kStateBytes));
  KeccakChain k;
  k.sponge_->load(state.data());
  return k;
}

void KeccakChain::absorb(std::span<const std::uint8_t> bytes) {
  sponge_->Update(bytes.data(), bytes.size());
}

std::vector<std::uint8_t> KeccakChain::state() const {
  std::vector<std::uint8_t> out(kStateBytes);
  sponge_->save(out.data());
  return out;
}

chain::Hash32 KeccakChain::finish() {
  chain::Hash32 out{};
  sponge_->Final(out.data());
  return out;
}

}  // namespace murmur::server
