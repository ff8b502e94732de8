#include "channel.hpp"

#include <algorithm>
#include <vector>

namespace murmur::client::detail {

namespace {

/// Replies carry model chunks of at most the round's chunk size; 64 MiB bounds what a broken
/// or hostile server can make a node allocate per frame.
constexpr std::size_t kMaxReplyFrame = 64u << 20;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1'000'000));
}

/// Waits until the socket has `events` ready or the deadline passes.
bool wait_for(zmq::socket_t& socket, short events, Clock::time_point deadline) {
  for (;;) {
    zmq::pollitem_t item{socket.handle(), 0, events, 0};
    const int left = remaining_ms(deadline);
    zmq::poll(&item, 1, std::chrono::milliseconds(left));
    if (item.revents & events) return true;
    if (left == 0 || Clock::now() >= deadline) return false;
  }
}

}  // namespace

std::uint64_t RequestIds::next() {
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  last_ = std::max(last_ + 1, static_cast<std::uint64_t>(now));
  return last_;
}

Channel::Channel(zmq::context_t& context, std::string endpoint, const CurveKeyPair& own,
                 std::string server_key, RequestIds& ids)
    : context_(context),
      endpoint_(std::move(endpoint)),
      own_(own),
      server_key_(std::move(server_key)),
      ids_(ids) {
  open();
}

Channel::~Channel() = default;

void Channel::open() {
  auto s = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  s->set(zmq::sockopt::linger, 0);
  s->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(kMaxReplyFrame + 65536));
  if (!server_key_.empty()) {
    s->set(zmq::sockopt::curve_serverkey, server_key_);
    s->set(zmq::sockopt::curve_publickey, own_.public_z85);
    s->set(zmq::sockopt::curve_secretkey, own_.secret_z85);
  }
  s->connect(endpoint_);
  socket_ = std::move(s);
}

void Channel::reconnect() {
  socket_.reset();
  open();
}

std::optional<std::uint64_t> Channel::send(wire::Envelope& envelope, zmq::message_t* payload,
                                           Clock::time_point deadline) {
  if (!wait_for(*socket_, ZMQ_POLLOUT, deadline)) return std::nullopt;
  const std::uint64_t id = ids_.next();
  envelope.set_request_id(id);
  zmq::message_t header(envelope.ByteSizeLong());
  envelope.SerializeToArray(header.data(), static_cast<int>(header.size()));
  const bool two = protocol::carries_payload(envelope.body_case());
  // A multipart message is queued atomically once its first frame is accepted.
  if (!socket_->send(header, two ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                 : zmq::send_flags::dontwait))
    return std::nullopt;
  if (two) {
    zmq::message_t empty;
    socket_->send(payload != nullptr ? *payload : empty, zmq::send_flags::none);
  }
  return id;
}

std::optional<protocol::Message> Channel::receive(Clock::time_point deadline) {
  if (!wait_for(*socket_, ZMQ_POLLIN, deadline)) return std::nullopt;
  std::vector<zmq::message_t> frames;
  for (;;) {
    zmq::message_t frame;
    if (!socket_->recv(frame, zmq::recv_flags::dontwait)) break;
    const bool more = frame.more();
    frames.push_back(std::move(frame));
    if (!more) break;
  }
  protocol::Limits limits;
  limits.max_payload_bytes = kMaxReplyFrame;
  // A SecAgg+ view carries one box and 2t commitments per dealer: more than an upload's
  // control messages, bounded by the group size.
  limits.max_envelope_bytes = 4u << 20;
  return protocol::decode(frames, limits);
}

}  // namespace murmur::client::detail
