#pragma once
// The reads of update and model ranges, off the event loop (a component, as Ingest is for the
// writes): the loop checks a request and hands the reader a `ReadJob` (which file, which range,
// the reply's header); a reader thread `pread`s the range into a buffer of its own and posts a
// `ReadDone` back over an inproc PUSH/PULL pair, and the loop sends it. A large or slow read
// therefore never holds up the other peers' messages. The loop and the threads share only the
// guarded queues; the bytes travel as values (a shared buffer the reply's frame points into).
// Bounded: at most `max_jobs` reads queued or running (submit returns false past it: the loop
// answers ERR_BUSY), and the public reads' bytes (`PublicBudget`) are counted until ZeroMQ has
// sent them.
#include <zmq.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "murmur/protocol/wire.hpp"

namespace murmur::server {

/// Which of murmurd's ROUTER sockets a read's reply leaves on.
enum class ReplySocket { kRound, kRegister };

/// The bytes of public reads (the registration endpoint's, `update_reads.cpp`) from the moment a
/// range is accepted until ZeroMQ has sent its reply: reserve() refuses past `limit`, the reply
/// frame's release returns them. Thread-safe.
class PublicBudget {
 public:
  explicit PublicBudget(std::uint64_t limit) : limit_(limit) {}
  /// Takes `bytes` if they fit under the limit.
  bool reserve(std::uint64_t bytes);
  void release(std::uint64_t bytes) { used_.fetch_sub(bytes); }
  std::uint64_t used() const { return used_.load(); }
  std::uint64_t limit() const { return limit_; }

 private:
  const std::uint64_t limit_;
  std::atomic<std::uint64_t> used_{0};
};

/// One range to read, with the reply it completes.
struct ReadJob {
  ReplySocket socket = ReplySocket::kRound;
  std::string identity;  ///< the peer's routing id
  wire::Envelope reply;  ///< the header (UpdateChunk, ModelChunk) with its request id
  std::filesystem::path file;
  std::uint64_t offset = 0, length = 0;
  std::string what;  ///< for errors: "the update of 0x... in round 3"
  /// A shard's first range of a part: the wire SplitCommitment kept beside the part, read into
  /// the reply's UpdateChunk.split (empty: none).
  std::filesystem::path split_file;
  std::uint64_t reserved = 0;  ///< public budget bytes held by this read (0: a member's read)
};

/// A finished read: the header and its bytes, or a typed Error envelope (bytes null).
struct ReadDone {
  ReplySocket socket = ReplySocket::kRound;
  std::string identity;
  wire::Envelope envelope;
  std::shared_ptr<const std::vector<std::uint8_t>> bytes;
  std::uint64_t reserved = 0;
};

/// Sends `frames` to the peer `identity` on a ROUTER socket without blocking (a peer whose queue
/// is full drops the reply: it asks again). The one routed send of murmurd's replies.
void send_routed(zmq::socket_t& socket, const zmq::message_t& identity,
                 std::vector<zmq::message_t>& frames);

class UpdateReader {
 public:
  /// `threads` readers, at most `max_jobs` reads queued or running.
  UpdateReader(zmq::context_t& ctx, int threads, std::size_t max_jobs);
  ~UpdateReader();
  UpdateReader(const UpdateReader&) = delete;
  UpdateReader& operator=(const UpdateReader&) = delete;

  /// Binds the completions' socket and starts the threads.
  void start();
  /// Lets the threads finish the reads they hold and joins them; reads not collected are
  /// dropped (no reply: the peer asks again).
  void stop();
  /// Queues `job`; false when max_jobs reads are already queued or running.
  bool submit(ReadJob job);
  /// Where finished reads are signalled, for the loop's poll set.
  zmq::socket_t& completions() { return *wake_; }
  /// The finished reads, oldest first (drains the wake-ups too).
  std::vector<ReadDone> take();
  /// Reads queued or running now.
  std::size_t pending() const;

 private:
  void run();
  static ReadDone read(ReadJob& job);

  zmq::context_t& ctx_;
  const int threads_;
  const std::size_t max_jobs_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<ReadJob> jobs_;
  std::deque<ReadDone> done_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::unique_ptr<zmq::socket_t> wake_;  ///< the loop's PULL; a PUSH per reader thread
  static constexpr const char* kEndpoint = "inproc://murmurd.reads";
};

}  // namespace murmur::server
