#pragma once
// A real murmurd (murmur::server::Server) on 127.0.0.1 with a fresh data directory, and raw
// DEALER nodes speaking the wire protocol frame by frame, so tests can send anything,
// well-formed or not.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "murmur/chain/eip712.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"
#include "murmur/protocol/wire.hpp"
#include "murmur/server/server.hpp"
#include "murmur/testing/temp_dir.hpp"

namespace murmur::test {

namespace wire = ::murmur::wire;

using murmur::testing::free_port;

/// Participant i's chain key: secret 0x00..0(i+1), deterministic and never a real key.
inline chain::PrivateKey node_key(std::size_t i) {
  chain::Hash32 secret{};
  secret[30] = static_cast<std::uint8_t>((i + 1) >> 8);
  secret[31] = static_cast<std::uint8_t>(i + 1);
  return chain::PrivateKey(secret);
}

inline std::span<const std::uint8_t> bytes_of(const std::vector<float>& v) {
  return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * 4};
}

/// A temporary data directory and a Config for `participants` nodes.
struct ServerSetup {
  std::filesystem::path dir;
  server::Config config;

  ServerSetup(std::size_t participants, std::uint64_t parameters) {
    dir = std::filesystem::temp_directory_path() / ("murmur-test-" + std::to_string(::getpid()) +
                                                    "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir);
    config.data_dir = dir / "data";
    config.endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    config.register_endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    config.curve = true;
    config.curve_secret_key = server::curve_keypair().second;
    config.chunk_bytes = 4096;
    config.inflight_budget_bytes = 1 << 20;
    config.peer_credits = 4;
    config.parameters = parameters;
    config.rounds = 5;
    config.proposer_bps = 10000;  // everyone proposes unless a test says otherwise
    config.quorum = 1;
    config.backend = "cpu";
    config.contract = chain::Address::from_hex("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    config.aggregation.rule = kernels::CoordinateMedian{};
    for (std::size_t i = 0; i < participants; ++i)
      config.participants.push_back({node_key(i).address(), chain::U256(1000 + i)});
  }
  ~ServerSetup() { std::filesystem::remove_all(dir); }
};

/// A node speaking raw frames: its own Curve key pair, its chain key, request ids.
class RawNode {
 public:
  RawNode(zmq::context_t& ctx, const server::Config& cfg, const std::string& server_key,
          chain::PrivateKey key)
      : ctx_(ctx), cfg_(cfg), server_key_(server_key), key_(std::move(key)) {
    std::tie(public_, secret_) = server::curve_keypair();
  }

  const chain::PrivateKey& key() const { return key_; }
  chain::Address address() const { return key_.address(); }

  /// Registers this node's Curve key on the registration endpoint; returns the reply.
  wire::Envelope register_node(std::uint64_t chain_id = 31337,
                               const chain::PrivateKey* signer = nullptr) {
    zmq::socket_t s = socket(cfg_.register_endpoint);
    wire::Envelope e;
    e.set_request_id(1);
    auto* r = e.mutable_register_();
    r->set_address(address().bytes.data(), 20);
    std::array<std::uint8_t, 32> raw{};
    zmq_z85_decode(raw.data(), public_.c_str());
    r->set_curve_public_key(raw.data(), 32);
    r->set_chain_id(chain_id);
    const auto sig =
        (signer ? *signer : key_).sign(protocol::register_digest(chain_id, raw)).to_rsv();
    r->set_signature(sig.data(), sig.size());
    auto frames = protocol::encode(e);
    if (!zmq::send_multipart(s, frames)) return wire::Envelope{};
    return receive(s).value_or(wire::Envelope{});
  }

  /// Sends raw frames on the round endpoint and returns the decoded reply (nullopt: none
  /// within the timeout).
  std::optional<wire::Envelope> send_frames(
      std::vector<zmq::message_t> frames,
      std::chrono::milliseconds timeout = std::chrono::seconds(5),
      zmq::message_t* payload = nullptr) {
    if (!round_) round_ = socket(cfg_.endpoint);
    if (!zmq::send_multipart(*round_, frames)) return std::nullopt;
    return receive(*round_, timeout, payload);
  }

  /// Sends raw frames without waiting for a reply.
  void send_only(std::vector<zmq::message_t> frames) {
    if (!round_) round_ = socket(cfg_.endpoint);
    ASSERT_TRUE(zmq::send_multipart(*round_, frames).has_value());
  }
  /// Every reply that arrives until `quiet` passes without one.
  std::vector<wire::Envelope> drain(std::chrono::milliseconds quiet) {
    std::vector<wire::Envelope> out;
    while (auto e = receive(*round_, quiet)) out.push_back(*e);
    return out;
  }

  /// Sends `e` (with a fresh request id unless it has one) and returns the reply.
  std::optional<wire::Envelope> call(wire::Envelope e, std::span<const std::uint8_t> payload = {},
                                     zmq::message_t* reply_payload = nullptr) {
    if (e.request_id() == 0) e.set_request_id(next_id_++);
    return send_frames(protocol::encode(e, payload), std::chrono::seconds(5), reply_payload);
  }
  std::uint64_t last_request_id() const { return next_id_ - 1; }
  /// A fresh request id, for a message sent with send_only.
  std::uint64_t take_request_id() { return next_id_++; }

  wire::RoundInfo round_info() {
    wire::Envelope e;
    e.mutable_round_info_request();
    return call(e).value().round_info();
  }

  wire::Envelope begin(std::uint64_t round, std::uint64_t parameters,
                       wire::DType dtype = wire::DTYPE_F32, std::uint64_t task = 1) {
    wire::Envelope e;
    auto* b = e.mutable_upload_begin();
    b->set_task_id(task);
    b->set_round(round);
    b->set_parameters(parameters);
    b->set_dtype(dtype);
    return call(e).value();
  }

  wire::Envelope chunk(std::uint64_t upload, std::uint64_t offset,
                       std::span<const std::uint8_t> bytes, bool corrupt_checksum = false) {
    wire::Envelope e;
    auto* c = e.mutable_upload_chunk();
    c->set_upload_id(upload);
    c->set_offset(offset);
    c->set_length(static_cast<std::uint32_t>(bytes.size()));
    auto sum = protocol::chunk_checksum(bytes);
    if (corrupt_checksum) sum[0] ^= 1;
    c->set_checksum(sum.data(), sum.size());
    return call(e, bytes).value();
  }

  wire::Envelope commit(std::uint64_t upload, std::uint64_t round,
                        std::span<const std::uint8_t> bytes, std::uint64_t samples,
                        const chain::PrivateKey* signer = nullptr) {
    const auto hash = protocol::update_hash(bytes);
    chain::Eip712Domain domain;
    domain.chain_id = cfg_.chain_id;
    domain.verifying_contract = cfg_.contract;
    const auto sig = chain::sign_update(
        signer ? *signer : key_, domain,
        {chain::U256(cfg_.task_id), chain::U256(round), hash, chain::U256(samples)});
    wire::Envelope e;
    auto* c = e.mutable_upload_commit();
    c->set_upload_id(upload);
    c->set_update_hash(hash.data(), 32);
    c->set_num_samples(samples);
    c->set_signature(sig.data(), sig.size());
    return call(e).value();
  }

  /// Begin, every chunk, commit; returns the commit's reply.
  wire::Envelope upload(std::uint64_t round, const std::vector<float>& values,
                        std::uint64_t samples) {
    const auto accepted = begin(round, values.size());
    if (accepted.has_error()) return accepted;
    const auto& a = accepted.upload_accepted();
    const auto all = bytes_of(values);
    for (std::uint64_t at = a.resume_offset(); at < all.size(); at += a.chunk_bytes()) {
      const auto ack =
          chunk(a.upload_id(), at,
                all.subspan(at, std::min<std::uint64_t>(a.chunk_bytes(), all.size() - at)));
      if (ack.has_error()) return ack;
    }
    return commit(a.upload_id(), round, all, samples);
  }

  wire::Envelope vote(std::uint64_t round, const chain::Hash32& model, int score) {
    chain::Eip712Domain domain;
    domain.chain_id = cfg_.chain_id;
    domain.verifying_contract = cfg_.contract;
    const auto sig = chain::sign_vote(
        key_, domain,
        {chain::U256(cfg_.task_id), chain::U256(round), model, static_cast<std::int8_t>(score)});
    wire::Envelope e;
    auto* v = e.mutable_vote();
    v->set_task_id(cfg_.task_id);
    v->set_round(round);
    v->set_model_hash(model.data(), 32);
    v->set_score(score);
    v->set_loss(0.5);
    v->set_signature(sig.data(), sig.size());
    return call(e).value();
  }

  /// The whole model stored under `hash`, by ranged requests.
  std::vector<std::uint8_t> download(const chain::Hash32& hash) {
    std::vector<std::uint8_t> out;
    for (std::uint64_t total = 1; out.size() < total;) {
      wire::Envelope e;
      auto* r = e.mutable_model_request();
      r->set_model_hash(hash.data(), 32);
      r->set_offset(out.size());
      r->set_length(cfg_.chunk_bytes);
      zmq::message_t payload;
      const auto reply = call(e, {}, &payload).value();
      if (reply.has_error()) throw std::runtime_error(reply.error().message());
      total = reply.model_chunk().total();
      const auto* p = static_cast<const std::uint8_t*>(payload.data());
      out.insert(out.end(), p, p + payload.size());
      if (payload.size() == 0) break;
    }
    return out;
  }

  /// Closes the round connection (as a node that crashed would).
  void disconnect() { round_.reset(); }

 private:
  zmq::socket_t socket(const std::string& endpoint) {
    zmq::socket_t s(ctx_, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::curve_serverkey, server_key_);
    s.set(zmq::sockopt::curve_publickey, public_);
    s.set(zmq::sockopt::curve_secretkey, secret_);
    s.connect(endpoint);
    return s;
  }

  static std::optional<wire::Envelope> receive(
      zmq::socket_t& s, std::chrono::milliseconds timeout = std::chrono::seconds(5),
      zmq::message_t* payload = nullptr) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(s, std::back_inserter(frames)) || frames.empty()) return std::nullopt;
    wire::Envelope e;
    e.ParseFromArray(frames[0].data(), static_cast<int>(frames[0].size()));
    if (payload && frames.size() > 1) *payload = std::move(frames[1]);
    return e;
  }

  zmq::context_t& ctx_;
  const server::Config& cfg_;
  std::string server_key_, public_, secret_;
  chain::PrivateKey key_;
  std::optional<zmq::socket_t> round_;
  std::uint64_t next_id_ = 1;
};

/// Waits (bounded) until `pred` holds; false on timeout.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

inline ::testing::AssertionResult is_error(const wire::Envelope& e, wire::ErrorCode code) {
  if (e.has_error() && e.error().code() == code) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected " << wire::ErrorCode_Name(code) << ", got "
         << (e.has_error()
                 ? wire::ErrorCode_Name(e.error().code()) + " (" + e.error().message() + ")"
                 : std::string("no error: ") + e.ShortDebugString());
}

}  // namespace murmur::test
