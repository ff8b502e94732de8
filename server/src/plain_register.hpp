#pragma once
// What a Register is signed over in plain mode (curve = false with insecure_plaintext = true).
// With CurveZMQ the signed key is the connection's own Curve key, which only its holder can use;
// in plain mode there is no such key, so the 32 bytes in Register.curve_public_key are a fresh
// random nonce, the digest also names the task, and murmurd takes each nonce once (it is kept in
// state.db's key bindings): a Register seen on the wire cannot be replayed, here or to another
// task.
#include <cstdint>
#include <span>
#include <string_view>

#include "murmur/chain/bytes.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::server {

/// keccak256("murmur.register.plain.v1" ‖ chain_id ‖ task_id ‖ nonce), the integers as 8 bytes
/// big-endian.
inline chain::Hash32 plain_register_digest(std::uint64_t chain_id, std::uint64_t task_id,
                                           std::span<const std::uint8_t> nonce) {
  constexpr std::string_view kTag = "murmur.register.plain.v1";
  chain::Bytes msg(kTag.begin(), kTag.end());
  for (std::uint64_t v : {chain_id, task_id})
    for (int shift = 56; shift >= 0; shift -= 8)
      msg.push_back(static_cast<std::uint8_t>(v >> shift));
  msg.insert(msg.end(), nonce.begin(), nonce.end());
  return chain::keccak256(msg);
}

}  // namespace murmur::server
