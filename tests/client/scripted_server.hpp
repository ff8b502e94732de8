#pragma once
// A scripted murmurd stand-in for NodeClient's unit tests: a CurveZMQ ROUTER on a loopback
// port whose replies a test writes as a handler, with a hook called when the socket is idle
// (to hold acknowledgements back), and a record of every request it saw.
#include <zmq.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "murmur/protocol/wire.hpp"

namespace murmur::testing {

class ScriptedServer {
 public:
  /// A request as it arrived: the peer's routing id and the decoded message.
  struct Request {
    std::string peer;
    protocol::Message message;
  };
  /// Called on the server thread for each request.
  using Handler = std::function<void(ScriptedServer&, Request&)>;
  /// Called on the server thread when no request arrived for `idle_ms`.
  using IdleHook = std::function<void(ScriptedServer&)>;

  ScriptedServer(Handler handler, IdleHook idle = {}, int idle_ms = 20);
  ~ScriptedServer();

  const std::string& endpoint() const { return endpoint_; }
  const std::string& public_key() const { return public_key_; }

  /// Sends `reply` (stamped with `request_id`) and `payload` to `peer`. Server thread only.
  void reply(const std::string& peer, std::uint64_t request_id, wire::Envelope reply,
             std::span<const std::uint8_t> payload = {});

  /// Request ids and body kinds seen so far, in arrival order (thread-safe copy); a message
  /// that did not decode shows as (0, BODY_NOT_SET).
  std::vector<std::pair<std::uint64_t, wire::Envelope::BodyCase>> seen() const;

 private:
  void run();

  Handler handler_;
  IdleHook idle_;
  int idle_ms_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::string endpoint_, public_key_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::pair<std::uint64_t, wire::Envelope::BodyCase>> seen_;
  std::thread thread_;
};

}  // namespace murmur::testing
