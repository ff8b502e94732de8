#pragma once
// NodeClient's state and its one request/reply primitive, shared by node_client.cpp,
// upload.cpp and model_fetch.cpp.
#include <optional>
#include <string>

#include "channel.hpp"
#include "murmur/client/node_client.hpp"

namespace murmur::client {

struct NodeClient::Impl {
  explicit Impl(ClientOptions options);

  ClientOptions opt;
  std::shared_ptr<zmq::context_t> context;
  detail::RequestIds ids;
  std::optional<detail::Channel> round_channel;     ///< connected on first use
  std::optional<detail::Channel> register_channel;  ///< connected on first use
  std::uint32_t chunk_bytes = 0;                    ///< from the last RoundInfo / UploadAccepted

  detail::Channel& round();
  detail::Channel& registration();

  /// Sends `request` and returns the reply whose body is `expected`. Retries (with a fresh
  /// request id) after a lost reply, which also reconnects the socket, `opt.retries` times with
  /// doubling backoff, and after ERR_BUSY / ERR_RATE_LIMITED for at most `opt.busy_patience`. When
  /// `duplicate_means_done` and an earlier attempt's reply was lost, an ERR_DUPLICATE reply
  /// is returned as is (the lost attempt got through). `payload` goes as the raw frame of a
  /// body that carries one. Throws ServerError for any other
  /// Error reply or an unexpected body, TimeoutError when every attempt went unanswered.
  protocol::Message call(detail::Channel& channel, wire::Envelope request,
                         wire::Envelope::BodyCase expected, const char* what,
                         bool duplicate_means_done = false,
                         std::span<const std::uint8_t> payload = {});

  /// Waits for the reply to `id` (skipping replies to abandoned requests) until `deadline`.
  std::optional<protocol::Message> await(detail::Channel& channel, std::uint64_t id,
                                         detail::Clock::time_point deadline);

  /// The delay before retry `attempt` (0-based): backoff x 2^attempt, at most 5 s.
  std::chrono::milliseconds backoff(int attempt) const;

  /// After a transient refusal (ERR_BUSY, ERR_RATE_LIMITED): sleeps a jittered backoff
  /// (backoff x 2^count, at most 1 s, times 0.75..1.25) and returns true, or returns false
  /// once `since` (set at the first refusal of a streak) is busy_patience ago.
  bool wait_out_busy(std::optional<detail::Clock::time_point>& since, int& count) const;

  /// "UploadBegin refused by tcp://...: ERR_WRONG_ROUND: <the server's message>".
  ServerError refusal(const char* what, const detail::Channel& channel,
                      const wire::Error& error) const;
};

/// Whether a refusal is transient: the same request may succeed after a pause.
bool is_transient(wire::ErrorCode code);

}  // namespace murmur::client
