// Ingest: credits, waiting begins, running hashes, the sync threads and the landings of an
// upload's chunks (ingest.hpp). Every refusal is a typed wire error; nothing a refused chunk
// carried is kept, and nothing already accepted is touched.
#include "ingest.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "murmur/protocol/tensor.hpp"
#include "refuse.hpp"

namespace murmur::server {

Ingest::Ingest(const Config& cfg, Spool& spool, StateStore& store, Metrics& metrics,
               zmq::context_t& ctx)
    : chunk_bytes_(cfg.chunk_bytes),
      peer_credits_(cfg.peer_credits),
      budget_bytes_(cfg.inflight_budget_bytes),
      busy_wait_(cfg.busy_wait),
      credit_grace_(cfg.credit_grace),
      min_bytes_per_second_(cfg.min_upload_bytes_per_second),
      spool_(spool),
      store_(store),
      metrics_(metrics),
      ctx_(ctx) {}

Ingest::~Ingest() {
  stop();
}

void Ingest::start() {
  completions_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pull);
  completions_->set(zmq::sockopt::linger, 0);
  completions_->bind(kSyncedEndpoint);
  queue_->stopping = false;
  for (int i = 0; i < 4; ++i)
    sync_threads_.emplace_back(run_sync_thread, std::ref(*queue_), std::ref(spool_),
                               std::ref(ctx_));
}

void Ingest::stop() {
  {
    std::lock_guard lock(queue_->mutex);
    queue_->stopping = true;  // the threads finish the queued syncs, then leave
  }
  queue_->cv.notify_all();
  for (auto& t : sync_threads_) t.join();
  sync_threads_.clear();
  landing_.clear();
  completions_.reset();
}

void Ingest::run_sync_thread(SyncQueue& queue, Spool& spool, zmq::context_t& ctx) {
  zmq::socket_t done(ctx, zmq::socket_type::push);
  done.set(zmq::sockopt::linger, 0);
  done.connect(kSyncedEndpoint);
  for (;;) {
    SyncJob job;
    {
      std::unique_lock lock(queue.mutex);
      queue.cv.wait(lock, [&] { return queue.stopping || !queue.jobs.empty(); });
      if (queue.jobs.empty()) return;  // stopping, and nothing left to sync
      job = std::move(queue.jobs.front());
      queue.jobs.pop_front();
    }
    const std::span<const std::uint8_t> bytes(static_cast<const std::uint8_t*>(job.payload.data()),
                                              job.payload.size());
    std::string error;
    try {
      spool.write_synced(job.upload, job.fds, job.offset, bytes);
    } catch (const std::exception& e) {
      error = e.what();
    }
    // Completion: upload id, end, request id, chunk size; the routing id; the error text.
    const std::uint64_t end = job.offset + bytes.size();
    std::array<std::uint64_t, 4> head{job.upload.id, end, job.request_id, bytes.size()};
    done.send(zmq::buffer(head.data(), sizeof head), zmq::send_flags::sndmore);
    done.send(zmq::buffer(job.identity), zmq::send_flags::sndmore);
    done.send(zmq::buffer(error), zmq::send_flags::none);
  }
}

std::uint32_t Ingest::grant_credits(std::uint64_t upload_id) {
  const std::size_t available = (budget_bytes_ - inflight_bytes_) / chunk_bytes_;
  const auto grant = static_cast<std::uint32_t>(std::min<std::size_t>(peer_credits_, available));
  if (grant == 0) return 0;
  const auto now = Clock::now();
  credits_[upload_id] = {grant, now, now, 0};
  revoked_.erase(upload_id);
  inflight_bytes_ += grant * chunk_bytes_;
  metrics_.set_inflight(inflight_bytes_);
  return grant;
}

void Ingest::release_credits(std::uint64_t upload_id) {
  if (auto it = credits_.find(upload_id); it != credits_.end()) {
    inflight_bytes_ -= it->second.held * chunk_bytes_;
    credits_.erase(it);
    metrics_.set_inflight(inflight_bytes_);
  }
}

void Ingest::release_all_credits() {
  while (!credits_.empty()) release_credits(credits_.begin()->first);
}

void Ingest::release_idle_credits() {
  const auto now = Clock::now();
  std::vector<std::pair<std::uint64_t, std::string>> out;
  for (const auto& [id, c] : credits_) {
    const double held = std::chrono::duration<double>(now - c.granted).count();
    if (now - c.last_used > std::chrono::seconds(10)) {
      out.emplace_back(id, "upload " + std::to_string(id) +
                               " sent nothing for 10 s: its credits returned to the budget");
    } else if (min_bytes_per_second_ > 0 && now - c.granted > credit_grace_ &&
               static_cast<double>(c.bytes) < static_cast<double>(min_bytes_per_second_) * held) {
      out.emplace_back(id, "upload " + std::to_string(id) + " moved " + std::to_string(c.bytes) +
                               " bytes in " + std::to_string(static_cast<long>(held * 1000)) +
                               " ms, below the server's minimum of " +
                               std::to_string(min_bytes_per_second_) +
                               " bytes/s: its credits returned to the budget");
      metrics_.refused("CREDITS_RETURNED_SLOW");
    }
  }
  for (auto& [id, why] : out) {
    release_credits(id);
    revoked_[id] = std::move(why);
  }
}

void Ingest::new_round() {
  release_all_credits();
  revoked_.clear();
  hashes_.clear();
}

std::uint32_t Ingest::begin(const Upload& u) {
  release_credits(u.id);  // a second begin replaces the first grant, and the first waiting one
  std::erase_if(waiting_, [&](const WaitingBegin& w) { return w.upload_id == u.id; });
  if (auto h = hashes_.find(u.id); h != hashes_.end() && h->second.at != u.durable)
    hashes_.erase(h);
  return waiting_.empty() ? grant_credits(u.id) : 0;
}

void Ingest::wait_for_credits(WaitingBegin w) {
  waiting_.push_back(std::move(w));
}

wire::Envelope Ingest::upload_accepted(const Upload& u, std::uint32_t grant) const {
  wire::Envelope out;
  auto* a = out.mutable_upload_accepted();
  a->set_upload_id(u.id);
  a->set_resume_offset(u.durable);
  a->set_total_bytes(u.total_bytes());
  a->set_chunk_bytes(static_cast<std::uint32_t>(chunk_bytes_));
  a->set_credits(grant);
  return out;
}

std::vector<Reply> Ingest::answer_waiting_begins(bool uploading, std::uint64_t round) {
  std::vector<Reply> out;
  const auto now = Clock::now();
  while (!waiting_.empty()) {
    const WaitingBegin& w = waiting_.front();
    const bool open = uploading && round == w.round;
    const bool budget = budget_bytes_ - inflight_bytes_ >= chunk_bytes_;
    if (open && !budget && now - w.since < busy_wait_) break;
    wire::Envelope e;
    if (!open) {
      e = protocol::error_envelope(
          w.request_id, wire::ERR_WRONG_STAGE,
          "round " + std::to_string(w.round) +
              " stopped taking uploads while this begin waited for budget");
    } else if (!budget) {
      e = protocol::error_envelope(w.request_id, wire::ERR_BUSY,
                                   "in-flight byte budget exhausted for " +
                                       std::to_string(busy_wait_.count()) +
                                       " ms; begin again shortly");
    } else if (const auto u = store_.upload(w.round, w.peer);
               !u || u->id != w.upload_id || u->state != UploadState::kOpen) {
      e = protocol::error_envelope(
          w.request_id, wire::ERR_UNKNOWN_UPLOAD,
          "upload " + std::to_string(w.upload_id) + " ended while it waited for budget");
    } else {
      e = upload_accepted(*u, grant_credits(u->id));
      e.set_request_id(w.request_id);
    }
    out.push_back({w.identity, std::move(e)});
    waiting_.pop_front();
  }
  return out;
}

std::uint64_t Ingest::expected_offset(const Upload& u) const {
  // Chunks follow one another: the next one starts where the last one queued ended (it may
  // still be syncing), or at the durable offset when nothing is in flight.
  const auto l = landing_.find(u.id);
  return l != landing_.end() && l->second.queued_end ? *l->second.queued_end : u.durable;
}

ChunkScan Ingest::scan_chunk(const Upload& u, const wire::UploadChunk& c,
                             std::span<const std::uint8_t> bytes) {
  if (auto cr = credits_.find(u.id); cr == credits_.end() || cr->second.held == 0) {
    if (const auto r = revoked_.find(u.id); r != revoked_.end())
      refuse(wire::ERR_BUSY, r->second + "; begin the upload again");
    refuse(wire::ERR_RATE_LIMITED,
           "no chunk credit left: wait for an acknowledgement (or begin the upload again)");
  }
  const std::size_t elem = protocol::element_bytes(u.dtype);
  if (bytes.size() != c.length())
    refuse(wire::ERR_MALFORMED, "chunk declares " + std::to_string(c.length()) +
                                    " bytes, carries " + std::to_string(bytes.size()));
  if (bytes.empty() || bytes.size() % elem != 0 || c.offset() % elem != 0)
    refuse(wire::ERR_MALFORMED, "chunks hold whole elements of " + std::to_string(elem) + " bytes");
  const std::uint64_t expected = expected_offset(u);
  if (c.offset() < expected)
    refuse(wire::ERR_REPLAY, "bytes below " + std::to_string(expected) + " are already received");
  if (c.offset() > expected)
    refuse(wire::ERR_OUT_OF_RANGE, "expected the chunk at offset " + std::to_string(expected) +
                                       ", got " + std::to_string(c.offset()));
  if (c.offset() + bytes.size() > u.total_bytes())
    refuse(wire::ERR_OUT_OF_RANGE, "chunk ends at " + std::to_string(c.offset() + bytes.size()) +
                                       ", past the update's " + std::to_string(u.total_bytes()) +
                                       " bytes");
  // One walk over the chunk in cache-sized pieces: checksum, NaN/Inf scan, and the running
  // update hash on a copy that is kept only if the chunk is queued.
  auto h = hashes_.find(u.id);
  if (h == hashes_.end() && c.offset() == 0) h = hashes_.try_emplace(u.id).first;
  ChunkScan scan;
  if (h != hashes_.end() && h->second.at == c.offset() && !h->second.final)
    scan.hashed = h->second.hasher;
  std::uint32_t crc = 0;
  for (std::size_t at = 0; at < bytes.size(); at += protocol::kChunkPiece) {
    const auto piece = bytes.subspan(at, std::min(protocol::kChunkPiece, bytes.size() - at));
    crc = protocol::crc32c(piece, crc);
    scan.finite = scan.finite && protocol::all_finite(u.dtype, piece);
    if (scan.hashed) scan.hashed->update(piece);
  }
  const protocol::Checksum sum = protocol::checksum_of(crc);
  if (c.checksum().size() != sum.size() ||
      std::memcmp(c.checksum().data(), sum.data(), sum.size()) != 0)
    refuse(wire::ERR_BAD_CHECKSUM,
           "chunk at offset " + std::to_string(c.offset()) + " does not match its checksum");
  return scan;
}

void Ingest::queue_chunk(const Upload& u, std::uint64_t offset,
                         std::optional<protocol::UpdateHasher> hashed, zmq::message_t payload,
                         std::string identity, std::uint64_t request_id) {
  const Spool::Descriptors fds = spool_.open_upload(u);
  const std::uint64_t end = offset + payload.size();
  if (auto h = hashes_.find(u.id); hashed) {  // scan_chunk hashed it: the entry exists
    h->second.hasher = std::move(*hashed);
    h->second.at = end;
  } else if (h != hashes_.end()) {
    hashes_.erase(h);  // out of step: the commit reads the spool file instead
  }
  Credits& credits = credits_.at(u.id);
  credits.last_used = Clock::now();
  credits.bytes += payload.size();
  Landing& queued =
      landing_.try_emplace(u.id, Landing{u, u.durable, std::nullopt, 0, {}}).first->second;
  queued.queued_end = end;
  ++queued.in_flight;
  {
    std::lock_guard lock(queue_->mutex);
    queue_->jobs.push_back({u, fds, offset, std::move(payload), std::move(identity), request_id});
  }
  queue_->cv.notify_one();
}

std::vector<Reply> Ingest::drop_upload(Upload& u) {
  std::vector<Reply> replies = drain(u.id);  // its file is about to go
  spool_.discard(u);
  store_.fail(u);
  release_credits(u.id);
  hashes_.erase(u.id);
  return replies;
}

std::optional<Reply> Ingest::on_synced(std::vector<zmq::message_t>& frames) {
  std::array<std::uint64_t, 4> head{};
  if (frames.size() != 3 || frames[0].size() != sizeof head) return std::nullopt;
  std::memcpy(head.data(), frames[0].data(), sizeof head);
  const auto [upload_id, end, request_id, chunk] = head;
  std::string error = frames[2].to_string();
  std::uint64_t durable = 0;
  if (auto l = landing_.find(upload_id); l != landing_.end()) {
    if (!error.empty()) {
      l->second.queued_end.reset();  // the node begins again from the durable offset
    } else {
      // The durable offset moves over the contiguous run of synced chunks, however they landed.
      l->second.synced[end - chunk] = end;
      const std::uint64_t before = l->second.durable;
      for (auto it = l->second.synced.find(l->second.durable); it != l->second.synced.end();
           it = l->second.synced.find(l->second.durable)) {
        l->second.durable = it->second;
        l->second.synced.erase(it);
      }
      try {
        if (l->second.durable > before) store_.mark_durable(l->second.upload, l->second.durable);
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    durable = l->second.durable;
    if (--l->second.in_flight == 0) landing_.erase(l);
  }
  Reply out{frames[1].to_string(), {}};
  if (!error.empty()) {
    spdlog::error("upload {}: {}", upload_id, error);
    out.envelope = protocol::error_envelope(request_id, wire::ERR_INTERNAL, error);
  } else {
    metrics_.bytes_in(chunk);
    auto* ack = out.envelope.mutable_chunk_ack();
    ack->set_upload_id(upload_id);
    ack->set_durable_offset(durable);
    // The spent credit is granted again (the budget is unchanged), unless the upload's credits
    // returned to the budget meanwhile (it was silent or too slow).
    ack->set_credits(credits_.contains(upload_id) ? 1 : 0);
    out.envelope.set_request_id(request_id);
  }
  return out;
}

std::optional<Reply> Ingest::take_completion() {
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(*completions_, std::back_inserter(frames), zmq::recv_flags::dontwait))
    return std::nullopt;
  return on_synced(frames);
}

std::vector<Reply> Ingest::drain(std::uint64_t upload_id) {
  std::vector<Reply> replies;
  while (landing_.contains(upload_id)) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(*completions_, std::back_inserter(frames))) break;
    if (auto r = on_synced(frames)) replies.push_back(std::move(*r));
  }
  return replies;
}

chain::Hash32 Ingest::update_hash_of(const Upload& u) {
  auto h = hashes_.find(u.id);
  if (h == hashes_.end() || h->second.at != u.total_bytes()) return spool_.hash_of(u);
  if (!h->second.final) h->second.final = h->second.hasher.finish();
  return *h->second.final;
}

void Ingest::committed(std::uint64_t upload_id) {
  release_credits(upload_id);
  hashes_.erase(upload_id);
}

}  // namespace murmur::server
