#include "murmur/client/node_client.hpp"

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>

#include "murmur/protocol/integrity.hpp"
#include "node_client_impl.hpp"

namespace murmur::client {

bool is_transient(wire::ErrorCode code) {
  return code == wire::ERR_BUSY || code == wire::ERR_RATE_LIMITED;
}

NodeClient::Impl::Impl(ClientOptions options) : opt(std::move(options)), context(opt.context) {
  if (!context) context = std::make_shared<zmq::context_t>(1);
  if (opt.curve.public_z85.empty() || opt.curve.secret_z85.empty())
    opt.curve = CurveKeyPair::generate();
  if (!opt.server_public_key.empty())
    z85_key_bytes(opt.server_public_key);  // fail early on a bad key
  if (opt.timeout.count() <= 0)
    throw std::invalid_argument("ClientOptions.timeout must be positive");
  if (opt.retries < 0) throw std::invalid_argument("ClientOptions.retries must be >= 0");
  opt.model_window = std::max<std::uint32_t>(opt.model_window, 1);
}

detail::Channel& NodeClient::Impl::round() {
  if (opt.endpoint.empty())
    throw std::invalid_argument("ClientOptions.endpoint (the round endpoint) is not set");
  if (!round_channel)
    round_channel.emplace(*context, opt.endpoint, opt.curve, opt.server_public_key, ids);
  return *round_channel;
}

detail::Channel& NodeClient::Impl::registration() {
  if (opt.register_endpoint.empty())
    throw std::invalid_argument(
        "ClientOptions.register_endpoint (murmurd's register_endpoint) is not set");
  if (!register_channel)
    register_channel.emplace(*context, opt.register_endpoint, opt.curve, opt.server_public_key,
                             ids);
  return *register_channel;
}

std::chrono::milliseconds NodeClient::Impl::backoff(int attempt) const {
  auto d = opt.backoff;
  for (int i = 0; i < attempt && d < std::chrono::milliseconds(5000); ++i) d *= 2;
  return std::min(d, std::chrono::milliseconds(5000));
}

bool NodeClient::Impl::wait_out_busy(std::optional<detail::Clock::time_point>& since,
                                     int& count) const {
  const auto now = detail::Clock::now();
  if (!since) since = now;
  if (now - *since >= opt.busy_patience) return false;
  thread_local std::minstd_rand jitter(std::random_device{}());
  const auto delay = std::min(backoff(count++), std::chrono::milliseconds(1000)) *
                     std::uniform_int_distribution<int>(75, 125)(jitter) / 100;
  std::this_thread::sleep_for(delay);
  return true;
}

ServerError NodeClient::Impl::refusal(const char* what, const detail::Channel& channel,
                                      const wire::Error& error) const {
  return ServerError(error.code(), std::string(what) + " refused by " + channel.endpoint() + ": " +
                                       protocol::code_name(error.code()) + ": " + error.message());
}

std::optional<protocol::Message> NodeClient::Impl::await(detail::Channel& channel, std::uint64_t id,
                                                         detail::Clock::time_point deadline) {
  for (;;) {
    auto reply = channel.receive(deadline);
    if (!reply || reply->envelope.request_id() == id) return reply;
  }
}

protocol::Message NodeClient::Impl::call(detail::Channel& channel, wire::Envelope request,
                                         wire::Envelope::BodyCase expected, const char* what,
                                         bool duplicate_means_done,
                                         std::span<const std::uint8_t> payload) {
  bool lost_reply = false;
  std::optional<detail::Clock::time_point> busy_since;
  int busy = 0;
  for (int attempt = 0;;) {
    const auto deadline = detail::Clock::now() + opt.timeout;
    zmq::message_t frame(payload.data(), payload.size());  // a fresh copy per attempt
    const auto id = channel.send(
        request, protocol::carries_payload(request.body_case()) ? &frame : nullptr, deadline);
    std::optional<protocol::Message> reply;
    if (id) reply = await(channel, *id, deadline);
    if (!reply) {
      if (attempt >= opt.retries)
        throw TimeoutError(
            std::string(what) + " to " + channel.endpoint() + ": no reply within " +
            std::to_string(opt.timeout.count()) + " ms, " + std::to_string(attempt + 1) +
            " attempts: is murmurd running there, and is --server-key its public key?");
      lost_reply = true;
      channel.reconnect();
      std::this_thread::sleep_for(backoff(attempt++));
      continue;
    }
    if (reply->envelope.has_error()) {
      const auto& error = reply->envelope.error();
      if (is_transient(error.code()) && wait_out_busy(busy_since, busy)) continue;
      if (error.code() == wire::ERR_DUPLICATE && duplicate_means_done && lost_reply)
        return std::move(*reply);
      throw refusal(what, channel, error);
    }
    if (reply->envelope.body_case() != expected)
      throw ServerError(wire::ERR_MALFORMED, std::string(what) + ": " + channel.endpoint() +
                                                 " replied with an unexpected message (body " +
                                                 std::to_string(reply->envelope.body_case()) + ")");
    return std::move(*reply);
  }
}

protocol::Message NodeClient::exchange(wire::Envelope request, wire::Envelope::BodyCase expected,
                                       const char* what, std::span<const std::uint8_t> payload) {
  return impl_->call(impl_->round(), std::move(request), expected, what,
                     /*duplicate_means_done=*/true, payload);
}

NodeClient::NodeClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
NodeClient::~NodeClient() = default;

const std::string& NodeClient::curve_public_key() const {
  return impl_->opt.curve.public_z85;
}

chain::Address NodeClient::register_node(const chain::PrivateKey& key, std::uint64_t chain_id) {
  const auto curve = z85_key_bytes(impl_->opt.curve.public_z85);
  const chain::Address address = key.address();
  wire::Envelope e;
  auto* r = e.mutable_register_();
  r->set_address(address.bytes.data(), address.bytes.size());
  r->set_curve_public_key(curve.data(), curve.size());
  r->set_chain_id(chain_id);
  const auto sig = key.sign(protocol::register_digest(chain_id, curve)).to_rsv();
  r->set_signature(sig.data(), sig.size());
  const auto reply =
      impl_->call(impl_->registration(), std::move(e), wire::Envelope::kRegistered, "Register");
  // Registration is one exchange: the connection goes, so it does not count against murmurd's
  // cap on the registration endpoint's connections.
  impl_->register_channel.reset();
  const std::string& echoed = reply.envelope.registered().address();
  if (echoed.size() != address.bytes.size() ||
      std::memcmp(echoed.data(), address.bytes.data(), echoed.size()) != 0)
    throw ServerError(wire::ERR_MALFORMED, "Register: " + impl_->opt.register_endpoint +
                                               " confirmed a different address than " +
                                               address.to_checksum());
  return address;
}

wire::RoundInfo NodeClient::round_info() {
  wire::Envelope e;
  e.mutable_round_info_request();
  auto reply =
      impl_->call(impl_->round(), std::move(e), wire::Envelope::kRoundInfo, "RoundInfoRequest");
  wire::RoundInfo info = std::move(*reply.envelope.mutable_round_info());
  if (info.chunk_bytes() > 0) impl_->chunk_bytes = info.chunk_bytes();
  return info;
}

wire::Status NodeClient::status() {
  wire::Envelope e;
  e.mutable_status_request();
  auto reply = impl_->call(impl_->round(), std::move(e), wire::Envelope::kStatus, "StatusRequest");
  return std::move(*reply.envelope.mutable_status());
}

void NodeClient::vote(std::uint64_t task_id, std::uint64_t round, const chain::Hash32& model_hash,
                      int score, double loss, const Signer& signer) {
  if (signer.key == nullptr) throw std::invalid_argument("vote: Signer.key is null");
  if (score != 1 && score != -1)
    throw std::invalid_argument("vote: score must be +1 or -1, got " + std::to_string(score));
  chain::VoteMessage m{task_id, round, model_hash, static_cast<std::int8_t>(score)};
  const auto sig = chain::sign_vote(*signer.key, signer.domain, m);
  wire::Envelope e;
  auto* v = e.mutable_vote();
  v->set_task_id(task_id);
  v->set_round(round);
  v->set_model_hash(model_hash.data(), model_hash.size());
  v->set_score(score);
  v->set_loss(loss);
  v->set_signature(sig.data(), sig.size());
  impl_->call(impl_->round(), std::move(e), wire::Envelope::kVoteAccepted, "Vote",
              /*duplicate_means_done=*/true);
}

UploadResult NodeClient::upload_update(std::uint64_t task_id, std::uint64_t round,
                                       std::span<const float> values, wire::DType dtype,
                                       std::uint64_t num_samples, const Signer& signer) {
  const FloatUpdate source(values, dtype);
  return upload_update(task_id, round, source, num_samples, signer);
}

}  // namespace murmur::client
