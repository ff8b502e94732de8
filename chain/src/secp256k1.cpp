#include "murmur/chain/secp256k1.hpp"

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <stdexcept>
#include <string>

#include "murmur/chain/keccak.hpp"

namespace murmur::chain {
namespace {

// One process-wide context, randomized once (blinding against side channels). libsecp256k1
// contexts are safe for concurrent use by functions that take them as const.
const secp256k1_context* context() {
  static secp256k1_context* ctx = [] {
    secp256k1_context* c =
        secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
    std::random_device rd;
    std::array<unsigned char, 32> seed;
    for (auto& b : seed) b = static_cast<unsigned char>(rd());
    if (!secp256k1_context_randomize(c, seed.data()))
      throw std::runtime_error("secp256k1: randomize failed");
    return c;
  }();
  return ctx;
}

// n/2 for secp256k1, big-endian.
constexpr Hash32 kHalfOrder = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                               0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4,
                               0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};

Address address_of_pubkey(const secp256k1_pubkey& pub) {
  std::array<unsigned char, 65> ser;
  size_t len = ser.size();
  secp256k1_ec_pubkey_serialize(context(), ser.data(), &len, &pub, SECP256K1_EC_UNCOMPRESSED);
  Hash32 h = keccak256(std::span<const std::uint8_t>(ser.data() + 1, 64));
  Address a;
  std::copy(h.begin() + 12, h.end(), a.bytes.begin());
  return a;
}

}  // namespace

Bytes Signature::to_rsv() const {
  Bytes out(r.begin(), r.end());
  out.insert(out.end(), s.begin(), s.end());
  out.push_back(static_cast<std::uint8_t>(27 + recovery_id));
  return out;
}

Signature Signature::from_rsv(std::span<const std::uint8_t> rsv) {
  if (rsv.size() != 65)
    throw std::invalid_argument("a signature is 65 bytes r||s||v, got " +
                                std::to_string(rsv.size()));
  Signature sig;
  std::copy(rsv.begin(), rsv.begin() + 32, sig.r.begin());
  std::copy(rsv.begin() + 32, rsv.begin() + 64, sig.s.begin());
  std::uint8_t v = rsv[64];
  if (v == 27 || v == 28) v -= 27;
  if (v > 1)
    throw std::invalid_argument("signature v must be 0, 1, 27 or 28, got " +
                                std::to_string(rsv[64]));
  sig.recovery_id = v;
  return sig;
}

bool Signature::is_low_s() const {
  return std::lexicographical_compare(s.begin(), s.end(), kHalfOrder.begin(), kHalfOrder.end()) ||
         s == kHalfOrder;
}

PrivateKey::PrivateKey(const Hash32& secret) : secret_(secret) {
  if (!secp256k1_ec_seckey_verify(context(), secret_.data()))
    throw std::invalid_argument(
        "not a valid secp256k1 private key (zero or not below the group order)");
}

PrivateKey PrivateKey::from_hex(std::string_view text) {
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    text.remove_prefix(2);
  if (text.size() != 64 || !std::all_of(text.begin(), text.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) != 0;
      }))
    throw std::invalid_argument(
        "a private key is 64 hex digits (optionally 0x-prefixed); the text "
        "given has " +
        std::to_string(text.size()) + " characters or non-hex digits");
  Bytes b = chain::from_hex(text);
  Hash32 k;
  std::copy(b.begin(), b.end(), k.begin());
  std::fill(b.begin(), b.end(), 0);
  return PrivateKey(k);
}

PrivateKey::~PrivateKey() {
  volatile std::uint8_t* p = secret_.data();
  for (std::size_t i = 0; i < secret_.size(); ++i) p[i] = 0;
}

Signature PrivateKey::sign(const Hash32& digest) const {
  secp256k1_ecdsa_recoverable_signature rsig;
  // nullptr nonce function = secp256k1_nonce_function_rfc6979; the result is always low-s.
  if (!secp256k1_ecdsa_sign_recoverable(context(), &rsig, digest.data(), secret_.data(), nullptr,
                                        nullptr))
    throw std::runtime_error("secp256k1 signing failed");
  std::array<unsigned char, 64> compact;
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), compact.data(), &recid, &rsig);
  Signature sig;
  std::copy(compact.begin(), compact.begin() + 32, sig.r.begin());
  std::copy(compact.begin() + 32, compact.end(), sig.s.begin());
  sig.recovery_id = static_cast<std::uint8_t>(recid);
  return sig;
}

Address PrivateKey::address() const {
  secp256k1_pubkey pub;
  if (!secp256k1_ec_pubkey_create(context(), &pub, secret_.data()))
    throw std::runtime_error("secp256k1: public key creation failed");
  return address_of_pubkey(pub);
}

Address recover_address(const Hash32& digest, const Signature& sig) {
  std::array<unsigned char, 64> compact;
  std::copy(sig.r.begin(), sig.r.end(), compact.begin());
  std::copy(sig.s.begin(), sig.s.end(), compact.begin() + 32);
  secp256k1_ecdsa_recoverable_signature rsig;
  if (!secp256k1_ecdsa_recoverable_signature_parse_compact(context(), &rsig, compact.data(),
                                                           sig.recovery_id))
    throw std::invalid_argument("signature does not parse (r or s out of range)");
  secp256k1_pubkey pub;
  if (!secp256k1_ecdsa_recover(context(), &pub, &rsig, digest.data()))
    throw std::invalid_argument("signature does not recover to a public key");
  return address_of_pubkey(pub);
}

}  // namespace murmur::chain
