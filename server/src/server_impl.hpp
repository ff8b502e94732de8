#pragma once
// murmurd's round engine, `Server::Impl`: the round's stages and their transitions (`tick`),
// the roles and stakes, the protocol table and its dispatcher (stage_table.cpp), admission and
// the plain messages' handlers (handlers.cpp), the sockets and the event loop (server.cpp).
// What it does not own is in components that each own their state and take values:
//   Ingest        (ingest.hpp)         credits, waiting begins, running hashes, landings, the
//                                      sync threads and their completions
//   SecAggStages  (secagg_stages.hpp)  the SecAgg+ round, its handlers; says which stage is next
//   ChainRounds   (chain_step.hpp)     TaskChain and the chain step's worker
//   aggregate_and_record (aggregate_round.hpp), on the aggregation thread, on values
// The loop thread is the only one that touches this object; every other thread is handed
// values and the thread-safe pieces it uses (docs/ARCHITECTURE.md, section 3).
#include <httplib.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "aggregate_round.hpp"
#include "chain_step.hpp"
#include "fault_watch.hpp"
#include "ingest.hpp"
#include "metrics.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/wire.hpp"
#include "murmur/server/server.hpp"
#include "round_record.hpp"
#include "round_validator.hpp"
#include "secagg_stages.hpp"
#include "shard_coordinator.hpp"
#include "shard_round.hpp"
#include "spool.hpp"
#include "stage_table.hpp"
#include "update_reader.hpp"
#include "zap.hpp"

namespace murmur::server {

std::int64_t unix_ms();

/// Per-peer admission state (keyed by chain address).
struct Peer {
  double tokens = 0;  ///< token bucket for the message rate
  Clock::time_point refilled = Clock::now();
};

enum class Admission { kServe, kRefuse, kDrop };

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
  /// [chain]: what settling the ended round takes, gathered as values for the chain step.
  Settlement settlement_of(const RoundDecision& decision) const;
  /// [chain]: records the chain step's posting, takes the next round's stakes and advances.
  void finish_chain_step(const ChainStep& step);
  void start_aggregation();
  void tally_and_finish();
  wire::Role role_of(const chain::Address& a) const;
  chain::Hash32 seed(std::uint64_t round) const;
  bool all_proposers_committed() const;
  bool all_voters_voted() const;
  void save_state();
  /// One failure of `f`'s work: counted (metrics, the round's record), logged at the start of a
  /// streak and every FaultWatch::kLogEvery after; a round-engine fault that persists past
  /// cfg.fault_limit ends the round as failed with the fault as its reason.
  void note_fault(Fault f, const std::string& error);
  /// `f`'s work succeeded: ends its streak.
  void note_pass(Fault f);
  /// Whether the round can be ended for a fault now: it is open and nothing of it runs on
  /// another thread (its aggregation, its chain step).
  bool can_end_for_fault() const;
  /// Ends the round as `fault_end` says (throws as end_round does; the fault then goes on).
  void end_round_for_fault();
  /// [chain]: records where the round's seed came from (a local one is counted as a fault).
  void record_seed(std::uint64_t round, const chain::Hash32& seed, const std::string& error);

  // stage_table.cpp: which stage accepts which message, and the one dispatcher
  using Check = void (*)(Impl&, Request&);
  using Action = wire::Envelope (*)(Impl&, Request&);
  /// A row's check or handler: a member of Impl, or of SecAggStages (given the round as
  /// persisted, read-only).
  template <auto Handler>
  static auto via(Impl& s, Request& r) {
    if constexpr (std::is_invocable_v<decltype(Handler), Impl&, Request&>)
      return std::invoke(Handler, s, r);
    else
      return std::invoke(Handler, s.secagg, r, std::as_const(s.state));
  }
  /// One row of the protocol: a message, the stages that accept it, and its handler.
  struct Route {
    wire::Envelope::BodyCase message;
    StageSet accepted;                          ///< kAnyStage: not stage-bound
    TaskRound (*names)(const wire::Envelope&);  ///< nullptr: the current task and round
    Check before;  ///< refusals that come before the stage's (the upload it names), or nullptr
    Action action;
  };
  static const std::array<Route, 16> kRoutes;
  /// Finds the message's row, runs its checks and its handler; an empty envelope means the
  /// answer comes later (a chunk's ChunkAck after its sync, a waiting begin's UploadAccepted).
  wire::Envelope handle(Request& request);
  /// Throws ProtocolError unless a message for task/round is accepted in the current stage.
  void admit_stage(StageSet accepted, std::uint64_t task, std::uint64_t round) const;

  // handlers.cpp: admission, then the handlers of the plain (non-SecAgg+) messages
  void on_round_message(std::vector<zmq::message_t>& frames);
  /// A Register that came on `socket`; `plain_session` (plain mode, on the round socket): a
  /// nonce-signed Register that binds the connection's routing id.
  void on_register_message(std::vector<zmq::message_t>& frames, zmq::socket_t& socket,
                           bool plain_session);
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
  // update_reads.cpp: the reads of a round's committed updates (read-only): the voters' on the
  // round endpoint, anyone's on the registration endpoint (a round whose uploads are closed)
  void refuse_non_voter(const Request& r) const;  ///< first in both handlers
  wire::Envelope on_update_list_request(Request& r);
  wire::Envelope on_update_request(Request& r);
  /// One page of `round`'s committed updates (UpdateList) from entry `first`.
  wire::Envelope update_list(std::uint64_t round, std::uint32_t first) const;
  /// The read a range of `round`'s committed update takes (refusals thrown); socket, identity
  /// and request id are the caller's to fill in.
  ReadJob update_range(std::uint64_t round, const wire::UpdateRequest& q) const;
  /// Hands `job` to the reader (ERR_BUSY when its queue is full).
  void submit_read(ReadJob job);
  /// A read anyone may make on the registration endpoint (UpdateListRequest, UpdateRequest,
  /// ModelRequest).
  static bool is_public_read(const wire::Envelope& e);
  /// Answers one (an empty envelope: the range is answered once read).
  wire::Envelope public_read(const wire::Envelope& e, const std::string& identity);
  /// Sends the reads the reader finished.
  void send_reads();
  wire::Envelope round_info(const chain::Address& peer) const;
  Admission admit(const chain::Address& peer);  ///< token bucket per address
  /// The registration endpoint's token bucket per origin (IP address), before any parsing.
  Admission admit_register(const std::string& origin);
  void reply(zmq::socket_t& socket, const zmq::message_t& identity, const wire::Envelope& e,
             std::span<const std::uint8_t> payload = {});
  /// The same with its raw frame a range of a shared buffer, sent without a copy.
  void reply(zmq::socket_t& socket, const zmq::message_t& identity, const wire::Envelope& e,
             const SharedRange& range);
  /// Sends a reply that Ingest returned on the round socket.
  void send(const Reply& r);
  void send(const std::vector<Reply>& replies);

  // server.cpp: the engine's side of the SecAgg+ stages (SecAggStages holds the round)
  /// Draws the round's groups and enters its first stage (or ends the round).
  void begin_secagg(std::uint64_t round);
  /// Applies what SecAggStages decided.
  void follow(const SecAggStep& step);
  void enter_secagg_stage(wire::Stage stage, std::chrono::milliseconds window);
  void start_secagg_aggregation();

  Config cfg;
  StateStore store;  ///< state.db
  Spool spool;       ///< the update files and the models
  chain::Eip712Domain domain;
  std::map<chain::Address, chain::U256> stakes;
  std::unique_ptr<kernels::Backend> backend;
  std::unique_ptr<RoundValidator> validator;  ///< when [validation] is configured
  std::unique_ptr<ShardLink> shard_link;      ///< when [shard]: this shard's link to its set
  std::unique_ptr<CoordinatorLink> coordinator_link;  ///< when [shard] role = "coordinator"
  // shard_engine.cpp: the round engine in a shard set (docs/sharding.md)
  void shard_start();              ///< the coordinator's store and first opening (constructor)
  void coordinator_open();         ///< the coordinator publishes the round it entered
  void shard_follow();             ///< a shard, each tick: the coordinator's round and decision
  bool shard_following() const;    ///< not a shard, or a shard that took its round's opening
  void shard_check_begin() const;  ///< UploadBegin refused at a coordinator / a shard not following
  void shard_check_vote() const;   ///< a Vote refused at a shard
  std::unique_ptr<ChainRounds> chain_rounds;  ///< with [chain]: the chain step
  Metrics metrics;
  std::string public_key, secret_key;

  zmq::context_t ctx;
  Ingest ingest{cfg, spool, store, metrics, ctx};  ///< uploads from begin to commit
  UpdateReader reader{ctx, 2, 64};  ///< range reads of updates and models, off the loop
  /// Bytes of public reads not yet sent (the registration endpoint's readers, all together).
  PublicBudget public_budget{std::max<std::uint64_t>(64u << 20, 4 * cfg.chunk_bytes)};
  std::unique_ptr<zmq::socket_t> round_socket, register_socket, zap_socket;
  std::thread loop_thread, zap_thread, http_thread;
  std::unique_ptr<httplib::Server> http;
  int http_port = 0;
  std::atomic<bool> stopping{false};
  bool started = false;

  // Loop-owned state (a snapshot copy is guarded by snapshot_mutex).
  RoundState state;
  FaultWatch faults;
  /// A fault persisted past cfg.fault_limit: the round (first) to end, the fault, and the
  /// reason, applied on the next wake-up in place of tick (and retried until state.db takes it).
  struct FaultEnd {
    std::uint64_t round = 0;
    Fault fault = Fault::kRoundEngine;
    std::string reason;
  };
  std::optional<FaultEnd> fault_end;
  /// [chain]: the chain step of the current round failed to post; it runs again at this time.
  std::optional<Clock::time_point> settle_retry_at;
  Clock::time_point stage_started = Clock::now();
  std::map<chain::Address, Peer> peers;
  std::map<std::string, chain::Address> sessions;     // routing id -> address (curve off)
  std::map<std::string, std::uint64_t> last_request;  // routing id -> last request id
  std::map<std::string, Peer> register_peers;         // origin -> Register token bucket
  // The ZAP thread's: the registration socket's monitor and the connection caps it feeds.
  std::unique_ptr<zmq::socket_t> register_monitor;
  std::unique_ptr<RegisterGate> register_gate;
  std::future<AggregationResult> aggregation;
  mutable std::mutex snapshot_mutex;
  RoundSnapshot shared_snapshot;
  SecAggStages secagg{cfg, metrics};  ///< the SecAgg+ round, loop-owned
  SecAggOutcome last_secagg;          ///< guarded by snapshot_mutex
  void publish_snapshot();
};

}  // namespace murmur::server
