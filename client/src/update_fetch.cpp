// The reads of a round's committed updates (UpdateListRequest, UpdateRequest; protocol/README.md):
// the list with each proposer's signed Update, then each update's bytes in ranges. Two readers
// share the requests and the parsing here:
//   a voter (round endpoint): round_updates checks each signed Update, fetch_update_bytes the
//     bytes against its BLAKE3 update hash, and a mismatch is a ServerError;
//   a voter in a shard set: fetch_update_part, one shard's part and the split commitment it
//     serves with it (split_update_fetch.cpp checks the parts and puts them together);
//   anyone (registration endpoint; public_*): the same requests, nothing checked, because the
//     caller (`murmur verify --from`) checks every update against the chain and reports each
//     mismatch as a verdict.
#include <cstring>
#include <stdexcept>

#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"
#include "node_client_impl.hpp"

namespace murmur::client {

namespace {

template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> fixed(const std::string& bytes) {
  if (bytes.size() != N) return std::nullopt;
  std::array<std::uint8_t, N> out{};
  std::memcpy(out.data(), bytes.data(), N);
  return out;
}

/// UpdateRequest for bytes [offset, offset + length) of `update` (offsets in the whole update).
wire::Envelope update_request(std::uint64_t task_id, std::uint64_t round, const RoundUpdate& update,
                              std::uint64_t offset, std::uint64_t length) {
  wire::Envelope e;
  auto* r = e.mutable_update_request();
  r->set_task_id(task_id);
  r->set_round(round);
  r->set_proposer(update.proposer.bytes.data(), update.proposer.bytes.size());
  r->set_offset(offset);
  r->set_length(length);
  return e;
}

}  // namespace

RoundUpdates NodeClient::Impl::list_updates(detail::Channel& channel, std::uint64_t task_id,
                                            std::uint64_t round) {
  Impl& im = *this;
  RoundUpdates out;
  const std::string what = "UpdateListRequest of round " + std::to_string(round);
  for (std::uint32_t first = 0;;) {
    wire::Envelope e;
    auto* q = e.mutable_update_list_request();
    q->set_task_id(task_id);
    q->set_round(round);
    q->set_first(first);
    const auto reply =
        im.call(channel, std::move(e), wire::Envelope::kUpdateList, "UpdateListRequest");
    const wire::UpdateList& list = reply.envelope.update_list();
    const auto candidate = fixed<32>(list.candidate_model_hash());
    if (list.task_id() != task_id || list.round() != round || list.first() != first || !candidate ||
        (first > 0 && *candidate != out.candidate))
      throw ServerError(wire::ERR_MALFORMED, what + ": the reply names another round or page");
    out.candidate = *candidate;
    if (const auto base = fixed<32>(list.base_model_hash())) out.base_model = *base;
    out.rule = list.rule();
    out.chunk_bytes = list.chunk_bytes();
    for (const auto& u : list.updates()) {
      RoundUpdate r;
      const auto proposer = fixed<20>(u.proposer());
      const auto hash = fixed<32>(u.update_hash());
      if (!proposer || !hash || !wire::DType_IsValid(u.dtype()) ||
          u.total_bytes() % protocol::element_bytes(u.dtype()) != 0)
        throw ServerError(wire::ERR_MALFORMED, what + ": a malformed entry");
      r.proposer.bytes = *proposer;
      r.update_hash = *hash;
      r.num_samples = u.num_samples();
      r.signature.assign(u.signature().begin(), u.signature().end());
      r.dtype = u.dtype();
      r.total_bytes = u.total_bytes();
      r.included = u.included();
      out.updates.push_back(std::move(r));
    }
    first += static_cast<std::uint32_t>(list.updates_size());
    if (first >= list.total()) break;
    if (list.updates_size() == 0)
      throw ServerError(wire::ERR_MALFORMED, what + ": an empty page before the end of the list");
  }
  return out;
}

std::vector<std::uint8_t> NodeClient::Impl::update_bytes(detail::Channel* channel,
                                                         std::uint64_t chunk, std::uint64_t task_id,
                                                         std::uint64_t round,
                                                         const RoundUpdate& update) {
  Impl& im = *this;
  const std::string what = "UpdateRequest for " + update.proposer.to_checksum() + "'s update";
  std::vector<std::uint8_t> bytes;
  detail::RangedFetch f;
  f.what = what;
  f.request_name = "UpdateRequest";
  f.reply = wire::Envelope::kUpdateChunk;
  f.channel = channel;
  f.chunk = chunk;
  f.request = [&](std::uint64_t offset, std::uint64_t length) {
    return update_request(task_id, round, update, offset, length);
  };
  f.range_of = [&](const wire::Envelope& e) {
    const auto& c = e.update_chunk();
    if (fixed<20>(c.proposer()) != update.proposer.bytes ||
        fixed<32>(c.update_hash()) != update.update_hash)
      throw ServerError(wire::ERR_MALFORMED, what + ": the reply names another update");
    return std::pair<std::uint64_t, std::uint64_t>{c.offset(), c.total()};
  };
  f.allocate = [&](std::uint64_t total) {
    if (total != update.total_bytes)
      throw ServerError(wire::ERR_MALFORMED, what + ": " + std::to_string(total) +
                                                 " bytes, the list said " +
                                                 std::to_string(update.total_bytes));
    bytes.resize(static_cast<std::size_t>(total));
    return bytes.data();
  };
  im.fetch_ranges(f);
  return bytes;
}

NodeClient::UpdatePart NodeClient::fetch_update_part(std::uint64_t task_id, std::uint64_t round,
                                                     const RoundUpdate& update, std::uint64_t begin,
                                                     std::uint64_t end) {
  if (begin >= end || end > update.total_bytes)
    throw std::invalid_argument("fetch_update_part: bytes [" + std::to_string(begin) + ", " +
                                std::to_string(end) + ") of an update of " +
                                std::to_string(update.total_bytes));
  const std::string what = "UpdateRequest for bytes [" + std::to_string(begin) + ", " +
                           std::to_string(end) + ") of " + update.proposer.to_checksum() +
                           "'s update";
  UpdatePart part;
  detail::RangedFetch f;
  f.what = what;
  f.request_name = "UpdateRequest";
  f.reply = wire::Envelope::kUpdateChunk;
  // The ranges are the part's own, [0, end - begin); the wire's offsets are the whole update's.
  f.request = [&](std::uint64_t offset, std::uint64_t length) {
    return update_request(task_id, round, update, begin + offset, length);
  };
  f.range_of = [&](const wire::Envelope& e) {
    const auto& c = e.update_chunk();
    if (fixed<20>(c.proposer()) != update.proposer.bytes ||
        fixed<32>(c.update_hash()) != update.update_hash)
      throw ServerError(wire::ERR_MALFORMED, what + ": the reply names another update");
    if (c.total() != update.total_bytes || c.offset() < begin || c.offset() >= end)
      throw ServerError(wire::ERR_MALFORMED,
                        what + ": the reply is offset " + std::to_string(c.offset()) + " of " +
                            std::to_string(c.total()) + " bytes, the list said " +
                            std::to_string(update.total_bytes));
    if (c.offset() == begin && c.has_split()) part.split = c.split();
    return std::pair<std::uint64_t, std::uint64_t>{c.offset() - begin, end - begin};
  };
  f.allocate = [&](std::uint64_t total) {
    part.bytes.resize(static_cast<std::size_t>(total));
    return part.bytes.data();
  };
  impl_->fetch_ranges(f);
  return part;
}

RoundUpdates NodeClient::round_updates(std::uint64_t task_id, std::uint64_t round,
                                       const chain::Eip712Domain& domain) {
  RoundUpdates out = impl_->list_updates(impl_->round(), task_id, round);
  const std::string what = "UpdateListRequest of round " + std::to_string(round);
  for (const RoundUpdate& r : out.updates) {
    const chain::UpdateMessage m{chain::U256(task_id), chain::U256(round), r.update_hash,
                                 chain::U256(r.num_samples)};
    const auto who = protocol::signer(chain::update_digest(domain, m), r.signature);
    if (!who || *who != r.proposer)
      throw ServerError(wire::ERR_BAD_SIGNATURE,
                        what + ": the Update of " + r.proposer.to_checksum() +
                            " is not signed by it (under chain id " +
                            std::to_string(domain.chain_id) + ", contract " +
                            domain.verifying_contract.to_checksum() + ")");
  }
  return out;
}

std::vector<std::uint8_t> NodeClient::fetch_update_bytes(std::uint64_t task_id, std::uint64_t round,
                                                         const RoundUpdate& update) {
  auto bytes = impl_->update_bytes(nullptr, 0, task_id, round, update);
  if (protocol::update_hash(bytes) != update.update_hash)
    throw ServerError(wire::ERR_HASH_MISMATCH,
                      "UpdateRequest for " + update.proposer.to_checksum() + "'s update: the " +
                          std::to_string(bytes.size()) +
                          " bytes do not hash to the signed update hash " +
                          chain::to_hex(update.update_hash));
  return bytes;
}

std::vector<float> NodeClient::fetch_update(std::uint64_t task_id, std::uint64_t round,
                                            const RoundUpdate& update) {
  const auto bytes = fetch_update_bytes(task_id, round, update);
  std::vector<float> values(bytes.size() / protocol::element_bytes(update.dtype));
  protocol::to_float(update.dtype, bytes, values);
  return values;
}

RoundUpdates NodeClient::public_round_updates(std::uint64_t task_id, std::uint64_t round) {
  return impl_->list_updates(impl_->registration(), task_id, round);
}

std::vector<std::uint8_t> NodeClient::public_update_bytes(std::uint64_t task_id,
                                                          std::uint64_t round,
                                                          const RoundUpdate& update,
                                                          std::uint32_t chunk_bytes) {
  if (chunk_bytes == 0)
    throw ServerError(wire::ERR_MALFORMED, "the update list named no chunk size");
  return impl_->update_bytes(&impl_->registration(), chunk_bytes, task_id, round, update);
}

std::vector<std::uint8_t> NodeClient::public_model_bytes(const chain::Hash32& hash,
                                                         std::uint32_t chunk_bytes) {
  if (chunk_bytes == 0)
    throw ServerError(wire::ERR_MALFORMED, "the update list named no chunk size");
  std::vector<std::uint8_t> bytes;
  detail::RangedFetch f = detail::model_ranged_fetch(hash);
  f.channel = &impl_->registration();
  f.chunk = chunk_bytes;
  f.allocate = [&](std::uint64_t total) {
    bytes.resize(static_cast<std::size_t>(total));
    return bytes.data();
  };
  impl_->fetch_ranges(f);
  return bytes;
}

}  // namespace murmur::client
