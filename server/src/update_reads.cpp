// The reads of a round's committed updates (UpdateListRequest, UpdateRequest; protocol/README.md,
// "Flows"), by two kinds of reader:
//   the round's voters, on the round endpoint in VOTING: each judges every committed update on
//     its own held-out rows and objects to the harmful ones in its AllianceTaskV2 vote (the table,
//     stage_table.cpp, already refused a non-participant, another task or round, and any stage
//     but VOTING; here the role);
//   anyone, on the registration endpoint (ModelRequest too): a round whose uploads are closed
//     (the current one from VOTING on, every earlier one), so that `murmur verify --from`
//     recomputes it without a stake (issue 16: "anyone can recompute a round"). No key is bound
//     and nothing is written; the endpoint's own limits apply (64 KiB messages, 4 queued
//     replies per connection, the connection caps, the token bucket per IP address before
//     parsing), and the bytes of public replies not yet sent are capped (`public_budget`). A
//     round still taking updates is refused, so a proposer cannot copy another's update.
// Read-only either way: the list comes from the state store, the bytes from the spool file of
// the committed upload (or the model file), a range of at most chunk_bytes a reply, read by the
// UpdateReader's threads, never on the loop (update_reader.hpp).
// In a shard set (docs/sharding.md, "Update reads by part") the same readers, the same rules:
// the coordinator serves the list (the common updates it recorded from the shards' results:
// address, whole-update hash, samples, signature) and no bytes; shard k serves no list and the
// bytes of its part only, offsets in the whole update, with the split commitment the proposer
// uploaded the part with in the reply to the part's first range (split_commitment_file).
#include <algorithm>
#include <cstring>

#include "murmur/protocol/tensor.hpp"
#include "refuse.hpp"
#include "server_impl.hpp"
#include "shard_round.hpp"

namespace murmur::server {

namespace {

constexpr std::uint32_t kUpdateListPage = 256;  ///< entries a reply: ~200 bytes each

chain::Address address_field(const std::string& bytes, const char* what) {
  if (bytes.size() != 20) refuse(wire::ERR_MALFORMED, std::string(what) + " must be 20 bytes");
  chain::Address a;
  std::memcpy(a.bytes.data(), bytes.data(), a.bytes.size());
  return a;
}

/// Which half of a shard set's reads this member serves: the list at the coordinator, a part's
/// bytes at a shard. Refuses the other with where to ask instead.
void refuse_shard_set_read(const Config& cfg, bool list) {
  if (!cfg.shard) return;
  if (cfg.shard->coordinator && !list)
    refuse(wire::ERR_NOT_FOUND,
           "this murmurd is a shard set's coordinator: it holds no update bytes; read part k of "
           "an update from shard k (client::fetch_split_update)");
  if (!cfg.shard->coordinator && list)
    refuse(wire::ERR_NOT_FOUND, "this murmurd is shard " + std::to_string(cfg.shard->index) +
                                    " of " + std::to_string(cfg.shard->count) +
                                    ": the list of a round's updates is the coordinator's");
}

/// A range's zero-copy frame returns its public budget bytes once ZeroMQ has sent it.
struct SentRange {
  std::shared_ptr<const std::vector<std::uint8_t>> bytes;
  PublicBudget* budget = nullptr;
  std::uint64_t reserved = 0;
};

}  // namespace

void Server::Impl::refuse_non_voter(const Request& r) const {
  if (role_of(r.peer) != wire::ROLE_VOTER)
    refuse(wire::ERR_NOT_VOTER, r.peer.to_checksum() + " is a proposer in round " +
                                    std::to_string(state.round) +
                                    ": only the round's voters read its updates");
}

wire::Envelope Server::Impl::update_list(std::uint64_t round, std::uint32_t first) const {
  const std::vector<Upload> uploads = store.committed(round);  // sorted by address
  if (first > uploads.size())
    refuse(wire::ERR_OUT_OF_RANGE, "entry " + std::to_string(first) + " asked, round " +
                                       std::to_string(round) + " has " +
                                       std::to_string(uploads.size()) + " committed updates");
  const std::vector<chain::Address> included = included_updates(store, round);
  const auto record = store.round_record(round);
  wire::Envelope out;
  auto* list = out.mutable_update_list();
  list->set_task_id(cfg.task_id);
  list->set_round(round);
  const chain::Hash32 candidate = round == state.round ? state.candidate_model
                                  : record             ? record->candidate_model
                                                       : chain::Hash32{};
  list->set_candidate_model_hash(candidate.data(), candidate.size());
  if (record) {
    list->set_base_model_hash(record->base_model.data(), record->base_model.size());
    list->set_rule(record->rule);
  }
  list->set_chunk_bytes(static_cast<std::uint32_t>(cfg.chunk_bytes));
  list->set_total(static_cast<std::uint32_t>(uploads.size()));
  list->set_first(first);
  const std::size_t end = std::min<std::size_t>(uploads.size(), first + kUpdateListPage);
  for (std::size_t i = first; i < end; ++i) {
    const Upload& u = uploads[i];
    auto* e = list->add_updates();
    e->set_proposer(u.address.bytes.data(), u.address.bytes.size());
    e->set_update_hash(u.update_hash.data(), u.update_hash.size());
    e->set_num_samples(u.num_samples);
    e->set_signature(u.signature.data(), u.signature.size());
    e->set_dtype(u.dtype);
    e->set_total_bytes(u.total_bytes());
    e->set_included(std::binary_search(included.begin(), included.end(), u.address));
  }
  return out;
}

ReadJob Server::Impl::update_range(std::uint64_t round, const wire::UpdateRequest& q) const {
  const chain::Address proposer = address_field(q.proposer(), "proposer");
  const auto u = store.upload(round, proposer);
  if (!u || u->state != UploadState::kCommitted)
    refuse(wire::ERR_NOT_FOUND, "no committed update of " + proposer.to_checksum() + " in round " +
                                    std::to_string(round));
  // [begin, end) of the whole update's `total` bytes is on disk here: all of it, or a shard's part.
  std::uint64_t begin = 0, end = u->total_bytes(), total = u->total_bytes();
  if (cfg.shard) {
    const std::uint64_t element = protocol::element_bytes(u->dtype);
    begin = cfg.shard->range_begin * element;
    end = cfg.shard->range_end * element;
    total = cfg.shard->total_parameters * element;
  }
  if (q.length() > cfg.chunk_bytes)
    refuse(wire::ERR_TOO_LARGE, "ranges are at most " + std::to_string(cfg.chunk_bytes) + " bytes");
  if (cfg.shard && (q.offset() < begin || q.offset() >= end))
    refuse(wire::ERR_OUT_OF_RANGE,
           "offset " + std::to_string(q.offset()) + ": this murmurd is shard " +
               std::to_string(cfg.shard->index) + " of " + std::to_string(cfg.shard->count) +
               " and holds bytes [" + std::to_string(begin) + ", " + std::to_string(end) +
               ") of the update's " + std::to_string(total) + "; ask their shard for the others");
  if (q.offset() > end)
    refuse(wire::ERR_OUT_OF_RANGE, "offset " + std::to_string(q.offset()) + " past the update's " +
                                       std::to_string(total) + " bytes");
  ReadJob job;
  job.file = spool.file(*u);
  job.offset = q.offset() - begin;
  job.length = std::min<std::uint64_t>(q.length(), end - q.offset());
  job.what = "the update of " + proposer.to_checksum() + " in round " + std::to_string(round);
  if (cfg.shard && q.offset() == begin) job.split_file = split_commitment_file(spool, *u);
  auto* c = job.reply.mutable_update_chunk();
  c->set_proposer(q.proposer());
  c->set_update_hash(u->update_hash.data(), u->update_hash.size());
  c->set_offset(q.offset());
  c->set_total(total);
  return job;
}

void Server::Impl::submit_read(ReadJob job) {
  const std::uint64_t reserved = job.reserved;
  if (!reader.submit(std::move(job))) {
    if (reserved > 0) public_budget.release(reserved);
    refuse(wire::ERR_BUSY, "murmurd's disk reads are all taken; ask again shortly");
  }
}

wire::Envelope Server::Impl::on_update_list_request(Request& r) {
  refuse_non_voter(r);
  refuse_shard_set_read(cfg, true);
  return update_list(state.round, r.message.envelope.update_list_request().first());
}

wire::Envelope Server::Impl::on_update_request(Request& r) {
  refuse_non_voter(r);
  refuse_shard_set_read(cfg, false);
  ReadJob job = update_range(state.round, r.message.envelope.update_request());
  job.socket = ReplySocket::kRound;
  job.identity = r.identity;
  job.reply.set_request_id(r.request_id);
  submit_read(std::move(job));
  return {};  // answered once read (send_reads)
}

bool Server::Impl::is_public_read(const wire::Envelope& e) {
  return e.has_update_list_request() || e.has_update_request() || e.has_model_request();
}

wire::Envelope Server::Impl::public_read(const wire::Envelope& e, const std::string& identity) {
  std::uint64_t reserve = 0;
  ReadJob job;
  if (e.has_model_request()) {
    const wire::ModelRequest& q = e.model_request();
    const chain::Hash32 hash = hash_field(q.model_hash(), "model_hash");
    if (!spool.has_model(hash)) refuse(wire::ERR_NOT_FOUND, "no model " + chain::to_hex(hash));
    const std::uint64_t total = spool.model_bytes(hash);
    if (q.length() > cfg.chunk_bytes)
      refuse(wire::ERR_TOO_LARGE,
             "ranges are at most " + std::to_string(cfg.chunk_bytes) + " bytes");
    if (q.offset() > total)
      refuse(wire::ERR_OUT_OF_RANGE, "offset past the model's " + std::to_string(total) + " bytes");
    job.file = spool.model_file(hash);
    job.offset = q.offset();
    job.length = std::min<std::uint64_t>(q.length(), total - q.offset());
    job.what = "model " + chain::to_hex(hash);
    auto* c = job.reply.mutable_model_chunk();
    c->set_model_hash(q.model_hash());
    c->set_offset(q.offset());
    c->set_total(total);
  } else {
    const bool list = e.has_update_list_request();
    const std::uint64_t task =
        list ? e.update_list_request().task_id() : e.update_request().task_id();
    const std::uint64_t round = list ? e.update_list_request().round() : e.update_request().round();
    if (task != cfg.task_id)
      refuse(wire::ERR_WRONG_TASK, "task " + std::to_string(task) + ", this server runs task " +
                                       std::to_string(cfg.task_id));
    refuse_shard_set_read(cfg, list);
    if (cfg.secagg.enabled)
      refuse(wire::ERR_NOT_FOUND,
             "task " + std::to_string(cfg.task_id) +
                 " aggregates with SecAgg+: murmurd only ever learns group sums, never a "
                 "proposer's update (cli/README.md, \"murmur verify\", says what can be checked)");
    if (round == 0 || round > state.round)
      refuse(wire::ERR_WRONG_ROUND, "round " + std::to_string(round) + ", the current round is " +
                                        std::to_string(state.round));
    const bool closed = state.stage == wire::STAGE_VOTING ||
                        state.stage == wire::STAGE_FINALIZING || state.stage == wire::STAGE_CLOSED;
    if (round == state.round && !closed)
      refuse(wire::ERR_WRONG_STAGE, "round " + std::to_string(round) + " is " +
                                        wire::Stage_Name(state.stage) +
                                        ": its updates are public once its candidate is (VOTING)");
    if (list) return update_list(round, e.update_list_request().first());
    job = update_range(round, e.update_request());
  }
  reserve = job.length;
  if (!public_budget.reserve(reserve))
    refuse(wire::ERR_BUSY, "public reads hold " + std::to_string(public_budget.used()) + " of " +
                               std::to_string(public_budget.limit()) +
                               " bytes not yet sent; ask again shortly");
  job.socket = ReplySocket::kRegister;
  job.identity = identity;
  job.reply.set_request_id(e.request_id());
  job.reserved = reserve;
  submit_read(std::move(job));
  return {};
}

void Server::Impl::send_reads() {
  for (ReadDone& d : reader.take()) {
    zmq::socket_t& socket = d.socket == ReplySocket::kRegister ? *register_socket : *round_socket;
    const zmq::message_t identity(d.identity.data(), d.identity.size());
    if (!d.bytes) {  // a typed refusal: nothing to hold
      if (d.reserved > 0) public_budget.release(d.reserved);
      reply(socket, identity, d.envelope);
      continue;
    }
    auto frames = protocol::encode(d.envelope, {});
    // The frame points into the read's buffer; ZeroMQ drops it (and returns the public budget)
    // once it is sent or the peer is gone.
    auto* owner = new SentRange{d.bytes, d.reserved > 0 ? &public_budget : nullptr, d.reserved};
    frames.back() = zmq::message_t(
        const_cast<std::uint8_t*>(d.bytes->data()), d.bytes->size(),
        [](void*, void* hint) {
          auto* o = static_cast<SentRange*>(hint);
          if (o->budget) o->budget->release(o->reserved);
          delete o;
        },
        owner);
    try {
      send_routed(socket, identity, frames);
    } catch (const zmq::error_t&) {  // the peer's queue is full or it is gone: it asks again
    }
  }
}

}  // namespace murmur::server
