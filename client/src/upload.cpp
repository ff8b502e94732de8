// NodeClient::upload_update: UploadBegin -> chunks under credit-based flow control -> UploadCommit,
// resuming from the server's resume_offset after anything goes wrong.
//
// Flow control: UploadAccepted grants `credits` chunks; each chunk sent spends one and each
// ChunkAck grants its `credits` back (murmurd returns the spent one, so the window stays at
// the first grant; a server under pressure may return fewer). A node therefore never has more
// unacknowledged chunks than it was granted, so the bytes it can have queued towards the
// server are bounded by credits x chunk_bytes whatever the network does. A ChunkAck's
// durable_offset is the server's fsynced prefix; everything below it survives a server crash.
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "murmur/protocol/integrity.hpp"
#include "node_client_impl.hpp"

namespace murmur::client {

namespace {

/// The update hash (BLAKE3) of the update's bytes in upload order, fed as chunks go out; rewound
/// (re-read from the source) when the server resumes below what was already hashed.
class StreamHash {
 public:
  explicit StreamHash(const UpdateSource& source) : source_(source) {}

  /// Makes the hash cover exactly bytes [0, offset).
  void seek(std::uint64_t offset) {
    if (hashed_ > offset) {
      hasher_ = protocol::UpdateHasher();
      hashed_ = 0;
    }
    std::vector<std::uint8_t> buf;
    while (hashed_ < offset) {
      buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(offset - hashed_, 1u << 20)));
      source_.read(hashed_, buf);
      feed(hashed_, buf);
    }
  }
  /// Feeds the bytes at `offset`, which must be where the hash stands.
  void feed(std::uint64_t offset, std::span<const std::uint8_t> bytes) {
    if (offset != hashed_) throw std::logic_error("StreamHash: bytes fed out of order");
    hasher_.update(bytes);
    hashed_ += bytes.size();
  }
  std::uint64_t position() const { return hashed_; }
  chain::Hash32 finish() { return hasher_.finish(); }

 private:
  const UpdateSource& source_;
  protocol::UpdateHasher hasher_;
  std::uint64_t hashed_ = 0;
};

/// Chunks sent straight from the caller's memory (UpdateSource::in_place) are lent to ZeroMQ,
/// which lets each go once its I/O thread has encrypted or dropped it. The upload does not end
/// (return or throw) before every lent chunk is back, so the caller may free its update the
/// moment upload_update ends.
class Lender {
 public:
  /// `channel`: the socket the chunk goes out on, closed by settle() if it keeps the chunk.
  zmq::message_t lend(std::span<const std::uint8_t> bytes, detail::Channel& channel) {
    channel_ = &channel;
    {
      std::lock_guard lock(state_->mutex);
      ++state_->out;
    }
    return zmq::message_t(const_cast<std::uint8_t*>(bytes.data()), bytes.size(), &Lender::returned,
                          new std::shared_ptr<State>(state_));
  }
  /// Waits for every lent chunk. Chunks still queued after `patience` (a server that stopped
  /// reading) are dropped by closing their socket (LINGER 0), which returns them. Never throws.
  void settle(std::chrono::milliseconds patience) noexcept {
    std::unique_lock lock(state_->mutex);
    if (state_->cv.wait_for(lock, patience, [&] { return state_->out == 0; })) return;
    lock.unlock();
    try {
      if (channel_ != nullptr) channel_->reconnect();
    } catch (...) {  // the old socket is closed before anything can throw; wait regardless
    }
    lock.lock();
    state_->cv.wait(lock, [&] { return state_->out == 0; });
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::size_t out = 0;
  };
  static void returned(void*, void* hint) {
    auto* state = static_cast<std::shared_ptr<State>*>(hint);
    {
      std::lock_guard lock((*state)->mutex);
      --(*state)->out;
    }
    (*state)->cv.notify_all();
    delete state;
  }
  std::shared_ptr<State> state_ = std::make_shared<State>();
  detail::Channel* channel_ = nullptr;
};

/// How one pass of chunks (after one UploadBegin) ended.
struct Pass {
  bool complete = false;  ///< durable_offset reached the total
  std::uint64_t durable = 0;
  std::string why;  ///< why it stopped early, for the final error
  bool timed_out = false;
  wire::ErrorCode refusal = wire::ERR_UNSPECIFIED;
};

/// Refusals of a chunk after which beginning again (from the server's resume_offset) can
/// succeed: a transient refusal, or chunks that raced a refusal or a server restart.
bool restartable(wire::ErrorCode code) {
  return is_transient(code) || code == wire::ERR_OUT_OF_RANGE || code == wire::ERR_REPLAY ||
         code == wire::ERR_BAD_CHECKSUM || code == wire::ERR_UNKNOWN_UPLOAD;
}

}  // namespace

UploadResult NodeClient::upload_update(std::uint64_t task_id, std::uint64_t round,
                                       const UpdateSource& source, std::uint64_t num_samples,
                                       const Signer& signer) {
  if (signer.key == nullptr) throw std::invalid_argument("upload_update: Signer.key is null");
  Impl& im = *impl_;
  UploadResult res;
  res.total_bytes = source.size_bytes();
  StreamHash hash(source);
  const std::optional<chain::Hash32> known_hash = source.digest();  // then nothing is hashed here
  std::uint64_t best_durable = 0;
  std::uint64_t acknowledged = 0;  // highest durable_offset any ChunkAck reported
  int stalls = 0, busy = 0;
  std::optional<detail::Clock::time_point> busy_since;
  const std::span<const std::uint8_t> in_place = source.in_place();
  Lender lender;
  struct Settle {  // on every way out of this function, returned or thrown
    Lender& lender;
    std::chrono::milliseconds patience;
    ~Settle() { lender.settle(patience); }
  } settle{lender, im.opt.timeout};

  for (bool first = true;; first = false) {
    detail::Channel& ch = im.round();
    // --- begin (or begin again): the server says where to continue ------------------------
    wire::Envelope begin;
    auto* b = begin.mutable_upload_begin();
    b->set_task_id(task_id);
    b->set_round(round);
    b->set_parameters(source.parameters());
    b->set_dtype(source.dtype());
    const protocol::Message accepted_msg =
        im.call(ch, std::move(begin), wire::Envelope::kUploadAccepted, "UploadBegin");
    const wire::UploadAccepted& acc = accepted_msg.envelope.upload_accepted();
    if (acc.total_bytes() != res.total_bytes || acc.resume_offset() > acc.total_bytes() ||
        acc.chunk_bytes() == 0)
      throw ServerError(wire::ERR_MALFORMED,
                        "UploadBegin: " + ch.endpoint() + " answered total_bytes " +
                            std::to_string(acc.total_bytes()) + ", resume_offset " +
                            std::to_string(acc.resume_offset()) + ", chunk_bytes " +
                            std::to_string(acc.chunk_bytes()) + " for an update of " +
                            std::to_string(res.total_bytes) + " bytes");
    if (first) res.first_resume_offset = acc.resume_offset();
    res.resume_offsets.push_back(acc.resume_offset());
    if (acc.resume_offset() < acknowledged)
      res.acknowledged_then_lost =
          std::max(res.acknowledged_then_lost, acknowledged - acc.resume_offset());
    res.upload_id = acc.upload_id();
    im.chunk_bytes = acc.chunk_bytes();

    // --- chunks, at most `credits` unacknowledged -------------------------------------------
    const std::uint64_t total = acc.total_bytes(), chunk = acc.chunk_bytes();
    std::uint64_t credits = acc.credits();  // chunks we may still send unacknowledged
    Pass pass;
    pass.durable = acc.resume_offset();
    std::uint64_t next = acc.resume_offset();
    if (!known_hash) hash.seek(next);
    std::map<std::uint64_t, std::uint64_t> in_flight;  // request id -> end offset of its chunk
    while (pass.durable < total) {
      while (credits > 0 && next < total) {
        const std::uint64_t len = std::min(chunk, total - next);
        // In place (lent, no copy) or copied; checksummed and hashed piece by piece, while
        // each piece is in cache.
        zmq::message_t payload = in_place.empty() ? zmq::message_t(static_cast<std::size_t>(len))
                                                  : lender.lend(in_place.subspan(next, len), ch);
        const std::span<std::uint8_t> bytes(static_cast<std::uint8_t*>(payload.data()),
                                            payload.size());
        std::uint32_t crc = 0;
        for (std::size_t at = 0; at < bytes.size(); at += protocol::kChunkPiece) {
          const auto piece = bytes.subspan(at, std::min(protocol::kChunkPiece, bytes.size() - at));
          if (in_place.empty()) source.read(next + at, piece);
          crc = protocol::crc32c(piece, crc);
          if (!known_hash) hash.feed(next + at, piece);
        }
        const auto sum = protocol::checksum_of(crc);
        wire::Envelope e;
        auto* c = e.mutable_upload_chunk();
        c->set_upload_id(acc.upload_id());
        c->set_offset(next);
        c->set_length(static_cast<std::uint32_t>(len));
        c->set_checksum(sum.data(), sum.size());
        const auto id = ch.send(e, &payload, detail::Clock::now() + im.opt.timeout);
        if (!id) {  // the socket is stuck: the wait below times out and restarts
          if (!known_hash) hash.seek(next);  // rewinds (re-reads) so the chunk can be fed again
          break;
        }
        in_flight.emplace(*id, next + len);
        --credits;
        next += len;
        res.bytes_sent += len;
        res.max_in_flight = std::max<std::uint32_t>(res.max_in_flight,
                                                    static_cast<std::uint32_t>(in_flight.size()));
      }
      if (in_flight.empty()) {  // credits 0 or an unwritable socket: pause, then begin again
        pass.why = "the server granted no credits";
        pass.refusal = wire::ERR_BUSY;
        break;
      }
      auto reply = ch.receive(detail::Clock::now() + im.opt.timeout);
      if (!reply) {
        pass.timed_out = true;
        pass.why = "no ChunkAck within " + std::to_string(im.opt.timeout.count()) + " ms";
        ch.reconnect();
        break;
      }
      const auto it = in_flight.find(reply->envelope.request_id());
      if (it == in_flight.end()) continue;  // a reply to a request abandoned before this pass
      in_flight.erase(it);
      if (reply->envelope.has_chunk_ack()) {
        const auto& ack = reply->envelope.chunk_ack();
        if (ack.durable_offset() > total)
          throw ServerError(wire::ERR_MALFORMED,
                            "ChunkAck: durable_offset " + std::to_string(ack.durable_offset()) +
                                " is past the update's " + std::to_string(total) + " bytes");
        pass.durable = std::max(pass.durable, ack.durable_offset());
        acknowledged = std::max(acknowledged, ack.durable_offset());
        credits += ack.credits();
        continue;
      }
      if (reply->envelope.has_error() && restartable(reply->envelope.error().code())) {
        pass.refusal = reply->envelope.error().code();
        pass.why = protocol::code_name(pass.refusal) + ": " + reply->envelope.error().message();
        break;  // chunks still in flight will be refused too; their replies are skipped by id
      }
      if (reply->envelope.has_error()) throw im.refusal("UploadChunk", ch, reply->envelope.error());
      throw ServerError(wire::ERR_MALFORMED,
                        "UploadChunk: " + ch.endpoint() + " replied with an unexpected message");
    }
    pass.complete = pass.durable >= total;

    if (pass.complete) {
      // --- commit: the whole-update hash, signed as EIP-712 Update. A commit whose reply was
      // lost and whose retry meets ERR_DUPLICATE went through. Any other refusal ends the call;
      // the caller may upload again (the server keeps the durable bytes). ------------------
      if (known_hash) {
        res.update_hash = *known_hash;
      } else {
        hash.seek(total);
        res.update_hash = hash.finish();
      }
      chain::UpdateMessage m{task_id, round, res.update_hash, num_samples};
      const auto sig = chain::sign_update(*signer.key, signer.domain, m);
      wire::Envelope e;
      auto* c = e.mutable_upload_commit();
      c->set_upload_id(acc.upload_id());
      c->set_update_hash(res.update_hash.data(), res.update_hash.size());
      c->set_num_samples(num_samples);
      c->set_signature(sig.data(), sig.size());
      if (const wire::SplitCommitment* split = source.split()) *c->mutable_split() = *split;
      const auto reply = im.call(ch, std::move(e), wire::Envelope::kCommitted, "UploadCommit",
                                 /*duplicate_means_done=*/true);
      if (reply.envelope.has_error()) {
        res.already_committed = true;
        return res;
      }
      const std::string& echoed = reply.envelope.committed().update_hash();
      if (echoed.size() != 32 || std::memcmp(echoed.data(), res.update_hash.data(), 32) != 0)
        throw ServerError(wire::ERR_HASH_MISMATCH, "UploadCommit: " + ch.endpoint() +
                                                       " committed a different update hash than " +
                                                       chain::to_hex(res.update_hash));
      return res;
    }

    // --- restart: bounded by passes that made no progress -----------------------------------
    ++res.restarts;
    const bool progressed = pass.durable > best_durable;
    if (progressed) {
      best_durable = pass.durable;
      stalls = 0;
      busy_since.reset();
      busy = 0;
    }
    // Refused for load (no credits, ERR_BUSY, ERR_RATE_LIMITED): wait within busy_patience.
    if (is_transient(pass.refusal) && im.wait_out_busy(busy_since, busy)) continue;
    if (!progressed && ++stalls > im.opt.retries) {
      const std::string msg = "upload of " + std::to_string(total) + " bytes to " + ch.endpoint() +
                              " made no progress past byte " + std::to_string(best_durable) +
                              " in " + std::to_string(stalls) + " attempts; last: " + pass.why;
      if (pass.timed_out) throw TimeoutError(msg);
      throw ServerError(pass.refusal, msg);
    }
    std::this_thread::sleep_for(im.backoff(std::max(stalls - 1, 0)));
  }
}

}  // namespace murmur::client
