#include "shard_fetch.hpp"

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <chrono>
#include <cstring>
#include <map>
#include <stdexcept>

#include "murmur/chain/keccak.hpp"
#include "murmur/protocol/wire.hpp"

namespace murmur::server {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t fresh_id(std::uint64_t& last) {
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  last = std::max(last + 1, static_cast<std::uint64_t>(now));
  return last;
}

}  // namespace

std::vector<float> fetch_shard_part(const ShardContact& shard, const chain::Hash32& hash,
                                    std::uint64_t bytes, const std::string& own_public,
                                    const std::string& own_secret,
                                    std::chrono::milliseconds timeout, std::size_t window) {
  const std::string where = "the part " + chain::to_hex(hash) + " at " + shard.endpoint;
  if (bytes % 4 != 0) throw std::runtime_error(where + ": " + std::to_string(bytes) + " bytes");
  const std::uint64_t chunk = shard.chunk_bytes == 0 ? (4u << 20) : shard.chunk_bytes;
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(chunk + (64 << 10)));
  if (!shard.public_key.empty()) {
    s.set(zmq::sockopt::curve_serverkey, shard.public_key);
    s.set(zmq::sockopt::curve_publickey, own_public);
    s.set(zmq::sockopt::curve_secretkey, own_secret);
  }
  s.connect(shard.endpoint);

  std::vector<float> out(bytes / 4);
  auto* dst = reinterpret_cast<std::uint8_t*>(out.data());
  std::uint64_t last_id = 0, next = 0, received = 0;
  std::map<std::uint64_t, std::uint64_t> in_flight;  // request id -> offset
  std::vector<std::uint64_t> again;                  // offsets whose reply was lost
  int lost = 0;
  const auto ask = [&](std::uint64_t offset) {
    wire::Envelope e;
    e.set_request_id(fresh_id(last_id));
    auto* r = e.mutable_model_request();
    r->set_model_hash(std::string(reinterpret_cast<const char*>(hash.data()), hash.size()));
    r->set_offset(offset);
    r->set_length(std::min(chunk, bytes - offset));
    auto frames = protocol::encode(e);
    for (std::size_t i = 0; i < frames.size(); ++i)
      s.send(frames[i], i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    in_flight.emplace(e.request_id(), offset);
  };
  while (received < bytes) {
    while (in_flight.size() < window && (!again.empty() || next < bytes)) {
      if (!again.empty()) {
        ask(again.back());
        again.pop_back();
      } else {
        ask(next);
        next += std::min(chunk, bytes - next);
      }
    }
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    if (!(item.revents & ZMQ_POLLIN)) {
      if (++lost > 1)
        throw std::runtime_error(where + ": no reply within " + std::to_string(timeout.count()) +
                                 " ms, twice");
      for (const auto& [id, offset] : in_flight) again.push_back(offset);
      in_flight.clear();
      continue;
    }
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(s, std::back_inserter(frames)))
      throw std::runtime_error(where + ": receive failed");
    protocol::Message m =
        protocol::decode(frames, {64 * 1024, static_cast<std::size_t>(chunk) + (64 << 10)});
    const auto it = in_flight.find(m.envelope.request_id());
    if (it == in_flight.end()) continue;  // the reply to a range already asked again
    const std::uint64_t offset = it->second;
    in_flight.erase(it);
    if (m.envelope.has_error())
      throw std::runtime_error(where + ": " + protocol::code_name(m.envelope.error().code()) +
                               ": " + m.envelope.error().message());
    const std::uint64_t length = std::min(chunk, bytes - offset);
    if (!m.envelope.has_model_chunk() || m.envelope.model_chunk().offset() != offset ||
        m.envelope.model_chunk().total() != bytes || !m.has_payload || m.payload.size() != length)
      throw std::runtime_error(where + ": a reply other than bytes [" + std::to_string(offset) +
                               ", " + std::to_string(offset + length) + ") of " +
                               std::to_string(bytes));
    std::memcpy(dst + offset, m.payload.data(), length);
    received += length;
  }
  if (chain::keccak256({dst, bytes}) != hash)
    throw std::runtime_error(where + ": the bytes received do not hash to it");
  return out;
}

}  // namespace murmur::server
