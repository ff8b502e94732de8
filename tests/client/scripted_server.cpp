#include "scripted_server.hpp"

#include <zmq.h>

#include <zmq_addon.hpp>

namespace murmur::testing {

ScriptedServer::ScriptedServer(Handler handler, IdleHook idle, int idle_ms)
    : handler_(std::move(handler)),
      idle_(std::move(idle)),
      idle_ms_(idle_ms),
      socket_(context_, zmq::socket_type::router) {
  char pub[41] = {}, sec[41] = {};
  if (zmq_curve_keypair(pub, sec) != 0) throw std::runtime_error("libzmq without CURVE");
  public_key_ = pub;
  socket_.set(zmq::sockopt::curve_server, 1);
  socket_.set(zmq::sockopt::curve_secretkey, std::string(sec));
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("tcp://127.0.0.1:*");
  endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  thread_ = std::thread([this] { run(); });
}

ScriptedServer::~ScriptedServer() {
  stop_ = true;
  thread_.join();
}

void ScriptedServer::reply(const std::string& peer, std::uint64_t request_id, wire::Envelope reply,
                           std::span<const std::uint8_t> payload) {
  reply.set_request_id(request_id);
  auto frames = protocol::encode(reply, payload);
  socket_.send(zmq::buffer(peer), zmq::send_flags::sndmore);
  for (std::size_t i = 0; i < frames.size(); ++i)
    socket_.send(frames[i],
                 i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

std::vector<std::pair<std::uint64_t, wire::Envelope::BodyCase>> ScriptedServer::seen() const {
  std::lock_guard lock(mutex_);
  return seen_;
}

void ScriptedServer::run() {
  while (!stop_) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(idle_ms_));
    if (!(item.revents & ZMQ_POLLIN)) {
      if (idle_) idle_(*this);
      continue;
    }
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait))
      continue;
    Request r;
    r.peer = frames.front().to_string();
    frames.erase(frames.begin());
    protocol::Limits limits;
    limits.max_payload_bytes = 16u << 20;
    try {
      r.message = protocol::decode(frames, limits);
    } catch (const protocol::ProtocolError&) {  // the client under test framed a message wrongly
      std::lock_guard lock(mutex_);
      seen_.emplace_back(0, wire::Envelope::BODY_NOT_SET);
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      seen_.emplace_back(r.message.envelope.request_id(), r.message.envelope.body_case());
    }
    handler_(*this, r);
  }
}

}  // namespace murmur::testing
