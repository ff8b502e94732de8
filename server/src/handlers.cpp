// One request from one peer: admission (attribution, rate, request order), then the message's
// own checks. Every refusal is a typed wire error; nothing a refused request carried is kept,
// and nothing already accepted is touched.
#include <spdlog/spdlog.h>

#include "murmur/chain/eip712.hpp"
#include "murmur/protocol/integrity.hpp"
#include "plain_register.hpp"
#include "refuse.hpp"
#include "server_impl.hpp"

namespace murmur::server {
using protocol::ProtocolError;

void Server::Impl::reply(zmq::socket_t& socket, const zmq::message_t& identity,
                         const wire::Envelope& e, const SharedRange& range) {
  auto frames = protocol::encode(e, {});
  // The frame points into the shared buffer; ZeroMQ drops the reference once it is sent.
  auto* owner = new std::shared_ptr<const std::vector<std::uint8_t>>(range.bytes);
  frames.back() = zmq::message_t(
      const_cast<std::uint8_t*>(range.bytes->data() + range.offset), range.length,
      [](void*, void* hint) {
        delete static_cast<std::shared_ptr<const std::vector<std::uint8_t>>*>(hint);
      },
      owner);
  send_routed(socket, identity, frames);
}

void Server::Impl::reply(zmq::socket_t& socket, const zmq::message_t& identity,
                         const wire::Envelope& e, std::span<const std::uint8_t> payload) {
  auto frames = protocol::encode(e, payload);
  send_routed(socket, identity, frames);
  if (e.has_error()) metrics.refused(protocol::code_name(e.error().code()));
}

void Server::Impl::send(const Reply& r) {
  reply(*round_socket, zmq::message_t(r.identity.data(), r.identity.size()), r.envelope);
}

void Server::Impl::send(const std::vector<Reply>& replies) {
  for (const Reply& r : replies) send(r);
}

namespace {

/// What a signature refusal adds: the domain murmurd checked against. A node signing for
/// another chain id or contract (the commonest cause) sees which one to use; RoundInfo carries
/// it too.
std::string signed_under(const chain::Eip712Domain& d) {
  return " under this task's EIP-712 domain (chain id " + std::to_string(d.chain_id) +
         ", verifyingContract " + d.verifying_contract.to_checksum() +
         "): a signer with another chain id or contract is refused so; RoundInfo carries the "
         "domain (murmur load takes it from there unless given --contract)";
}

/// Takes one token from `p`'s bucket (`rate` a second, one second's worth of burst).
/// Down to one burst of debt the request is refused (ERR_RATE_LIMITED); beyond it dropped
/// silently, so a flood costs the server no replies either.
Admission take_token(Peer& p, bool fresh, double rate) {
  const double burst = std::max(rate, 1.0);
  const auto now = Clock::now();
  if (fresh) p.tokens = burst;
  p.tokens =
      std::min(burst, p.tokens + rate * std::chrono::duration<double>(now - p.refilled).count());
  p.refilled = now;
  p.tokens -= 1;
  if (p.tokens >= 0) return Admission::kServe;
  if (p.tokens >= -burst) return Admission::kRefuse;
  p.tokens = -burst;
  return Admission::kDrop;
}

/// Where a message on a TCP endpoint came from: the peer's IP address (ZeroMQ's
/// "Peer-Address" property), else the connection's routing id.
std::string origin_of(zmq::message_t& frame, const zmq::message_t& identity) {
  try {
    if (const char* address = frame.gets("Peer-Address"); address != nullptr && *address)
      return address;
  } catch (const zmq::error_t&) {  // not a TCP connection: no such property
  }
  return "routing:" + chain::to_hex(std::span<const std::uint8_t>(
                          static_cast<const std::uint8_t*>(identity.data()), identity.size()));
}

}  // namespace

Admission Server::Impl::admit(const chain::Address& peer) {
  auto [it, fresh] = peers.try_emplace(peer);
  const Admission a = take_token(it->second, fresh, cfg.peer_messages_per_second);
  if (a == Admission::kDrop) metrics.refused("DROPPED_FLOOD");
  return a;
}

Admission Server::Impl::admit_register(const std::string& origin) {
  // Bounded: past 65536 origins, those whose bucket is full again (idle for a second) go.
  if (register_peers.size() > 65536)
    std::erase_if(register_peers, [&](const auto& kv) {
      return Clock::now() - kv.second.refilled > std::chrono::seconds(1);
    });
  auto [it, fresh] = register_peers.try_emplace(origin);
  const Admission a = take_token(it->second, fresh, cfg.register_messages_per_second);
  if (a == Admission::kDrop) metrics.refused("DROPPED_REGISTER_FLOOD");
  return a;
}

void Server::Impl::on_register_message(std::vector<zmq::message_t>& frames, zmq::socket_t& socket,
                                       bool plain_session) {
  if (frames.size() < 2) return;  // no identity: not from a ROUTER peer
  const zmq::message_t identity = std::move(frames.front());
  frames.erase(frames.begin());
  std::uint64_t request_id = 0;
  try {
    // The rate per origin comes first: nothing below (parsing, the secp256k1 recovery) runs
    // for a peer over its rate. (The socket already refused frames over 64 KiB.)
    const std::string origin = origin_of(frames[0], identity);
    switch (admit_register(origin)) {
      case Admission::kDrop: return;
      case Admission::kRefuse:
        refuse(wire::ERR_RATE_LIMITED,
               "more than " + std::to_string(cfg.register_messages_per_second) +
                   " registrations per second from " + origin + "; slow down");
      case Admission::kServe: break;
    }
    const char* user = cfg.curve ? frames[0].gets("User-Id") : nullptr;
    // (In plain mode an unregistered connection's first request may be any: it is refused below
    // as not registered, not for its payload frame.)
    const protocol::Message m =
        protocol::decode(frames, {64 * 1024, plain_session ? cfg.chunk_bytes : 0});
    request_id = m.envelope.request_id();
    // Anyone's read of a round whose uploads are closed (update_reads.cpp): no key, no stake.
    if (!plain_session && is_public_read(m.envelope)) {
      wire::Envelope out = public_read(
          m.envelope, std::string(static_cast<const char*>(identity.data()), identity.size()));
      if (out.body_case() == wire::Envelope::BODY_NOT_SET) return;  // answered once read
      out.set_request_id(request_id);
      reply(socket, identity, out);
      return;
    }
    if (!m.envelope.has_register_() && plain_session)
      refuse(wire::ERR_NOT_REGISTERED,
             "this connection is not registered: in plain mode, send a Register (signed over a "
             "fresh nonce) on it first");
    if (!m.envelope.has_register_())
      refuse(wire::ERR_WRONG_STAGE, "the registration endpoint only serves Register");
    if (!cfg.curve && !plain_session)
      refuse(wire::ERR_WRONG_STAGE,
             "plain mode registers on the round endpoint, the connection it attributes");
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
    if (plain_session) {
      // Plain mode: the session is the connection's routing id, which ZeroMQ assigns (a first
      // byte 0, never sent on the wire); and the signed 32 bytes are a one-time nonce.
      const auto* id = static_cast<const std::uint8_t*>(identity.data());
      if (identity.size() != 5 || id[0] != 0)
        refuse(wire::ERR_NOT_REGISTERED,
               "plain mode attributes only connections whose routing id ZeroMQ assigned: do not "
               "set ZMQ_ROUTING_ID");
      if (store.bound(key))
        refuse(wire::ERR_REPLAY,
               "this Register's nonce was used already (a replayed registration): sign a fresh "
               "random 32-byte nonce for each registration");
    }
    const chain::Hash32 digest =
        plain_session
            ? plain_register_digest(r.chain_id(), cfg.task_id, as_bytes(r.curve_public_key()))
            : protocol::register_digest(r.chain_id(), as_bytes(r.curve_public_key()));
    const auto who = protocol::signer(digest, as_bytes(r.signature()));
    if (!who || *who != address)
      refuse(wire::ERR_BAD_SIGNATURE,
             "registration is not signed by " + address.to_checksum() +
                 (plain_session ? " (plain mode signs keccak256(\"murmur.register.plain.v1\" || "
                                  "chain id || task id || nonce))"
                                : ""));
    store.bind(key, address);
    if (plain_session)
      sessions[std::string(static_cast<const char*>(identity.data()), identity.size())] = address;
    wire::Envelope ok;
    ok.set_request_id(request_id);
    ok.mutable_registered()->set_address(r.address());
    reply(socket, identity, ok);
    spdlog::info("registered {} {}={}", address.to_checksum(),
                 plain_session ? "nonce" : "curve_key", key);
  } catch (const ProtocolError& e) {
    reply(socket, identity, protocol::error_envelope(request_id, e.code(), e.what()));
  } catch (const zmq::error_t& e) {  // a property the connection does not have
    reply(socket, identity, protocol::error_envelope(request_id, wire::ERR_MALFORMED, e.what()));
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
        user && std::strcmp(user, kCoordinatorUser) == 0) {
      // A shard's coordinator (zap.hpp): the zero address, a participant of no round, so the
      // table serves it only what any stage serves (RoundInfo, Status, ModelRequest).
      peer = chain::Address{};
    } else if (user && *user && std::strncmp(user, "key:", 4) != 0) {
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
        on_register_message(copy, *round_socket, /*plain_session=*/true);
        return;
      }
      refuse(wire::ERR_NOT_REGISTERED, "connection is not bound to a participant");
    }
    switch (admit(*peer)) {
      case Admission::kDrop: return;
      case Admission::kRefuse:
        refuse(wire::ERR_RATE_LIMITED, "more than " + std::to_string(cfg.peer_messages_per_second) +
                                           " messages per second; slow down");
      case Admission::kServe: break;
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
    Request request{
        *peer,      m,
        payload,    std::string(static_cast<const char*>(identity.data()), identity.size()),
        request_id, std::nullopt,
        {}};
    wire::Envelope out = handle(request);
    if (out.body_case() == wire::Envelope::BODY_NOT_SET) return;  // answered once synced
    out.set_request_id(request_id);
    if (request.shared_payload.bytes)
      reply(*round_socket, identity, out, request.shared_payload);
    else
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
  // A node that is not a participant of this round (it left the task) has no role in it.
  r->set_role(stakes.contains(peer) ? role_of(peer) : wire::ROLE_UNSPECIFIED);
  r->set_stage_deadline_unix_ms(state.deadline_unix_ms);
  r->set_global_model_hash(state.global_model.data(), 32);
  r->set_parameters(cfg.parameters);
  r->set_chunk_bytes(static_cast<std::uint32_t>(cfg.chunk_bytes));
  if (state.stage == wire::STAGE_VOTING)
    r->set_candidate_model_hash(state.candidate_model.data(), 32);
  r->set_rule(kernels::describe(cfg.aggregation));
  r->set_chain_id(domain.chain_id);
  r->set_verifying_contract(domain.verifying_contract.bytes.data(), 20);
  if (auto p = secagg.placement(peer, state.stage)) *r->mutable_secagg() = *p;
  return out;
}

wire::Envelope Server::Impl::on_model_request(Request& request) {
  const wire::ModelRequest& r = request.message.envelope.model_request();
  const chain::Hash32 hash = hash_field(r.model_hash(), "model_hash");
  if (!spool.has_model(hash)) refuse(wire::ERR_NOT_FOUND, "no model " + chain::to_hex(hash));
  const std::uint64_t total = spool.model_bytes(hash);
  if (r.length() > cfg.chunk_bytes)
    refuse(wire::ERR_TOO_LARGE, "ranges are at most " + std::to_string(cfg.chunk_bytes) + " bytes");
  if (r.offset() > total)
    refuse(wire::ERR_OUT_OF_RANGE, "offset past the model's " + std::to_string(total) + " bytes");
  // A range of the shared model, not a copy: replies queued to many (or slow) peers hold
  // references to one buffer (server/README.md, "Memory").
  request.shared_payload = {
      spool.shared_model(hash), static_cast<std::size_t>(r.offset()),
      static_cast<std::size_t>(std::min<std::uint64_t>(r.length(), total - r.offset()))};
  if (request.shared_payload.bytes->size() != total)
    refuse(wire::ERR_INTERNAL, "model " + chain::to_hex(hash) + " changed size on disk");
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
  shard_check_begin();  // a shard set: not at the coordinator, not before the round's opening
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
    send(ingest.drain(existing->id));
  }
  Upload u = store.begin_upload(state.round, peer, b.dtype(), b.parameters());
  if (const std::uint32_t grant = ingest.begin(u); grant > 0)
    return ingest.upload_accepted(u, grant);
  if (cfg.busy_wait.count() == 0)
    refuse(wire::ERR_BUSY, "in-flight byte budget exhausted; begin again shortly");
  ingest.wait_for_credits({u.id, peer, state.round, r.identity, r.request_id, Clock::now()});
  return {};  // answered when credits return (Ingest::answer_waiting_begins)
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
  const auto& c = r.message.envelope.upload_chunk();
  Upload& u = *r.upload;
  ChunkScan scan = ingest.scan_chunk(u, c, r.message.bytes());
  if (!scan.finite) {
    send(ingest.drop_upload(u));
    refuse(wire::ERR_NON_FINITE, "update contains NaN or Inf near offset " +
                                     std::to_string(c.offset()) +
                                     "; the upload is dropped, begin again with finite values");
  }
  // Written and synced by a sync thread: the loop goes on with other chunks meanwhile, and the
  // ChunkAck leaves once the bytes are durable (Ingest::take_completion).
  ingest.queue_chunk(u, c.offset(), std::move(scan.hashed), std::move(r.message.payload),
                     std::move(r.identity), r.request_id);
  return {};  // no reply yet
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
  // A shard holds one part: the commit names the whole update's hash and proves the part.
  const chain::Hash32 actual =
      cfg.shard ? check_shard_commit(*cfg.shard, spool, *u, c) : ingest.update_hash_of(*u);
  if (claimed != actual)
    refuse(wire::ERR_HASH_MISMATCH, "update hash " + chain::to_hex(claimed) +
                                        " differs from the bytes received (" +
                                        chain::to_hex(actual) + ")");
  chain::UpdateMessage msg{chain::U256(cfg.task_id), chain::U256(state.round), actual,
                           chain::U256(c.num_samples())};
  const auto who = protocol::signer(chain::update_digest(domain, msg), as_bytes(c.signature()));
  if (chain_rounds)  // AllianceTaskV2: only the update hash the proposer committed on chain
    if (const auto m = chain_rounds->commitment_mismatch(state.round, peer, actual)) {
      // Its own signed Update for another hash than its commitment is the evidence
      // reportEquivocation takes: reported on chain (task_chain_v2.hpp), this upload dropped (the
      // node may begin again with the bytes it committed), the round goes on for everyone.
      if (m->committed != chain::Hash32{} && who && *who == peer &&
          chain_rounds->report_equivocation(
              {state.round, peer, actual, c.num_samples(),
               chain::Bytes(c.signature().begin(), c.signature().end())})) {
        metrics.refused("EQUIVOCATION");
        send(ingest.drop_upload(*u));
        refuse(wire::ERR_HASH_MISMATCH,
               m->reason +
                   ": an Update signed for another hash than the commitment is an equivocation; "
                   "murmurd reports it on chain (reportEquivocation) and dropped this upload");
      }
      refuse(wire::ERR_HASH_MISMATCH, m->reason);
    }
  if (!who || *who != peer)
    refuse(wire::ERR_BAD_SIGNATURE,
           "Update is not signed by " + peer.to_checksum() + signed_under(domain));
  store.commit(*u, actual, c.num_samples(),
               chain::Bytes(c.signature().begin(), c.signature().end()));
  ingest.committed(u->id);
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
  shard_check_vote();  // a shard set's votes go to the coordinator
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
    refuse(wire::ERR_BAD_SIGNATURE,
           "Vote is not signed by " + peer.to_checksum() + signed_under(domain));
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
