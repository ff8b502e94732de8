// ZeroMQ Authentication Protocol (RFC 27) handler (zap.hpp).
#include "zap.hpp"

#include <zmq_addon.hpp>

#include <array>
#include <chrono>
#include <string>
#include <vector>

namespace murmur::server {

void run_zap(zmq::socket_t& zap, const StateStore& store, const std::atomic<bool>& stopping) {
  while (!stopping) {
    zmq::pollitem_t item{zap.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> req;
    if (!zmq::recv_multipart(zap, std::back_inserter(req))) continue;
    // version, request id, domain, address, identity, mechanism, credentials...
    std::string status = "400", text = "denied", user;
    if (req.size() >= 7 && req[5].to_string() == "CURVE" && req[6].size() == 32) {
      std::array<char, 41> z85{};
      zmq_z85_encode(z85.data(), static_cast<const std::uint8_t*>(req[6].data()), 32);
      const std::string key(z85.data(), 40);
      const std::string domain_name = req[2].to_string();
      if (domain_name == "register") {
        status = "200", text = "OK", user = "key:" + key;
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
}

}  // namespace murmur::server
