#pragma once
// Ingest: murmurd's side of an upload between its begin and its commit. It owns the chunk
// credits and the in-flight byte budget, the begins waiting for budget, each upload's running
// update hash, the chunks between the loop and the sync threads (`Landing`), and the sync
// threads themselves with their job queue and the inproc socket their completions come back on.
//
// The loop thread calls it with values (an upload, a chunk, its routing id and request id) and
// sends the replies it returns; the upload handlers (handlers.cpp) stay thin. The sync threads
// share nothing with the loop but the guarded queue of `SyncJob`s they take and the completions
// they post back over inproc; the spool and the state store they write through are thread-safe.
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "metrics.hpp"
#include "murmur/chain/address.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/wire.hpp"
#include "murmur/server/config.hpp"
#include "spool.hpp"
#include "state_store.hpp"

namespace murmur::server {

using Clock = std::chrono::steady_clock;

/// A reply the loop sends on the round socket to the node with routing id `identity`.
struct Reply {
  std::string identity;
  wire::Envelope envelope;
};

/// Chunk credits an open upload holds (each worth chunk_bytes of the in-flight budget), and
/// what it moved since they were granted (the hoarding bound: Ingest::release_idle_credits).
struct Credits {
  std::uint32_t held = 0;
  Clock::time_point last_used = Clock::now();
  Clock::time_point granted = Clock::now();
  std::uint64_t bytes = 0;  ///< chunk bytes accepted since the grant
};

/// An UploadBegin that found the in-flight budget spent: answered with its credits as soon as
/// some return (oldest first), or with ERR_BUSY after cfg.busy_wait. Nodes then never sleep
/// through a backoff while budget sits unused.
struct WaitingBegin {
  std::uint64_t upload_id = 0;
  chain::Address peer;
  std::uint64_t round = 0;
  std::string identity;  ///< the node's routing id, for the answer
  std::uint64_t request_id = 0;
  Clock::time_point since;
};

/// The update hash of an open upload, advanced by each accepted chunk (chunks arrive in
/// offset order), so a commit costs no second pass over the bytes. Absent or out of step
/// (e.g. an upload resumed after a restart), the commit hashes the spool file instead.
struct RunningHash {
  protocol::UpdateHasher hasher;
  std::uint64_t at = 0;  ///< bytes fed
  std::optional<chain::Hash32> final;
};

/// A chunk the loop accepted, to be written and synced by a sync thread (the frame travels
/// with it, no copy); its ChunkAck goes out when it is synced, and the loop meanwhile serves
/// other chunks. Chunks of one upload may land in any order on different threads: see Landing.
struct SyncJob {
  Upload upload;
  Spool::Descriptors fds;
  std::uint64_t offset = 0;
  zmq::message_t payload;  ///< the chunk's bytes
  std::string identity;    ///< the node's routing id, for the acknowledgement
  std::uint64_t request_id = 0;
};

/// An upload's chunks between the loop and the sync threads, from the first one queued until
/// none is in flight. The loop queues chunks back to back from `queued_end`; the durable offset
/// advances only over the contiguous run of synced chunks, so a crash can never leave a hole
/// below it.
struct Landing {
  Upload upload;
  std::uint64_t durable = 0;  ///< recorded in the spool
  /// End of the last chunk queued; unset after a failed sync (the node begins again from
  /// `durable`).
  std::optional<std::uint64_t> queued_end;
  std::size_t in_flight = 0;                      ///< chunks queued and not yet synced
  std::map<std::uint64_t, std::uint64_t> synced;  ///< synced chunks above `durable`: offset -> end
};

/// What one walk over an accepted chunk found (Ingest::scan_chunk).
struct ChunkScan {
  bool finite = true;  ///< no NaN or Inf for the upload's dtype
  /// The upload's running hash advanced over the chunk, when the chunk follows the hashed
  /// bytes; kept only if the chunk is queued.
  std::optional<protocol::UpdateHasher> hashed;
};

class Ingest {
 public:
  /// `spool`, `store` and `metrics` are thread-safe and outlive it; so does `ctx`.
  Ingest(const Config& cfg, Spool& spool, StateStore& store, Metrics& metrics, zmq::context_t& ctx);
  ~Ingest();
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  /// Binds the completions' socket and starts the sync threads (four, so that the fsyncs of
  /// different uploads overlap on the device).
  void start();
  /// Lets the sync threads finish the queued syncs, joins them, forgets the landings and closes
  /// the completions' socket. Completions not taken are dropped (no ChunkAck).
  void stop();
  /// Where the sync completions arrive, for the loop's poll set.
  zmq::socket_t& completions() { return *completions_; }

  // Credits and begins.
  /// A begin (or a begin again) of `u`: its earlier grant returns to the budget and its earlier
  /// waiting begin is forgotten, a running hash out of step with its durable offset is dropped.
  /// Returns the credits granted (up to peer_credits); 0 when the budget is spent or an older
  /// begin waits (nobody overtakes a waiting begin).
  std::uint32_t begin(const Upload& u);
  /// Queues a begin that got no credits; answer_waiting_begins answers it.
  void wait_for_credits(WaitingBegin w);
  /// The waiting begins answerable now, oldest first: with their credits once the budget has
  /// some, with ERR_BUSY once waited out, with an error once `round` stopped taking uploads
  /// (`uploading`: whether the round engine is in UPLOADING) or their upload ended. While the
  /// oldest simply waits, nothing is looked up: the loop calls this on every turn.
  std::vector<Reply> answer_waiting_begins(bool uploading, std::uint64_t round);
  /// The UploadAccepted that grants `grant` credits to `u`.
  wire::Envelope upload_accepted(const Upload& u, std::uint32_t grant) const;
  /// Returns the upload's credits to the budget.
  void release_credits(std::uint64_t upload_id);
  /// Returns every upload's credits (the stage took its last upload).
  void release_all_credits();
  /// Nobody keeps a share of the budget it does not use. A node that vanished mid-upload:
  /// after 10 s of silence its credits return. A node that trickles (a chunk every few
  /// seconds keeps it from being silent): once cfg.credit_grace has passed since its grant, an
  /// upload that moved less than cfg.min_upload_bytes_per_second on average loses its credits.
  /// Either way its next chunk is refused ERR_BUSY, saying why; it gets new credits by beginning
  /// again, behind the begins that wait for budget.
  void release_idle_credits();
  /// A new round: every credit returns, every running hash is forgotten.
  void new_round();

  // Chunks.
  /// Checks a chunk of the open upload `u` and walks it once in 256 KiB pieces: a credit held,
  /// whole elements, the offset where the last queued chunk ended (or the durable offset), the
  /// CRC-32C, the NaN/Inf scan and the running hash on a copy. Refuses (ProtocolError) all but a
  /// non-finite chunk, which the caller drops with drop_upload.
  ChunkScan scan_chunk(const Upload& u, const wire::UploadChunk& c,
                       std::span<const std::uint8_t> bytes);
  /// Queues a scanned chunk for a sync thread (its frame, no copy) and keeps its running hash;
  /// the ChunkAck goes out when take_completion reports it synced.
  void queue_chunk(const Upload& u, std::uint64_t offset, std::optional<protocol::UpdateHasher>,
                   zmq::message_t payload, std::string identity, std::uint64_t request_id);
  /// A failed upload (a non-finite chunk): its chunks in flight land first, then its spool file
  /// goes, its row is failed, its credits return and its hash is forgotten. Returns the replies
  /// of the completions that arrived meanwhile.
  std::vector<Reply> drop_upload(Upload& u);
  /// One sync completion, if one is waiting: the durable offset advanced over the contiguous
  /// run of synced chunks and recorded in the state store, and the ChunkAck (with its credit
  /// back) or the ERR_INTERNAL to send. nullopt when none is waiting.
  std::optional<Reply> take_completion();
  /// Waits for the upload's chunks still being synced (before its file is closed or its offsets
  /// are read afresh); returns the replies of every completion that arrived meanwhile.
  std::vector<Reply> drain(std::uint64_t upload_id);
  /// The update hash of a complete upload: the running one when it covers every byte, else
  /// read back from the spool.
  chain::Hash32 update_hash_of(const Upload& u);
  /// A committed upload: its credits return and its running hash is forgotten.
  void committed(std::uint64_t upload_id);

 private:
  /// The sync threads' queue: the only state they share with the loop.
  struct SyncQueue {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<SyncJob> jobs;
    bool stopping = false;
  };
  static void run_sync_thread(SyncQueue& queue, Spool& spool, zmq::context_t& ctx);
  /// Processes one completion's frames; nullopt when they are not one.
  std::optional<Reply> on_synced(std::vector<zmq::message_t>& frames);
  std::uint64_t expected_offset(const Upload& u) const;
  std::uint32_t grant_credits(std::uint64_t upload_id);

  static constexpr const char* kSyncedEndpoint = "inproc://murmurd.synced";
  const std::size_t chunk_bytes_, peer_credits_, budget_bytes_;
  const std::chrono::milliseconds busy_wait_, credit_grace_;
  const std::size_t min_bytes_per_second_;
  Spool& spool_;
  StateStore& store_;
  Metrics& metrics_;
  zmq::context_t& ctx_;

  std::map<std::uint64_t, Credits> credits_;      ///< upload id -> credits held
  std::map<std::uint64_t, std::string> revoked_;  ///< upload id -> why its credits returned
  std::size_t inflight_bytes_ = 0;                ///< the credits' worth of bytes, all uploads
  std::deque<WaitingBegin> waiting_;              ///< begins waiting for budget, oldest first
  std::map<std::uint64_t, RunningHash> hashes_;   ///< upload id -> its update hash so far
  std::map<std::uint64_t, Landing> landing_;      ///< upload id -> its chunks in flight, if any
  std::unique_ptr<zmq::socket_t> completions_;    ///< the loop's PULL; a PUSH per sync thread
  std::unique_ptr<SyncQueue> queue_ = std::make_unique<SyncQueue>();
  std::vector<std::thread> sync_threads_;
};

}  // namespace murmur::server
