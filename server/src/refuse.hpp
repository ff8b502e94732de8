#pragma once
// The one way murmurd refuses a request: a typed protocol error, caught where the request came
// in and sent back as a wire Error (and counted in the metrics by its code). Nothing a refused
// request carried is kept.
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "murmur/chain/bytes.hpp"
#include "murmur/protocol/wire.hpp"

namespace murmur::server {

[[noreturn]] inline void refuse(wire::ErrorCode code, const std::string& why) {
  throw protocol::ProtocolError(code, why);
}

/// A 32-byte field of a message (a hash, a key); ERR_MALFORMED naming `what` otherwise.
inline chain::Hash32 hash_field(const std::string& bytes, const char* what) {
  if (bytes.size() != 32) refuse(wire::ERR_MALFORMED, std::string(what) + " must be 32 bytes");
  chain::Hash32 h{};
  std::memcpy(h.data(), bytes.data(), 32);
  return h;
}

inline std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace murmur::server
