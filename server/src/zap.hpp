#pragma once
// ZeroMQ Authentication Protocol (RFC 27) handler, on its own thread: the registration endpoint
// admits any Curve key, within its connection caps; the round endpoint admits only keys bound
// to a participant at registration, and tags the connection with the participant's address (the
// messages' "User-Id"). Whether that participant still takes part in the round is the
// dispatcher's check (stage_table.cpp), not ZAP's: ZAP runs once per connection.
#include <zmq.hpp>

#include <atomic>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "state_store.hpp"

namespace murmur::server {

/// The registration endpoint's connection caps, kept by the ZAP thread: the live connections
/// (from the endpoint's socket monitor: accepted, then disconnected) in all and per IP address.
/// A handshake over either cap is denied, and ZeroMQ closes the connection.
class RegisterGate {
 public:
  RegisterGate(std::size_t max_connections, std::size_t per_address)
      : max_(max_connections), per_address_(per_address) {}
  /// The monitor saw connection `fd` accepted from `address` ("" when it could not be read).
  void accepted(int fd, const std::string& address);
  /// The monitor saw connection `fd` end.
  void disconnected(int fd);
  /// Why a handshake from `address` is denied, or nullopt when it is admitted.
  std::optional<std::string> refusal(const std::string& address) const;
  std::size_t connections() const { return live_.size(); }

 private:
  std::size_t max_, per_address_;
  std::map<int, std::string> live_;             ///< fd -> peer address
  std::map<std::string, std::size_t> by_peer_;  ///< peer address -> live connections
};

/// The peer's IP address of a connected TCP socket `fd` ("" when it cannot be read).
std::string peer_address(int fd);

/// Answers ZAP requests on `zap` (a REP bound to inproc://zeromq.zap.01) until `stopping`,
/// reading the key bindings from `store` (thread-safe). `register_monitor` (a PAIR connected to
/// the registration socket's monitor, or nullptr) feeds `gate`, which caps the registration
/// endpoint's connections. Every socket here is the ZAP thread's alone. `coordinator_key` (a
/// shard's [shard] coordinator_key, Z85; empty: none): that Curve key is admitted on the round
/// endpoint as User-Id kCoordinatorUser (its shard set's coordinator reading candidate parts).
void run_zap(zmq::socket_t& zap, zmq::socket_t* register_monitor, RegisterGate& gate,
             const StateStore& store, const std::atomic<bool>& stopping,
             const std::string& coordinator_key = {});
inline constexpr const char* kCoordinatorUser = "coordinator";

}  // namespace murmur::server
