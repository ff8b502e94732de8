#pragma once
// NodeClient's state and its one request/reply primitive, shared by node_client.cpp,
// upload.cpp, model_fetch.cpp and update_fetch.cpp.
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "channel.hpp"
#include "murmur/client/node_client.hpp"

namespace murmur::client {

namespace detail {

/// A ranged download of one byte string (a model, an update): `request(offset, length)` builds
/// each request, whose reply body is `reply` with the bytes as its raw frame; `range_of` reads a
/// reply's (offset, total) and throws when it names another object; `allocate(total)` returns
/// where the bytes go (called once, after the first reply).
struct RangedFetch {
  std::string what;               ///< for errors: "ModelRequest for 0x..."
  const char* request_name = "";  ///< "ModelRequest"
  wire::Envelope::BodyCase reply = wire::Envelope::BODY_NOT_SET;
  std::function<wire::Envelope(std::uint64_t offset, std::uint64_t length)> request;
  std::function<std::pair<std::uint64_t, std::uint64_t>(const wire::Envelope&)> range_of;
  std::function<std::uint8_t*(std::uint64_t total)> allocate;
  /// Where to ask (null: the round endpoint) and the range size (0: the round's chunk size,
  /// from RoundInfo).
  Channel* channel = nullptr;
  std::uint64_t chunk = 0;
};

/// The ranged download of the model with this keccak-256 (ModelRequest, ModelChunk naming the
/// same model); the caller sets `allocate` and, where it asks elsewhere, `channel` and `chunk`.
RangedFetch model_ranged_fetch(const chain::Hash32& hash);

}  // namespace detail

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

  /// Ranges of the round's chunk size, the first with NodeClient's retries (it tells the size),
  /// the rest `opt.model_window` in flight; a lost range is asked again after a reconnect. Throws
  /// ServerError (a refusal, or a reply that is not the range asked) or TimeoutError.
  void fetch_ranges(const detail::RangedFetch& f);

  /// Every page of (task, round)'s UpdateList on `channel`, parsed; the signed Updates are not
  /// checked (update_fetch.cpp: the voter's read checks them, `murmur verify` reports them).
  RoundUpdates list_updates(detail::Channel& channel, std::uint64_t task_id, std::uint64_t round);
  /// The bytes served for `update` on `channel` (null: the round endpoint) in ranges of `chunk`
  /// (0: the round's chunk size); their size checked against the list, their hash not.
  std::vector<std::uint8_t> update_bytes(detail::Channel* channel, std::uint64_t chunk,
                                         std::uint64_t task_id, std::uint64_t round,
                                         const RoundUpdate& update);

  /// "UploadBegin refused by tcp://...: ERR_WRONG_ROUND: <the server's message>".
  ServerError refusal(const char* what, const detail::Channel& channel,
                      const wire::Error& error) const;
};

/// Whether a refusal is transient: the same request may succeed after a pause.
bool is_transient(wire::ErrorCode code);

}  // namespace murmur::client
