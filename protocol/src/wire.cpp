#include "murmur/protocol/wire.hpp"

namespace murmur::protocol {

std::string code_name(wire::ErrorCode code) {
  return wire::ErrorCode_Name(code);
}

bool carries_payload(wire::Envelope::BodyCase body) {
  return body == wire::Envelope::kUploadChunk || body == wire::Envelope::kModelChunk ||
         body == wire::Envelope::kSecaggMaskedChunk || body == wire::Envelope::kUpdateChunk;
}

Message decode(std::vector<zmq::message_t>& frames, const Limits& limits) {
  if (frames.empty() || frames.size() > 2)
    throw ProtocolError(wire::ERR_BAD_FRAMES,
                        "a message is 1 or 2 frames, got " + std::to_string(frames.size()));
  if (frames[0].size() > limits.max_envelope_bytes)
    throw ProtocolError(wire::ERR_TOO_LARGE, "envelope of " + std::to_string(frames[0].size()) +
                                                 " bytes exceeds " +
                                                 std::to_string(limits.max_envelope_bytes));
  Message m;
  if (!m.envelope.ParseFromArray(frames[0].data(), static_cast<int>(frames[0].size())))
    throw ProtocolError(wire::ERR_MALFORMED, "envelope is not a valid murmur.wire.Envelope");
  const auto body = m.envelope.body_case();
  if (body == wire::Envelope::BODY_NOT_SET)
    throw ProtocolError(wire::ERR_MALFORMED, "envelope carries no message");
  const bool wants_payload = carries_payload(body);
  if (wants_payload != (frames.size() == 2))
    throw ProtocolError(wire::ERR_BAD_FRAMES,
                        std::string("message ") + (wants_payload ? "needs" : "takes no") +
                            " tensor frame, got " + std::to_string(frames.size()) + " frames");
  if (wants_payload) {
    if (frames[1].size() > limits.max_payload_bytes)
      throw ProtocolError(wire::ERR_TOO_LARGE, "tensor frame of " +
                                                   std::to_string(frames[1].size()) +
                                                   " bytes exceeds the chunk size " +
                                                   std::to_string(limits.max_payload_bytes));
    m.payload = std::move(frames[1]);
    m.has_payload = true;
  }
  return m;
}

std::vector<zmq::message_t> encode(const wire::Envelope& envelope,
                                   std::span<const std::uint8_t> payload) {
  std::vector<zmq::message_t> frames;
  zmq::message_t header(envelope.ByteSizeLong());
  envelope.SerializeToArray(header.data(), static_cast<int>(header.size()));
  frames.push_back(std::move(header));
  if (carries_payload(envelope.body_case())) frames.emplace_back(payload.data(), payload.size());
  return frames;
}

wire::Envelope error_envelope(std::uint64_t request_id, wire::ErrorCode code,
                              const std::string& message) {
  wire::Envelope e;
  e.set_request_id(request_id);
  e.mutable_error()->set_code(code);
  e.mutable_error()->set_message(message);
  return e;
}

}  // namespace murmur::protocol
