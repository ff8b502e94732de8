#pragma once
// One DEALER socket to one murmurd endpoint: CurveZMQ options, sends that never block past a
// deadline, replies decoded with the protocol's typed framing checks, and reconnection that
// drops whatever the old socket still held.
#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "murmur/client/curve_keys.hpp"
#include "murmur/protocol/wire.hpp"

namespace murmur::client::detail {

using Clock = std::chrono::steady_clock;

/// Request ids that increase strictly for one node across its sockets, reconnects and process
/// restarts (the server refuses a stale id as ERR_REPLAY): max(last + 1, microseconds since
/// the Unix epoch).
class RequestIds {
 public:
  std::uint64_t next();

 private:
  std::uint64_t last_ = 0;
};

/// A connected DEALER socket. Not thread-safe.
class Channel {
 public:
  /// Connects to `endpoint`; `server_key` empty means no CurveZMQ.
  Channel(zmq::context_t& context, std::string endpoint, const CurveKeyPair& own,
          std::string server_key, RequestIds& ids);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Stamps `envelope` with a fresh request id and sends it, with `payload` as the tensor
  /// frame when the body carries one (the message is moved from). Returns the id, or nullopt
  /// when the socket could not take the message before `deadline`.
  std::optional<std::uint64_t> send(wire::Envelope& envelope, zmq::message_t* payload,
                                    Clock::time_point deadline);

  /// The next message from the server, or nullopt at `deadline`. Throws protocol::ProtocolError
  /// when the server's framing is wrong.
  std::optional<protocol::Message> receive(Clock::time_point deadline);

  /// Closes the socket (dropping anything queued on it, LINGER 0) and connects a fresh one,
  /// so that replies to abandoned requests can never arrive.
  void reconnect();

  const std::string& endpoint() const { return endpoint_; }

 private:
  void open();

  zmq::context_t& context_;
  std::string endpoint_;
  CurveKeyPair own_;
  std::string server_key_;
  RequestIds& ids_;
  std::unique_ptr<zmq::socket_t> socket_;
};

}  // namespace murmur::client::detail
