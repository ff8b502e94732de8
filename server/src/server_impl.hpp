#pragma once
// Server internals shared by the event loop (server.cpp), the message handlers (handlers.cpp)
// and the ZAP handler (zap.cpp). One thread owns the sockets and all of this state; the
// aggregation runs on its own thread and hands back a result.
#include <httplib.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "aggregate_round.hpp"
#include "metrics.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/wire.hpp"
#include "murmur/secagg/bucketing.hpp"
#include "murmur/server/server.hpp"
#include "round_record.hpp"
#include "round_validator.hpp"
#include "spool.hpp"
#include "stage_table.hpp"
#include "task_chain.hpp"

namespace murmur::server {

using Clock = std::chrono::steady_clock;
std::int64_t unix_ms();

/// Per-peer admission state (keyed by chain address).
struct Peer {
  double tokens = 0;  ///< token bucket for the message rate
  Clock::time_point refilled = Clock::now();
};

enum class Admission { kServe, kRefuse, kDrop };

/// Chunk credits an open upload holds (each worth chunk_bytes of the in-flight budget).
struct Credits {
  std::uint32_t held = 0;
  Clock::time_point last_used = Clock::now();
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

/// What the chain worker hands back at the end of a round.
struct ChainStep {
  RoundPosting posting;
  chain::Hash32 next_seed{};  ///< zero when the next round was not opened
  std::string open_error;
  std::map<chain::Address, chain::U256> next_stakes;  ///< empty when they could not be read
};

/// A SecAgg+ round in memory only: masked inputs and shares are never written to disk, so a
/// restart in the middle of one ends that round.
struct SecAggRound {
  explicit SecAggRound(secagg::GroupPlan plan) : server(std::move(plan)) {}
  std::uint64_t round = 0;
  secagg::BucketedServer server;
  std::map<chain::Address, secagg::NodeId> ids;  ///< the round's proposers, by address order
  std::vector<chain::Address> addresses;         ///< by global id
  std::set<secagg::NodeId> advertised, dealt, checked, unmasked, masked_done;
  std::map<secagg::NodeId, std::vector<std::uint32_t>> masked;  ///< masked words as they arrive
  /// Global ids of every group's U1.
  std::set<secagg::NodeId> u1() const;
};

struct Server::Impl {
  explicit Impl(Config c);

  // server.cpp: lifecycle, the loop, the round engine
  void run();
  void tick();
  /// `seed`: the round's seed on chain; zero: the local seed.
  void enter_uploading(std::uint64_t round, const chain::Hash32& global, const chain::Hash32& seed);
  /// Records the decision; without [chain] advances at once, with it starts the chain step.
  void end_round(const RoundDecision& decision);
  /// A round that ends without a decision by votes (no proposer, SecAgg+ cannot run, ...).
  void end_round(RoundOutcome outcome, std::string reason) {
    RoundDecision d;
    d.outcome = outcome;
    d.reason = std::move(reason);
    end_round(d);
  }
  /// The next round (or the task's end) after `decision`.
  void advance(const RoundDecision& decision, const chain::Hash32& next_seed);
  /// [chain]: opens state.round on chain and adopts its seed (a failure is logged; the local
  /// seed then decides the roles and the round cannot be settled on chain).
  void open_round_on_chain();
  /// Takes the participants and stakes the contract holds (empty: keeps the current ones).
  void use_chain_stakes(const std::map<chain::Address, chain::U256>& from_chain);
  /// Reads them from the contract now (on the loop thread); a failure keeps the known ones.
  void refresh_chain_stakes();
  /// [chain]: on a worker thread, settles the ended round (finalizeRound or abandonRound)
  /// and opens the next one; finish_chain_step records the posting and advances.
  void start_chain_step(const RoundDecision& decision);
  void finish_chain_step();
  void start_aggregation();
  void tally_and_finish();
  wire::Role role_of(const chain::Address& a) const;
  chain::Hash32 seed(std::uint64_t round) const;
  bool all_proposers_committed() const;
  bool all_voters_voted() const;
  void save_state();
  /// Grants the upload up to peer_credits chunk credits from the budget; 0 when it is spent.
  std::uint32_t grant_credits(std::uint64_t upload_id);
  wire::Envelope upload_accepted(const Upload& u, std::uint32_t grant) const;
  /// Answers waiting begins whose credits the budget now has, and those waited out.
  void answer_waiting_begins();
  void release_credits(std::uint64_t upload_id);
  /// The update hash of a complete upload: the running one when it covers every byte, else
  /// read back from the spool.
  chain::Hash32 update_hash_of(const Upload& u);
  void release_idle_credits();

  // stage_table.cpp: which stage accepts which message, and the one dispatcher
  /// One request on its way from the dispatcher to its handler.
  struct Request {
    const chain::Address& peer;
    protocol::Message& message;
    std::vector<std::uint8_t>& payload;  ///< a raw frame for the reply (a model range)
    std::optional<Upload> upload;        ///< the open upload a chunk or commit names
  };
  using Check = void (Impl::*)(Request&);
  using Action = wire::Envelope (Impl::*)(Request&);
  /// One row of the protocol: a message, the stages that accept it, and its handler.
  struct Route {
    wire::Envelope::BodyCase message;
    StageSet accepted;                          ///< kAnyStage: not stage-bound
    TaskRound (*names)(const wire::Envelope&);  ///< nullptr: the current task and round
    Check before;  ///< refusals that come before the stage's (the upload it names), or nullptr
    Action action;
  };
  static const std::array<Route, 14> kRoutes;
  /// Finds the message's row, runs its checks and its handler; an empty envelope means the
  /// answer comes later (a chunk's ChunkAck after its sync, a waiting begin's UploadAccepted).
  wire::Envelope handle(const chain::Address& peer, protocol::Message& m,
                        std::vector<std::uint8_t>& payload);
  /// Throws ProtocolError unless a message for task/round is accepted in the current stage.
  void admit_stage(StageSet accepted, std::uint64_t task, std::uint64_t round) const;

  // handlers.cpp: admission, then the handlers of the plain (non-SecAgg+) messages
  void on_round_message(std::vector<zmq::message_t>& frames);
  void on_register_message(std::vector<zmq::message_t>& frames);
  wire::Envelope on_round_info(Request& r);
  wire::Envelope on_status(Request& r);
  wire::Envelope on_model_request(Request& r);
  wire::Envelope on_misplaced_register(Request& r);
  void refuse_in_secagg_mode(Request& r);  ///< before UploadBegin
  wire::Envelope on_upload_begin(Request& r);
  void find_open_upload(Request& r);  ///< before UploadChunk
  wire::Envelope on_upload_chunk(Request& r);
  void find_upload_to_commit(Request& r);  ///< before UploadCommit
  wire::Envelope on_upload_commit(Request& r);
  wire::Envelope on_vote(Request& r);
  wire::Envelope round_info(const chain::Address& peer) const;
  Admission admit(const chain::Address& peer);  ///< token bucket per address
  void reply(zmq::socket_t& socket, const zmq::message_t& identity, const wire::Envelope& e,
             std::span<const std::uint8_t> payload = {});

  // secagg_stages.cpp: the SecAgg+ stages of a round, when [secagg] is enabled
  void begin_secagg(std::uint64_t round);
  void secagg_tick(std::int64_t now_ms, double elapsed);
  void enter_secagg_stage(wire::Stage stage, std::chrono::milliseconds window);
  void start_secagg_aggregation();
  void refuse_nothing_to_fetch(Request& r);  ///< before SecAggFetch
  wire::Envelope on_secagg_fetch(Request& r);
  wire::Envelope on_secagg_advertise(Request& r);
  wire::Envelope on_secagg_dealing(Request& r);
  wire::Envelope on_secagg_checked(Request& r);
  wire::Envelope on_secagg_masked_chunk(Request& r);
  wire::Envelope on_secagg_unmask_shares(Request& r);
  /// The peer's place in this round's groups; ERR_NOT_PROPOSER when it is not in them.
  secagg::GroupPlan::Placement secagg_member(const chain::Address& peer) const;
  /// The peer's place in this round's SecAgg+ groups, if it is in them.
  std::optional<wire::SecAggPlacement> placement(const chain::Address& peer) const;

  // zap.cpp
  void run_zap();

  Config cfg;
  StateStore store;  ///< state.db
  Spool spool;       ///< the update files and the models
  chain::Eip712Domain domain;
  std::map<chain::Address, chain::U256> stakes;
  std::unique_ptr<kernels::Backend> backend;
  std::unique_ptr<RoundValidator> validator;  ///< when [validation] is configured
  std::unique_ptr<TaskChain> task_chain;      ///< when [chain] is configured
  Metrics metrics;
  std::string public_key, secret_key;

  zmq::context_t ctx;
  std::unique_ptr<zmq::socket_t> round_socket, register_socket, zap_socket;
  std::thread loop_thread, zap_thread, http_thread;
  std::unique_ptr<httplib::Server> http;
  int http_port = 0;
  std::atomic<bool> stopping{false};
  bool started = false;

  // Loop-owned state (a snapshot copy is guarded by snapshot_mutex).
  RoundState state;
  Clock::time_point stage_started = Clock::now();
  std::map<chain::Address, Peer> peers;
  std::map<std::string, chain::Address> sessions;     // routing id -> address (curve off)
  std::map<std::string, std::uint64_t> last_request;  // routing id -> last request id
  std::map<std::uint64_t, Credits> credits;           // upload id -> credits held
  std::deque<WaitingBegin> waiting_begins;            // begins waiting for budget, oldest first
  std::map<std::uint64_t, RunningHash> hashes;        // upload id -> its update hash so far
  std::map<std::uint64_t, Landing> landing;           // upload id -> its chunks in flight, if any
  std::string current_identity;                       // the request being handled: its routing id
  std::uint64_t current_request = 0;                  //   and request id

  // Sync threads: fdatasync + the durable offset, then the completion back to the loop over
  // inproc (a PUSH per thread, the loop's PULL in its poll set), which sends the ChunkAck.
  static constexpr const char* kSyncedEndpoint = "inproc://murmurd.synced";
  std::unique_ptr<zmq::socket_t> synced_socket;
  std::vector<std::thread> sync_threads;
  std::mutex sync_mutex;
  std::condition_variable sync_cv;
  std::deque<SyncJob> sync_jobs;
  bool sync_stopping = false;
  void run_sync_thread();
  /// Sends the ChunkAck (or the error) of one completion from a sync thread.
  void on_synced(std::vector<zmq::message_t>& frames);
  /// Waits for the upload's chunks still being synced (before its file is closed or its
  /// offsets are read afresh), answering whatever completions arrive meanwhile.
  void drain_syncs(std::uint64_t upload_id);
  std::size_t inflight_bytes = 0;
  std::future<AggregationResult> aggregation;
  std::future<ChainStep> chain_step;
  RoundDecision pending_decision;  ///< the decision chain_step is settling
  mutable std::mutex snapshot_mutex;
  RoundSnapshot shared_snapshot;
  std::unique_ptr<SecAggRound> secagg;  ///< loop-owned; moved to the aggregation at the end
  SecAggOutcome last_secagg;            ///< guarded by snapshot_mutex
  void publish_snapshot();
};

}  // namespace murmur::server
