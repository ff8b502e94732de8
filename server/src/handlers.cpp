// One request from one peer: admission (attribution, rate, request order), then the message's
// own checks. Every refusal is a typed wire error; nothing a refused request carried is kept,
// and nothing already accepted is touched.
#include <spdlog/spdlog.h>

#include "murmur/chain/eip712.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"
#include "refuse.hpp"
#include "server_impl.hpp"

namespace murmur::server {
using protocol::ProtocolError;

void Server::Impl::reply(zmq::socket_t& socket, const zmq::message_t& identity,
                         const wire::Envelope& e, std::span<const std::uint8_t> payload) {
  auto frames = protocol::encode(e, payload);
  socket.send(zmq::buffer(identity.data(), identity.size()),
              zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  for (std::size_t i = 0; i < frames.size(); ++i)
    socket.send(frames[i], i + 1 < frames.size()
                               ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                               : zmq::send_flags::dontwait);
  if (e.has_error()) metrics.refused(protocol::code_name(e.error().code()));
}

Admission Server::Impl::admit(const chain::Address& peer) {
  const double rate = cfg.peer_messages_per_second, burst = rate;  // one second's worth
  auto [it, fresh] = peers.try_emplace(peer);
  Peer& p = it->second;
  const auto now = Clock::now();
  if (fresh) p.tokens = burst;
  p.tokens =
      std::min(burst, p.tokens + rate * std::chrono::duration<double>(now - p.refilled).count());
  p.refilled = now;
  p.tokens -= 1;
  if (p.tokens >= 0) return Admission::kServe;
  // Down to one burst of debt, refuse with ERR_RATE_LIMITED; beyond it drop silently, so a
  // flood costs the server no replies either.
  if (p.tokens >= -burst) return Admission::kRefuse;
  p.tokens = -burst;
  metrics.refused("DROPPED_FLOOD");
  return Admission::kDrop;
}

void Server::Impl::on_register_message(std::vector<zmq::message_t>& frames) {
  if (frames.size() < 2) return;  // no identity: not from a ROUTER peer
  const zmq::message_t identity = std::move(frames.front());
  frames.erase(frames.begin());
  std::uint64_t request_id = 0;
  try {
    const char* user = cfg.curve ? frames[0].gets("User-Id") : nullptr;
    const protocol::Message m = protocol::decode(frames, {64 * 1024, 0});
    request_id = m.envelope.request_id();
    if (!m.envelope.has_register_())
      refuse(wire::ERR_WRONG_STAGE, "the registration endpoint only serves Register");
    const auto& r = m.envelope.register_();
    if (r.address().size() != 20) refuse(wire::ERR_MALFORMED, "address must be 20 bytes");
    if (r.curve_public_key().size() != 32)
      refuse(wire::ERR_MALFORMED, "curve_public_key must be 32 bytes");
    if (r.chain_id() != cfg.chain_id)
      refuse(wire::ERR_WRONG_TASK, "chain id " + std::to_string(r.chain_id()) +
                                       ", this task runs on " + std::to_string(cfg.chain_id));
    std::array<char, 41> z85{};
    zmq_z85_encode(z85.data(), reinterpret_cast<const std::uint8_t*>(r.curve_public_key().data()),
                   32);
    const std::string key(z85.data(), 40);
    if (user != nullptr && std::string(user) != "key:" + key)
      refuse(wire::ERR_BAD_SIGNATURE,
             "the curve key to register must be the one this connection uses");
    chain::Address address;
    std::memcpy(address.bytes.data(), r.address().data(), 20);
    if (!stakes.contains(address))
      refuse(wire::ERR_NOT_REGISTERED, address.to_checksum() + " is not a participant of task " +
                                           std::to_string(cfg.task_id));
    const auto who =
        protocol::signer(protocol::register_digest(r.chain_id(), as_bytes(r.curve_public_key())),
                         as_bytes(r.signature()));
    if (!who || *who != address)
      refuse(wire::ERR_BAD_SIGNATURE, "registration is not signed by " + address.to_checksum());
    store.bind(key, address);
    if (!cfg.curve)
      sessions[std::string(static_cast<const char*>(identity.data()), identity.size())] = address;
    wire::Envelope ok;
    ok.set_request_id(request_id);
    ok.mutable_registered()->set_address(r.address());
    reply(*register_socket, identity, ok);
    spdlog::info("registered {} curve_key={}", address.to_checksum(), key);
  } catch (const ProtocolError& e) {
    reply(*register_socket, identity, protocol::error_envelope(request_id, e.code(), e.what()));
  }
}

void Server::Impl::on_round_message(std::vector<zmq::message_t>& frames) {
  if (frames.size() < 2) return;
  const zmq::message_t identity = std::move(frames.front());
  frames.erase(frames.begin());
  std::uint64_t request_id = 0;
  try {
    // Attribution: the ZAP handler tagged the connection with its participant's address; with
    // CurveZMQ off, a Register on this socket binds the routing id for the session.
    std::optional<chain::Address> peer;
    if (const char* user = cfg.curve ? frames[0].gets("User-Id") : nullptr;
        user && *user && std::strncmp(user, "key:", 4) != 0) {
      peer = chain::Address::from_hex(user);
    } else if (auto it = sessions.find(
                   std::string(static_cast<const char*>(identity.data()), identity.size()));
               it != sessions.end()) {
      peer = it->second;
    }
    if (!peer) {
      if (!cfg.curve) {  // plain mode: registration happens on this socket
        std::vector<zmq::message_t> copy;
        copy.emplace_back(identity.data(), identity.size());
        for (auto& f : frames) copy.push_back(std::move(f));
        register_socket.swap(round_socket);  // reply through the socket it came on
        on_register_message(copy);
        register_socket.swap(round_socket);
        return;
      }
      refuse(wire::ERR_NOT_REGISTERED, "connection is not bound to a participant");
    }
    switch (admit(*peer)) {
      case Admission::kDrop:
        return;
      case Admission::kRefuse:
        refuse(wire::ERR_RATE_LIMITED, "more than " + std::to_string(cfg.peer_messages_per_second) +
                                           " messages per second; slow down");
      case Admission::kServe:
        break;
    }
    protocol::Message m = protocol::decode(frames, {64 * 1024, cfg.chunk_bytes});
    request_id = m.envelope.request_id();
    // Request ids increase per connection; a connection that reuses one is replaying.
    if (last_request.size() > 100000) last_request.clear();  // bound the table; ids restart
    std::uint64_t& last =
        last_request[std::string(static_cast<const char*>(identity.data()), identity.size())];
    if (request_id <= last)
      refuse(wire::ERR_REPLAY,
             "request id " + std::to_string(request_id) + " is not above " + std::to_string(last));
    last = request_id;
    std::vector<std::uint8_t> payload;
    current_identity.assign(static_cast<const char*>(identity.data()), identity.size());
    current_request = request_id;
    wire::Envelope out = handle(*peer, m, payload);
    if (out.body_case() == wire::Envelope::BODY_NOT_SET) return;  // answered once synced
    out.set_request_id(request_id);
    reply(*round_socket, identity, out, payload);
  } catch (const ProtocolError& e) {
    reply(*round_socket, identity, protocol::error_envelope(request_id, e.code(), e.what()));
  } catch (const std::exception& e) {
    spdlog::error("request {} failed: {}", request_id, e.what());
    reply(*round_socket, identity,
          protocol::error_envelope(request_id, wire::ERR_INTERNAL, e.what()));
  }
}

wire::Envelope Server::Impl::on_round_info(Request& r) {
  return round_info(r.peer);
}

wire::Envelope Server::Impl::on_status(Request&) {
  wire::Envelope out;
  auto* s = out.mutable_status();
  s->set_round(state.round);
  s->set_stage(state.stage);
  s->set_committed_updates(static_cast<std::uint32_t>(store.committed(state.round).size()));
  s->set_votes(static_cast<std::uint32_t>(store.votes(state.round).size()));
  s->set_backend(backend->describe());
  return out;
}

wire::Envelope Server::Impl::on_misplaced_register(Request&) {
  refuse(wire::ERR_WRONG_STAGE, "register through the registration endpoint");
}

wire::Envelope Server::Impl::round_info(const chain::Address& peer) const {
  wire::Envelope out;
  auto* r = out.mutable_round_info();
  r->set_task_id(cfg.task_id);
  r->set_round(state.round);
  r->set_stage(state.stage);
  r->set_role(role_of(peer));
  r->set_stage_deadline_unix_ms(state.deadline_unix_ms);
  r->set_global_model_hash(state.global_model.data(), 32);
  r->set_parameters(cfg.parameters);
  r->set_chunk_bytes(static_cast<std::uint32_t>(cfg.chunk_bytes));
  if (state.stage == wire::STAGE_VOTING)
    r->set_candidate_model_hash(state.candidate_model.data(), 32);
  r->set_rule(kernels::describe(cfg.aggregation));
  if (auto p = placement(peer)) *r->mutable_secagg() = *p;
  return out;
}

wire::Envelope Server::Impl::on_model_request(Request& request) {
  const wire::ModelRequest& r = request.message.envelope.model_request();
  std::vector<std::uint8_t>& payload = request.payload;
  const chain::Hash32 hash = hash_field(r.model_hash(), "model_hash");
  if (!spool.has_model(hash)) refuse(wire::ERR_NOT_FOUND, "no model " + chain::to_hex(hash));
  const std::uint64_t total = spool.model_bytes(hash);
  if (r.length() > cfg.chunk_bytes)
    refuse(wire::ERR_TOO_LARGE, "ranges are at most " + std::to_string(cfg.chunk_bytes) + " bytes");
  if (r.offset() > total)
    refuse(wire::ERR_OUT_OF_RANGE, "offset past the model's " + std::to_string(total) + " bytes");
  payload =
      spool.read_model(hash, r.offset(), std::min<std::uint64_t>(r.length(), total - r.offset()));
  wire::Envelope out;
  auto* c = out.mutable_model_chunk();
  c->set_model_hash(r.model_hash());
  c->set_offset(r.offset());
  c->set_total(total);
  return out;
}

void Server::Impl::refuse_in_secagg_mode(Request&) {
  if (cfg.secagg.enabled)
    refuse(wire::ERR_WRONG_STAGE,
           "task " + std::to_string(cfg.task_id) +
               " aggregates securely: updates go through the SecAgg+ stages, not uploads");
}

wire::Envelope Server::Impl::on_upload_begin(Request& r) {
  const chain::Address& peer = r.peer;
  const wire::UploadBegin& b = r.message.envelope.upload_begin();
  if (role_of(peer) != wire::ROLE_PROPOSER)
    refuse(wire::ERR_NOT_PROPOSER,
           peer.to_checksum() + " is a voter in round " + std::to_string(state.round));
  if (b.parameters() != cfg.parameters)
    refuse(wire::ERR_MALFORMED, "update of " + std::to_string(b.parameters()) +
                                    " parameters, the task's model has " +
                                    std::to_string(cfg.parameters));
  if (!wire::DType_IsValid(b.dtype())) refuse(wire::ERR_MALFORMED, "unknown dtype");
  if (auto existing = store.upload(state.round, peer)) {
    if (existing->state == UploadState::kCommitted)
      refuse(wire::ERR_DUPLICATE,
             "an update of " + peer.to_checksum() + " is already committed for this round");
    // Beginning again continues from the durable offset: first let the chunks being synced
    // land.
    drain_syncs(existing->id);
  }
  Upload u = store.begin_upload(state.round, peer, b.dtype(), b.parameters());
  release_credits(u.id);  // a second begin replaces the first grant, and the first waiting one
  std::erase_if(waiting_begins, [&](const WaitingBegin& w) { return w.upload_id == u.id; });
  if (auto h = hashes.find(u.id); h != hashes.end() && h->second.at != u.durable) hashes.erase(h);
  // Nobody overtakes a waiting begin: credits go to the oldest first.
  if (const std::uint32_t grant = waiting_begins.empty() ? grant_credits(u.id) : 0; grant > 0)
    return upload_accepted(u, grant);
  if (cfg.busy_wait.count() == 0)
    refuse(wire::ERR_BUSY, "in-flight byte budget exhausted; begin again shortly");
  waiting_begins.push_back(
      {u.id, peer, state.round, current_identity, current_request, Clock::now()});
  return {};  // answered by answer_waiting_begins
}

std::uint32_t Server::Impl::grant_credits(std::uint64_t upload_id) {
  const std::size_t available = (cfg.inflight_budget_bytes - inflight_bytes) / cfg.chunk_bytes;
  const auto grant = static_cast<std::uint32_t>(std::min<std::size_t>(cfg.peer_credits, available));
  if (grant == 0) return 0;
  credits[upload_id] = {grant, Clock::now()};
  inflight_bytes += grant * cfg.chunk_bytes;
  metrics.set_inflight(inflight_bytes);
  return grant;
}

wire::Envelope Server::Impl::upload_accepted(const Upload& u, std::uint32_t grant) const {
  wire::Envelope out;
  auto* a = out.mutable_upload_accepted();
  a->set_upload_id(u.id);
  a->set_resume_offset(u.durable);
  a->set_total_bytes(u.total_bytes());
  a->set_chunk_bytes(static_cast<std::uint32_t>(cfg.chunk_bytes));
  a->set_credits(grant);
  return out;
}

void Server::Impl::answer_waiting_begins() {
  const auto now = Clock::now();
  while (!waiting_begins.empty()) {
    const WaitingBegin& w = waiting_begins.front();
    const bool open = state.stage == wire::STAGE_UPLOADING && state.round == w.round;
    const bool budget = cfg.inflight_budget_bytes - inflight_bytes >= cfg.chunk_bytes;
    // Every turn of the loop comes here: while the oldest simply waits, nothing is looked up.
    if (open && !budget && now - w.since < cfg.busy_wait) return;
    wire::Envelope out;
    if (!open) {
      out = protocol::error_envelope(
          w.request_id, wire::ERR_WRONG_STAGE,
          "round " + std::to_string(w.round) +
              " stopped taking uploads while this begin waited for budget");
    } else if (!budget) {
      out = protocol::error_envelope(w.request_id, wire::ERR_BUSY,
                                     "in-flight byte budget exhausted for " +
                                         std::to_string(cfg.busy_wait.count()) +
                                         " ms; begin again shortly");
    } else if (const auto u = store.upload(w.round, w.peer);
               !u || u->id != w.upload_id || u->state != UploadState::kOpen) {
      out = protocol::error_envelope(
          w.request_id, wire::ERR_UNKNOWN_UPLOAD,
          "upload " + std::to_string(w.upload_id) + " ended while it waited for budget");
    } else {
      out = upload_accepted(*u, grant_credits(u->id));
      out.set_request_id(w.request_id);
    }
    reply(*round_socket, zmq::message_t(w.identity.data(), w.identity.size()), out);
    waiting_begins.pop_front();
  }
}

void Server::Impl::find_open_upload(Request& r) {
  const auto& c = r.message.envelope.upload_chunk();
  r.upload = store.upload(state.round, r.peer);
  if (!r.upload || r.upload->id != c.upload_id() || r.upload->state != UploadState::kOpen)
    refuse(wire::ERR_UNKNOWN_UPLOAD, "no open upload " + std::to_string(c.upload_id()) + " of " +
                                         r.peer.to_checksum() + " in round " +
                                         std::to_string(state.round));
}

wire::Envelope Server::Impl::on_upload_chunk(Request& r) {
  protocol::Message& m = r.message;
  const auto& c = m.envelope.upload_chunk();
  std::optional<Upload>& u = r.upload;
  auto cr = credits.find(u->id);
  if (cr == credits.end() || cr->second.held == 0)
    refuse(wire::ERR_RATE_LIMITED,
           "no chunk credit left: wait for an acknowledgement (or begin the upload again)");
  const auto bytes = m.bytes();
  const std::size_t elem = protocol::element_bytes(u->dtype);
  if (bytes.size() != c.length())
    refuse(wire::ERR_MALFORMED, "chunk declares " + std::to_string(c.length()) +
                                    " bytes, carries " + std::to_string(bytes.size()));
  if (bytes.empty() || bytes.size() % elem != 0 || c.offset() % elem != 0)
    refuse(wire::ERR_MALFORMED, "chunks hold whole elements of " + std::to_string(elem) + " bytes");
  // Chunks follow one another: the next one starts where the last one written ended (it may
  // still be syncing), or at the durable offset when nothing is in flight.
  const auto l = landing.find(u->id);
  const std::uint64_t expected =
      l != landing.end() && l->second.queued_end ? *l->second.queued_end : u->durable;
  if (c.offset() < expected)
    refuse(wire::ERR_REPLAY, "bytes below " + std::to_string(expected) + " are already received");
  if (c.offset() > expected)
    refuse(wire::ERR_OUT_OF_RANGE, "expected the chunk at offset " + std::to_string(expected) +
                                       ", got " + std::to_string(c.offset()));
  if (c.offset() + bytes.size() > u->total_bytes())
    refuse(wire::ERR_OUT_OF_RANGE, "chunk ends at " + std::to_string(c.offset() + bytes.size()) +
                                       ", past the update's " + std::to_string(u->total_bytes()) +
                                       " bytes");
  // One walk over the chunk in cache-sized pieces: checksum, NaN/Inf scan, and the running
  // update hash on a copy that is kept only if the chunk is accepted.
  auto h = hashes.find(u->id);
  if (h == hashes.end() && c.offset() == 0) h = hashes.try_emplace(u->id).first;
  std::optional<protocol::UpdateHasher> hashed;
  if (h != hashes.end() && h->second.at == c.offset() && !h->second.final)
    hashed = h->second.hasher;
  std::uint32_t crc = 0;
  bool finite = true;
  for (std::size_t at = 0; at < bytes.size(); at += protocol::kChunkPiece) {
    const auto piece = bytes.subspan(at, std::min(protocol::kChunkPiece, bytes.size() - at));
    crc = protocol::crc32c(piece, crc);
    finite = finite && protocol::all_finite(u->dtype, piece);
    if (hashed) hashed->update(piece);
  }
  const protocol::Checksum sum = protocol::checksum_of(crc);
  if (c.checksum().size() != sum.size() ||
      std::memcmp(c.checksum().data(), sum.data(), sum.size()) != 0)
    refuse(wire::ERR_BAD_CHECKSUM,
           "chunk at offset " + std::to_string(c.offset()) + " does not match its checksum");
  if (!finite) {
    drain_syncs(u->id);  // its file is about to go
    spool.discard(*u);
    store.fail(*u);
    release_credits(u->id);
    hashes.erase(u->id);
    refuse(wire::ERR_NON_FINITE, "update contains NaN or Inf near offset " +
                                     std::to_string(c.offset()) +
                                     "; the upload is dropped, begin again with finite values");
  }
  // Written and synced by a sync thread: the loop goes on with other chunks meanwhile, and the
  // ChunkAck leaves once the bytes are durable (on_synced).
  const Spool::Descriptors fds = spool.open_upload(*u);
  const std::uint64_t end = c.offset() + bytes.size();
  if (hashed) {
    h->second.hasher = std::move(*hashed);
    h->second.at = end;
  } else if (h != hashes.end()) {
    hashes.erase(h);  // out of step: the commit reads the spool file instead
  }
  cr->second.last_used = Clock::now();
  Landing& queued =
      landing.try_emplace(u->id, Landing{*u, u->durable, std::nullopt, 0, {}}).first->second;
  queued.queued_end = end;
  ++queued.in_flight;
  {
    std::lock_guard lock(sync_mutex);
    sync_jobs.push_back(
        {*u, fds, c.offset(), std::move(m.payload), current_identity, current_request});
  }
  sync_cv.notify_one();
  return {};  // no reply yet
}

void Server::Impl::run_sync_thread() {
  zmq::socket_t done(ctx, zmq::socket_type::push);
  done.set(zmq::sockopt::linger, 0);
  done.connect(kSyncedEndpoint);
  for (;;) {
    SyncJob job;
    {
      std::unique_lock lock(sync_mutex);
      sync_cv.wait(lock, [&] { return sync_stopping || !sync_jobs.empty(); });
      if (sync_jobs.empty()) return;  // stopping, and nothing left to sync
      job = std::move(sync_jobs.front());
      sync_jobs.pop_front();
    }
    const std::span<const std::uint8_t> bytes(static_cast<const std::uint8_t*>(job.payload.data()),
                                              job.payload.size());
    std::string error;
    try {
      spool.write_synced(job.upload, job.fds, job.offset, bytes);
    } catch (const std::exception& e) {
      error = e.what();
    }
    // Completion: upload id, end, request id, chunk size; the routing id; the error text.
    const std::uint64_t end = job.offset + bytes.size();
    std::array<std::uint64_t, 4> head{job.upload.id, end, job.request_id, bytes.size()};
    done.send(zmq::buffer(head.data(), sizeof head), zmq::send_flags::sndmore);
    done.send(zmq::buffer(job.identity), zmq::send_flags::sndmore);
    done.send(zmq::buffer(error), zmq::send_flags::none);
  }
}

void Server::Impl::on_synced(std::vector<zmq::message_t>& frames) {
  std::array<std::uint64_t, 4> head{};
  if (frames.size() != 3 || frames[0].size() != sizeof head) return;
  std::memcpy(head.data(), frames[0].data(), sizeof head);
  const auto [upload_id, end, request_id, chunk] = head;
  std::string error = frames[2].to_string();
  std::uint64_t durable = 0;
  if (auto l = landing.find(upload_id); l != landing.end()) {
    if (!error.empty()) {
      l->second.queued_end.reset();  // the node begins again from the durable offset
    } else {
      // The durable offset moves over the contiguous run of synced chunks, however they landed.
      l->second.synced[end - chunk] = end;
      const std::uint64_t before = l->second.durable;
      for (auto it = l->second.synced.find(l->second.durable); it != l->second.synced.end();
           it = l->second.synced.find(l->second.durable)) {
        l->second.durable = it->second;
        l->second.synced.erase(it);
      }
      try {
        if (l->second.durable > before) store.mark_durable(l->second.upload, l->second.durable);
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    durable = l->second.durable;
    if (--l->second.in_flight == 0) landing.erase(l);
  }
  wire::Envelope out;
  if (!error.empty()) {
    spdlog::error("upload {}: {}", upload_id, error);
    out = protocol::error_envelope(request_id, wire::ERR_INTERNAL, error);
  } else {
    metrics.bytes_in(chunk);
    auto* ack = out.mutable_chunk_ack();
    ack->set_upload_id(upload_id);
    ack->set_durable_offset(durable);
    ack->set_credits(1);  // the spent credit is granted again: the budget is unchanged
    out.set_request_id(request_id);
  }
  reply(*round_socket, zmq::message_t(frames[1].data(), frames[1].size()), out);
}

void Server::Impl::drain_syncs(std::uint64_t upload_id) {
  while (landing.contains(upload_id)) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(*synced_socket, std::back_inserter(frames))) break;
    on_synced(frames);
  }
}

chain::Hash32 Server::Impl::update_hash_of(const Upload& u) {
  auto h = hashes.find(u.id);
  if (h == hashes.end() || h->second.at != u.total_bytes()) return spool.hash_of(u);
  if (!h->second.final) h->second.final = h->second.hasher.finish();
  return *h->second.final;
}

void Server::Impl::find_upload_to_commit(Request& r) {
  const auto& c = r.message.envelope.upload_commit();
  r.upload = store.upload(state.round, r.peer);
  if (r.upload && r.upload->state == UploadState::kCommitted)
    refuse(wire::ERR_DUPLICATE,
           "update already committed for round " + std::to_string(state.round));
  if (!r.upload || r.upload->id != c.upload_id() || r.upload->state != UploadState::kOpen)
    refuse(wire::ERR_UNKNOWN_UPLOAD, "no open upload " + std::to_string(c.upload_id()));
}

wire::Envelope Server::Impl::on_upload_commit(Request& r) {
  const chain::Address& peer = r.peer;
  const wire::UploadCommit& c = r.message.envelope.upload_commit();
  std::optional<Upload>& u = r.upload;
  if (u->durable != u->total_bytes())
    refuse(wire::ERR_OUT_OF_RANGE, "upload incomplete: " + std::to_string(u->durable) + " of " +
                                       std::to_string(u->total_bytes()) + " bytes");
  if (c.num_samples() == 0) refuse(wire::ERR_MALFORMED, "num_samples must be positive");
  const chain::Hash32 claimed = hash_field(c.update_hash(), "update_hash");
  const chain::Hash32 actual = update_hash_of(*u);
  if (claimed != actual)
    refuse(wire::ERR_HASH_MISMATCH, "update hash " + chain::to_hex(claimed) +
                                        " differs from the bytes received (" +
                                        chain::to_hex(actual) + ")");
  chain::UpdateMessage msg{chain::U256(cfg.task_id), chain::U256(state.round), actual,
                           chain::U256(c.num_samples())};
  const auto who = protocol::signer(chain::update_digest(domain, msg), as_bytes(c.signature()));
  if (!who || *who != peer)
    refuse(wire::ERR_BAD_SIGNATURE, "Update is not signed by " + peer.to_checksum());
  store.commit(*u, actual, c.num_samples(),
               chain::Bytes(c.signature().begin(), c.signature().end()));
  release_credits(u->id);
  hashes.erase(u->id);
  metrics.upload_accepted();
  publish_snapshot();
  spdlog::info("round={} committed {} samples={}", state.round, peer.to_checksum(),
               c.num_samples());
  wire::Envelope out;
  out.mutable_committed()->set_update_hash(c.update_hash());
  return out;
}

wire::Envelope Server::Impl::on_vote(Request& r) {
  const chain::Address& peer = r.peer;
  const wire::Vote& v = r.message.envelope.vote();
  if (role_of(peer) != wire::ROLE_VOTER)
    refuse(wire::ERR_NOT_VOTER,
           peer.to_checksum() + " is a proposer in round " + std::to_string(state.round));
  const chain::Hash32 model = hash_field(v.model_hash(), "model_hash");
  if (model != state.candidate_model)
    refuse(wire::ERR_MALFORMED, "vote is for " + chain::to_hex(model) + ", the candidate is " +
                                    chain::to_hex(state.candidate_model));
  if (v.score() != 1 && v.score() != -1) refuse(wire::ERR_MALFORMED, "score must be +1 or -1");
  chain::VoteMessage msg{chain::U256(cfg.task_id), chain::U256(state.round), model,
                         static_cast<std::int8_t>(v.score())};
  const auto who = protocol::signer(chain::vote_digest(domain, msg), as_bytes(v.signature()));
  if (!who || *who != peer)
    refuse(wire::ERR_BAD_SIGNATURE, "Vote is not signed by " + peer.to_checksum());
  if (!store.record_vote(state.round, {peer, model, v.score(), v.loss(),
                                       chain::Bytes(v.signature().begin(), v.signature().end())}))
    refuse(wire::ERR_DUPLICATE,
           peer.to_checksum() + " already voted in round " + std::to_string(state.round));
  publish_snapshot();
  wire::Envelope out;
  out.mutable_vote_accepted();
  return out;
}

}  // namespace murmur::server
