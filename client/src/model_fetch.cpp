// Ranged downloads, `model_window` requests in flight, each reply checked against what was asked:
// NodeClient::fetch_model (the whole model checked against its keccak-256 content hash) and
// NodeClient::fetch_update (a round's committed update, checked against its BLAKE3 update hash;
// update_fetch.cpp).
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

void NodeClient::Impl::fetch_ranges(const detail::RangedFetch& f) {
  Impl& im = *this;
  if (im.chunk_bytes == 0 && f.chunk == 0) {
    wire::Envelope e;
    e.mutable_round_info_request();
    const auto info = im.call(im.round(), e, wire::Envelope::kRoundInfo, "RoundInfoRequest");
    im.chunk_bytes = info.envelope.round_info().chunk_bytes();
  }
  const std::uint64_t chunk = f.chunk != 0          ? f.chunk
                              : im.chunk_bytes != 0 ? im.chunk_bytes
                                                    : kDefaultChunk;
  detail::Channel& ch = f.channel != nullptr ? *f.channel : im.round();
  auto check = [&](const protocol::Message& m, std::uint64_t offset, std::uint64_t length,
                   std::uint64_t total) {
    const auto [got_offset, got_total] = f.range_of(m.envelope);
    if (got_offset != offset || got_total != total || !m.has_payload || m.payload.size() != length)
      throw ServerError(
          wire::ERR_MALFORMED,
          f.what + ": " + ch.endpoint() + " answered offset " + std::to_string(got_offset) +
              " with " + std::to_string(m.payload.size()) + " of " + std::to_string(got_total) +
              " bytes, asked offset " + std::to_string(offset) + " for " + std::to_string(length));
  };

  // The first range (with retries) tells the size.
  const protocol::Message first = im.call(ch, f.request(0, chunk), f.reply, f.request_name);
  const std::uint64_t total = f.range_of(first.envelope).second;
  check(first, 0, std::min(chunk, total), total);
  std::uint8_t* bytes = f.allocate(total);
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
      auto e = f.request(offset, std::min(chunk, total - offset));
      const auto id = ch.send(e, nullptr, detail::Clock::now() + im.opt.timeout);
      if (!id) break;
      todo.pop_front();
      in_flight.emplace(*id, offset);
    }
    std::optional<protocol::Message> reply;
    if (!in_flight.empty()) reply = ch.receive(detail::Clock::now() + im.opt.timeout);
    if (!reply) {
      if (++failures > im.opt.retries)
        throw TimeoutError(f.what + " to " + ch.endpoint() + ": no reply within " +
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
        throw im.refusal(f.request_name, ch, reply->envelope.error());
      todo.push_back(offset);
      continue;
    }
    if (reply->envelope.body_case() != f.reply)
      throw ServerError(wire::ERR_MALFORMED,
                        f.what + ": " + ch.endpoint() + " replied with an unexpected message");
    const std::uint64_t length = std::min(chunk, total - offset);
    check(*reply, offset, length, total);
    std::memcpy(bytes + offset, reply->payload.data(), length);
    received += length;
  }
}

detail::RangedFetch detail::model_ranged_fetch(const chain::Hash32& hash) {
  RangedFetch f;
  f.what = "ModelRequest for " + chain::to_hex(hash);
  f.request_name = "ModelRequest";
  f.reply = wire::Envelope::kModelChunk;
  f.request = [hash](std::uint64_t offset, std::uint64_t length) {
    wire::Envelope e;
    auto* r = e.mutable_model_request();
    r->set_model_hash(hash.data(), hash.size());
    r->set_offset(offset);
    r->set_length(length);
    return e;
  };
  f.range_of = [hash, what = f.what](const wire::Envelope& e) {
    const auto& c = e.model_chunk();
    if (!same_hash(c.model_hash(), hash))
      throw ServerError(wire::ERR_MALFORMED, what + ": the reply names another model");
    return std::pair<std::uint64_t, std::uint64_t>{c.offset(), c.total()};
  };
  return f;
}

std::vector<float> NodeClient::fetch_model(const chain::Hash32& hash) {
  detail::RangedFetch f = detail::model_ranged_fetch(hash);
  const std::string what = f.what;
  std::vector<float> model;
  std::uint64_t total = 0;
  f.allocate = [&](std::uint64_t bytes) {
    if (bytes % sizeof(float) != 0)
      throw ServerError(wire::ERR_MALFORMED, what + ": a model is f32, but its size is " +
                                                 std::to_string(bytes) + " bytes");
    total = bytes;
    model.resize(static_cast<std::size_t>(bytes / sizeof(float)));
    return reinterpret_cast<std::uint8_t*>(model.data());
  };
  impl_->fetch_ranges(f);
  if (chain::keccak256({reinterpret_cast<const std::uint8_t*>(model.data()),
                        static_cast<std::size_t>(total)}) != hash)
    throw ServerError(wire::ERR_HASH_MISMATCH, what + ": the " + std::to_string(total) +
                                                   " bytes from " + impl_->round().endpoint() +
                                                   " do not hash to the model's keccak-256");
  return model;
}

}  // namespace murmur::client
