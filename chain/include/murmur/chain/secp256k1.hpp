// secp256k1 keys and recoverable ECDSA signatures (libsecp256k1): RFC 6979 deterministic nonces,
// low-s (EIP-2) normalized signatures, public-key recovery.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"

namespace murmur::chain {

/// A recoverable signature: r, s (big-endian, s ≤ n/2) and the recovery id (yParity) 0 or 1.
struct Signature {
  Hash32 r{};
  Hash32 s{};
  std::uint8_t recovery_id = 0;

  /// 65 bytes r ‖ s ‖ v with v = 27 + recovery_id: the form ecrecover, OpenZeppelin's ECDSA and
  /// ethers' `Signature.serialized` use.
  Bytes to_rsv() const;
  /// Parses 65 bytes r ‖ s ‖ v, v ∈ {0, 1, 27, 28}; throws std::invalid_argument otherwise.
  static Signature from_rsv(std::span<const std::uint8_t> rsv);
  /// True if s ≤ n/2 (EIP-2); signatures made by `PrivateKey::sign` always are.
  bool is_low_s() const;
};

/// A secp256k1 private key (1 ≤ k < n). Never printed; wiped on destruction.
class PrivateKey {
 public:
  /// Throws std::invalid_argument if the 32 bytes are zero or ≥ the group order.
  explicit PrivateKey(const Hash32& secret);
  /// Parses 64 hex digits (optional 0x, surrounding whitespace ignored); throws
  /// std::invalid_argument without echoing the text.
  static PrivateKey from_hex(std::string_view text);
  ~PrivateKey();
  PrivateKey(const PrivateKey&) = default;
  PrivateKey& operator=(const PrivateKey&) = default;

  /// Signs a 32-byte digest: RFC 6979 nonce, low-s, recoverable. Deterministic. ~50 µs.
  Signature sign(const Hash32& digest) const;
  /// The account address: last 20 bytes of keccak256 of the 64-byte uncompressed public key.
  Address address() const;
  /// The raw secret (for tests and key files only).
  const Hash32& secret() const { return secret_; }

 private:
  Hash32 secret_;
};

/// The address that signed `digest` with `sig`; throws std::invalid_argument if the signature
/// does not parse or recover to a valid public key.
Address recover_address(const Hash32& digest, const Signature& sig);

}  // namespace murmur::chain
