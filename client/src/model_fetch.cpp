// NodeClient::fetch_model: ranged ModelRequests, `model_window` in flight, each reply checked
// against what was asked, and the whole model checked against its keccak-256 content hash.
#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

#include "murmur/chain/keccak.hpp"
#include "node_client_impl.hpp"

namespace murmur::client {

namespace {

constexpr std::uint32_t kDefaultChunk = 4u << 20;

bool same_hash(const std::string& wire_hash, const chain::Hash32& hash) {
  return wire_hash.size() == hash.size() &&
         std::memcmp(wire_hash.data(), hash.data(), hash.size()) == 0;
}

}  // namespace

std::vector<float> NodeClient::fetch_model(const chain::Hash32& hash) {
  Impl& im = *impl_;
  if (im.chunk_bytes == 0) round_info();
  const std::uint64_t chunk = im.chunk_bytes != 0 ? im.chunk_bytes : kDefaultChunk;
  detail::Channel& ch = im.round();
  const std::string what = "ModelRequest for " + chain::to_hex(hash);

  auto request = [&](std::uint64_t offset, std::uint64_t length) {
    wire::Envelope e;
    auto* r = e.mutable_model_request();
    r->set_model_hash(hash.data(), hash.size());
    r->set_offset(offset);
    r->set_length(length);
    return e;
  };
  auto check = [&](const protocol::Message& m, std::uint64_t offset, std::uint64_t length,
                   std::uint64_t total) {
    const auto& c = m.envelope.model_chunk();
    if (!same_hash(c.model_hash(), hash) || c.offset() != offset || c.total() != total ||
        !m.has_payload || m.payload.size() != length)
      throw ServerError(
          wire::ERR_MALFORMED,
          what + ": " + ch.endpoint() + " answered offset " + std::to_string(c.offset()) +
              " with " + std::to_string(m.payload.size()) + " of " + std::to_string(c.total()) +
              " bytes, asked offset " + std::to_string(offset) + " for " + std::to_string(length));
  };

  // The first range (with retries) tells the model's size.
  const protocol::Message first =
      im.call(ch, request(0, chunk), wire::Envelope::kModelChunk, "ModelRequest");
  const std::uint64_t total = first.envelope.model_chunk().total();
  if (total % sizeof(float) != 0)
    throw ServerError(wire::ERR_MALFORMED, what + ": a model is f32, but its size is " +
                                               std::to_string(total) + " bytes");
  check(first, 0, std::min(chunk, total), total);
  std::vector<float> model(static_cast<std::size_t>(total / sizeof(float)));
  auto* bytes = reinterpret_cast<std::uint8_t*>(model.data());
  std::memcpy(bytes, first.payload.data(), first.payload.size());

  // The rest, pipelined. Lost ranges are asked again after a reconnect.
  std::deque<std::uint64_t> todo;
  for (std::uint64_t o = first.payload.size(); o < total; o += chunk) todo.push_back(o);
  std::map<std::uint64_t, std::uint64_t> in_flight;  // request id -> offset
  std::uint64_t received = first.payload.size();
  int failures = 0, busy = 0;
  std::optional<detail::Clock::time_point> busy_since;
  while (received < total) {
    while (in_flight.size() < im.opt.model_window && !todo.empty()) {
      const std::uint64_t offset = todo.front();
      auto e = request(offset, std::min(chunk, total - offset));
      const auto id = ch.send(e, nullptr, detail::Clock::now() + im.opt.timeout);
      if (!id) break;
      todo.pop_front();
      in_flight.emplace(*id, offset);
    }
    std::optional<protocol::Message> reply;
    if (!in_flight.empty()) reply = ch.receive(detail::Clock::now() + im.opt.timeout);
    if (!reply) {
      if (++failures > im.opt.retries)
        throw TimeoutError(what + " to " + ch.endpoint() + ": no reply within " +
                           std::to_string(im.opt.timeout.count()) + " ms after " +
                           std::to_string(failures) + " attempts");
      for (const auto& [id, offset] : in_flight) todo.push_back(offset);
      in_flight.clear();
      std::sort(todo.begin(), todo.end());
      ch.reconnect();
      std::this_thread::sleep_for(im.backoff(failures - 1));
      continue;
    }
    const auto it = in_flight.find(reply->envelope.request_id());
    if (it == in_flight.end()) continue;  // a reply to a request abandoned at a reconnect
    const std::uint64_t offset = it->second;
    in_flight.erase(it);
    if (reply->envelope.has_error()) {
      const auto code = reply->envelope.error().code();
      if (!is_transient(code) || !im.wait_out_busy(busy_since, busy))
        throw im.refusal("ModelRequest", ch, reply->envelope.error());
      todo.push_back(offset);
      continue;
    }
    if (!reply->envelope.has_model_chunk())
      throw ServerError(wire::ERR_MALFORMED,
                        what + ": " + ch.endpoint() + " replied with an unexpected message");
    const std::uint64_t length = std::min(chunk, total - offset);
    check(*reply, offset, length, total);
    std::memcpy(bytes + offset, reply->payload.data(), length);
    received += length;
  }

  if (chain::keccak256({bytes, static_cast<std::size_t>(total)}) != hash)
    throw ServerError(wire::ERR_HASH_MISMATCH, what + ": the " + std::to_string(total) +
                                                   " bytes from " + ch.endpoint() +
                                                   " do not hash to the model's keccak-256");
  return model;
}

}  // namespace murmur::client
