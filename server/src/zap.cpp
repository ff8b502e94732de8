// ZeroMQ Authentication Protocol (RFC 27) handler and the registration endpoint's connection
// caps (zap.hpp).
#include "zap.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <zmq_addon.hpp>

#include <array>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

namespace murmur::server {

void RegisterGate::accepted(int fd, const std::string& address) {
  disconnected(fd);  // a stale entry of a reused descriptor
  live_[fd] = address;
  ++by_peer_[address];
}

void RegisterGate::disconnected(int fd) {
  const auto it = live_.find(fd);
  if (it == live_.end()) return;
  if (auto p = by_peer_.find(it->second); p != by_peer_.end() && --p->second == 0)
    by_peer_.erase(p);
  live_.erase(it);
}

std::optional<std::string> RegisterGate::refusal(const std::string& address) const {
  // The connection asking is among the live ones already (accepted comes before its handshake).
  if (live_.size() > max_)
    return "the registration endpoint has " + std::to_string(live_.size()) +
           " connections, more than its cap of " + std::to_string(max_) + "; try again later";
  const auto p = by_peer_.find(address);
  if (p != by_peer_.end() && p->second > per_address_)
    return std::to_string(p->second) + " connections to the registration endpoint from " + address +
           ", more than " + std::to_string(per_address_) + " per address";
  return std::nullopt;
}

std::string peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  std::array<char, INET6_ADDRSTRLEN> text{};
  const void* where = nullptr;
  if (ss.ss_family == AF_INET)
    where = &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr;
  else if (ss.ss_family == AF_INET6)
    where = &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
  if (where == nullptr || ::inet_ntop(ss.ss_family, where, text.data(), text.size()) == nullptr)
    return "";
  return text.data();
}

namespace {

/// One monitor event (RFC: a frame of u16 event + u32 value, then a frame with the endpoint).
void take_monitor_event(zmq::socket_t& monitor, RegisterGate& gate) {
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(monitor, std::back_inserter(frames), zmq::recv_flags::dontwait) ||
      frames.empty() || frames[0].size() < 6)
    return;
  std::uint16_t event = 0;
  std::uint32_t value = 0;
  std::memcpy(&event, frames[0].data(), 2);
  std::memcpy(&value, static_cast<const char*>(frames[0].data()) + 2, 4);
  const int fd = static_cast<int>(value);
  if (event == ZMQ_EVENT_ACCEPTED)
    gate.accepted(fd, peer_address(fd));
  else if (event == ZMQ_EVENT_DISCONNECTED)  // (CLOSED is the listener's own descriptor)
    gate.disconnected(fd);
}

void answer(zmq::socket_t& zap, RegisterGate& gate, const StateStore& store,
            const std::string& coordinator_key) {
  std::vector<zmq::message_t> req;
  if (!zmq::recv_multipart(zap, std::back_inserter(req))) return;
  // version, request id, domain, address, identity, mechanism, credentials...
  std::string status = "400", text = "denied", user;
  if (req.size() >= 7 && req[5].to_string() == "CURVE" && req[6].size() == 32) {
    std::array<char, 41> z85{};
    zmq_z85_encode(z85.data(), static_cast<const std::uint8_t*>(req[6].data()), 32);
    const std::string key(z85.data(), 40);
    const std::string domain_name = req[2].to_string();
    if (domain_name == "register") {
      if (const auto why = gate.refusal(req[3].to_string()))
        status = "300", text = *why;  // temporary failure: the client may come back
      else
        status = "200", text = "OK", user = "key:" + key;
    } else if (!coordinator_key.empty() && key == coordinator_key) {
      status = "200", text = "OK", user = kCoordinatorUser;
    } else if (auto address = store.bound(key)) {
      status = "200", text = "OK", user = address->to_lower_hex();
    } else {
      text = "curve key not registered: register through the registration endpoint first";
    }
  }
  std::array<zmq::const_buffer, 6> reply = {
      zmq::str_buffer("1.0"), zmq::buffer(req.size() > 1 ? req[1].to_string_view() : ""),
      zmq::buffer(status),    zmq::buffer(text),
      zmq::buffer(user),      zmq::const_buffer()};
  zmq::send_multipart(zap, reply);
}

}  // namespace

void run_zap(zmq::socket_t& zap, zmq::socket_t* register_monitor, RegisterGate& gate,
             const StateStore& store, const std::atomic<bool>& stopping,
             const std::string& coordinator_key) {
  while (!stopping) {
    zmq::pollitem_t items[] = {
        {zap.handle(), 0, ZMQ_POLLIN, 0},
        {register_monitor ? register_monitor->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, register_monitor ? 2 : 1, std::chrono::milliseconds(50));
    // Connection events first: a handshake's ZAP request counts the connection it came on.
    if (register_monitor)
      for (int budget = 0; budget < 1024 && (items[1].revents & ZMQ_POLLIN); ++budget) {
        if (!(register_monitor->get(zmq::sockopt::events) & ZMQ_POLLIN)) break;
        take_monitor_event(*register_monitor, gate);
      }
    if (items[0].revents & ZMQ_POLLIN) answer(zap, gate, store, coordinator_key);
  }
}

}  // namespace murmur::server
