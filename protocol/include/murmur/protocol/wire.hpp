#pragma once
// Framing of Murmuration's messages on ZeroMQ: a message is one frame (a protobuf Envelope)
// or two (the Envelope, then raw tensor bytes for UploadChunk, ModelChunk, UpdateChunk and
// SecAggMaskedChunk).
// Decoding checks everything a peer controls and turns each problem into a typed protocol error.
#include <zmq.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "murmur.pb.h"

namespace murmur::protocol {

namespace wire = ::murmur::wire;

/// A refusal with its wire code; what a server sends back as an Error message.
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(wire::ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  wire::ErrorCode code() const noexcept { return code_; }

 private:
  wire::ErrorCode code_;
};

/// "ERR_BAD_CHECKSUM" and so on.
std::string code_name(wire::ErrorCode code);

/// Size limits a decoder enforces before parsing anything.
struct Limits {
  std::size_t max_envelope_bytes = 64 * 1024;
  std::size_t max_payload_bytes = 4 * 1024 * 1024;  ///< the chunk size
};

/// A decoded message: the envelope and, for chunk messages, the tensor bytes (kept in their
/// ZeroMQ frame, never copied into protobuf).
struct Message {
  wire::Envelope envelope;
  zmq::message_t payload;
  bool has_payload = false;
  std::span<const std::uint8_t> bytes() const {
    return {static_cast<const std::uint8_t*>(payload.data()), payload.size()};
  }
};

/// Whether a body travels with a tensor frame.
bool carries_payload(wire::Envelope::BodyCase body);

/// Decodes `frames` (without any ROUTER identity frame). Throws ProtocolError:
/// ERR_BAD_FRAMES for a frame count that does not fit the body, ERR_TOO_LARGE for an
/// oversized frame, ERR_MALFORMED for an envelope that does not parse or has no body.
Message decode(std::vector<zmq::message_t>& frames, const Limits& limits);

/// The frames of `envelope` (and `payload` when the body carries one).
std::vector<zmq::message_t> encode(const wire::Envelope& envelope,
                                   std::span<const std::uint8_t> payload = {});

/// An Envelope holding Error{code, message} in reply to `request_id`.
wire::Envelope error_envelope(std::uint64_t request_id, wire::ErrorCode code,
                              const std::string& message);

}  // namespace murmur::protocol
