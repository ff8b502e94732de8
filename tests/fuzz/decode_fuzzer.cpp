// libFuzzer target for what murmurd does first with every message a peer sends: the framing
// checks of protocol::decode, the Envelope's protobuf parsing, and the dtype checks that run
// on a chunk's tensor bytes (all_finite, to_float). Any crash, sanitizer report, or broken
// round-trip invariant below is a bug.
//
// Input layout (so that the fuzzer can vary the frame count and frame boundaries):
//   byte 0        bits 0-1: frame count 0..3; bits 2-3: dtype for the tensor checks
//   bytes 1-2     (2+ frames) little-endian length of frame 0, clamped to what is left
//   bytes 3-4     (3 frames) length of frame 1
//   the rest      the frames, in order; the last frame takes everything that remains
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "murmur/protocol/tensor.hpp"
#include "murmur/protocol/wire.hpp"

namespace {

namespace protocol = murmur::protocol;
namespace wire = murmur::wire;

[[noreturn]] void invariant_broken() {
  std::abort();
}

std::vector<zmq::message_t> split(const std::uint8_t* data, std::size_t size, unsigned frames) {
  std::vector<zmq::message_t> out;
  std::size_t pos = 0;
  std::size_t lengths[2] = {0, 0};
  for (unsigned i = 0; i + 1 < frames && i < 2; ++i) {
    if (pos + 2 <= size) lengths[i] = data[pos] | (static_cast<std::size_t>(data[pos + 1]) << 8);
    pos = std::min(pos + 2, size);
  }
  for (unsigned i = 0; i < frames; ++i) {
    const std::size_t left = size - pos;
    const std::size_t len = i + 1 == frames ? left : std::min(lengths[i], left);
    out.emplace_back(data + pos, len);
    pos += len;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned frames = data[0] & 3u;
  const auto dtype = static_cast<wire::DType>((data[0] >> 2) % 3);
  auto parts = split(data + 1, size - 1, frames);
  protocol::Limits limits;
  limits.max_envelope_bytes = 64 * 1024;
  limits.max_payload_bytes = 1 << 20;
  protocol::Message m;
  try {
    m = protocol::decode(parts, limits);
  } catch (const protocol::ProtocolError& e) {
    // Every refusal names a real code.
    if (e.code() == wire::ERR_UNSPECIFIED || !wire::ErrorCode_IsValid(e.code())) invariant_broken();
    return 0;
  }
  // Accepted: a body is set, the tensor frame is there exactly when the body carries one.
  const auto body = m.envelope.body_case();
  if (body == wire::Envelope::BODY_NOT_SET) invariant_broken();
  if (m.has_payload != protocol::carries_payload(body)) invariant_broken();

  // Re-encoding what was accepted must decode to the same body and request id.
  auto again = protocol::encode(m.envelope, m.bytes());
  const protocol::Message m2 = protocol::decode(again, {1 << 20, 1 << 20});
  if (m2.envelope.body_case() != body || m2.envelope.request_id() != m.envelope.request_id() ||
      m2.payload.size() != m.payload.size())
    invariant_broken();

  // What the server does with a chunk's bytes before spooling them.
  if (m.has_payload) {
    const auto bytes = m.bytes();
    const std::size_t eb = protocol::element_bytes(dtype);
    const std::size_t n = bytes.size() / eb;
    const bool finite = protocol::all_finite(dtype, bytes.first(n * eb));
    std::vector<float> values(n);
    protocol::to_float(dtype, bytes.first(n * eb), values);
    for (float v : values)
      if (finite && !(v == v && v - v == 0.0f))
        invariant_broken();  // finite bits widen to finite floats
  }
  // Error messages are built from peer-controlled text in the server: make sure it is readable.
  if (m.envelope.has_error()) (void)protocol::code_name(m.envelope.error().code());
  return 0;
}
