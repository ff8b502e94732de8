#pragma once
// libmurmur-client: one node's connection to murmurd. A DEALER socket per endpoint, CurveZMQ
// with the node's own key pair, and every call bounded: each attempt waits at most
// `timeout` for its reply (zmq_poll with a deadline), a lost reply reconnects the socket and is
// retried `retries` times with doubling backoff, and ERR_BUSY / ERR_RATE_LIMITED are retried for
// at most `busy_patience`.
// Refusals come back as ServerError carrying the wire ErrorCode.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/chain/secp256k1.hpp"
#include "murmur/client/curve_keys.hpp"
#include "murmur/client/update_source.hpp"
#include "murmur/protocol/wire.hpp"

namespace murmur::client {

/// The server refused a request: `code()` is the wire ErrorCode of its Error reply (or
/// ERR_MALFORMED / ERR_HASH_MISMATCH when the reply itself was wrong), `what()` says which
/// request and the server's message.
class ServerError : public protocol::ProtocolError {
 public:
  using protocol::ProtocolError::ProtocolError;
};

/// No reply within the timeout after every retry: the server is down or unreachable.
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClientOptions {
  std::string endpoint;           ///< murmurd's round endpoint, e.g. "tcp://127.0.0.1:7700"
  std::string register_endpoint;  ///< murmurd's registration endpoint
  /// murmurd's CurveZMQ public key (Z85, 40 characters). Empty: no CurveZMQ (only for servers
  /// configured without it, e.g. a transport baseline).
  std::string server_public_key;
  CurveKeyPair curve;                         ///< this node's pair; generated when empty
  std::chrono::milliseconds timeout{10'000};  ///< per attempt, for one reply
  int retries = 4;                            ///< further attempts after a lost reply
  std::chrono::milliseconds backoff{100};     ///< first retry delay; doubles, capped at 5 s
  /// How long one call keeps retrying ERR_BUSY / ERR_RATE_LIMITED (the server's in-flight
  /// budget is full and it serves others first), with jittered backoff capped at 1 s.
  std::chrono::milliseconds busy_patience{120'000};
  std::uint32_t model_window = 4;  ///< ModelRequests in flight while fetching a model
  /// Shared by many clients in one process (murmur load); the client makes its own when null.
  std::shared_ptr<zmq::context_t> context;
};

/// What an upload did.
struct UploadResult {
  chain::Hash32 update_hash{};  ///< keccak-256 of the bytes as uploaded
  std::uint64_t upload_id = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t first_resume_offset = 0;  ///< the server's resume_offset at the first begin
  std::uint64_t bytes_sent = 0;           ///< chunk bytes sent, resends included
  std::uint32_t restarts = 0;       ///< UploadBegin repeated after a lost connection or refusal
  std::uint32_t max_in_flight = 0;  ///< most chunks ever unacknowledged (never above the credits)
  /// resume_offset of every UploadBegin, in order (one entry per pass; the first is the
  /// first_resume_offset).
  std::vector<std::uint64_t> resume_offsets;
  /// Bytes the server acknowledged as durable (ChunkAck) but later resumed below: must be 0
  /// for a server that keeps its fsync promise across crashes.
  std::uint64_t acknowledged_then_lost = 0;
  bool already_committed = false;  ///< a retried commit found the update committed already
};

/// One committed update of a round as murmurd lists it to the round's voters (UpdateList): the
/// proposer's signed Update and where its bytes are.
struct RoundUpdate {
  chain::Address proposer;
  chain::Hash32 update_hash{};  ///< BLAKE3 of the bytes as uploaded
  std::uint64_t num_samples = 0;
  std::vector<std::uint8_t> signature;  ///< EIP-712 Update(taskId, round, updateHash, numSamples)
  wire::DType dtype = wire::DTYPE_F32;
  std::uint64_t total_bytes = 0;
  bool included = false;  ///< in the candidate's included set (the posted bitmap)
};

/// The round's committed updates as listed to its voters, and the candidate they went into.
struct RoundUpdates {
  chain::Hash32 candidate{};
  std::vector<RoundUpdate> updates;  ///< sorted by proposer address
  chain::Hash32 base_model{};        ///< the model the round started from (zero: not recorded)
  std::string rule;                  ///< the rule's text as murmurd recorded it ("": not recorded)
  std::uint32_t chunk_bytes = 0;     ///< the longest range murmurd serves
};

/// The EIP-712 identity a node signs with: its chain key and the task contract's domain.
struct Signer {
  const chain::PrivateKey* key = nullptr;
  chain::Eip712Domain domain;
};

/// One node's client. Not thread-safe: one per thread (many may share a context).
class NodeClient {
 public:
  explicit NodeClient(ClientOptions options);
  ~NodeClient();
  NodeClient(const NodeClient&) = delete;
  NodeClient& operator=(const NodeClient&) = delete;

  /// This node's Curve public key (Z85).
  const std::string& curve_public_key() const;

  /// Binds this node's Curve key to `key`'s address on the registration endpoint: signs
  /// register_digest(chain_id, curve key) and sends Register. Idempotent. Returns the address.
  chain::Address register_node(const chain::PrivateKey& key, std::uint64_t chain_id);

  /// The current round as the server sees it for this node (role, stage, deadline, model).
  wire::RoundInfo round_info();

  /// Downloads the model stored under `hash` in ranged requests of the round's chunk size
  /// (model_window in flight), checks keccak-256 of the bytes against `hash` (ServerError
  /// ERR_HASH_MISMATCH otherwise) and returns it as f32.
  std::vector<float> fetch_model(const chain::Hash32& hash);

  /// Uploads `source` as this node's update for (task, round): UploadBegin, chunks from the
  /// server's resume_offset with BLAKE2b-128 checksums and at most `credits` unacknowledged,
  /// then UploadCommit with the keccak-256 update hash and the EIP-712 Update signature.
  /// After a timeout it reconnects and begins again, continuing from the resume_offset the
  /// server returns; gives up (TimeoutError / ServerError) after `retries` restarts that made
  /// no progress. Returns once the server has answered Committed.
  UploadResult upload_update(std::uint64_t task_id, std::uint64_t round, const UpdateSource& source,
                             std::uint64_t num_samples, const Signer& signer);
  /// The same for floats held by the caller, sent as `dtype`.
  UploadResult upload_update(std::uint64_t task_id, std::uint64_t round,
                             std::span<const float> values, wire::DType dtype,
                             std::uint64_t num_samples, const Signer& signer);

  /// Votes `score` (+1 or -1) on `model_hash` for (task, round), signed as EIP-712 Vote;
  /// `loss` travels for the record.
  void vote(std::uint64_t task_id, std::uint64_t round, const chain::Hash32& model_hash, int score,
            double loss, const Signer& signer);

  /// A voter's read of (task, round)'s committed updates (stage VOTING; refused ERR_NOT_VOTER
  /// to anyone else): every page of UpdateList. Each entry's Update signature must recover to
  /// its proposer under `domain` (ServerError ERR_BAD_SIGNATURE otherwise: the server served an
  /// update its proposer did not sign).
  RoundUpdates round_updates(std::uint64_t task_id, std::uint64_t round,
                             const chain::Eip712Domain& domain);
  /// The bytes of `update` (ranged UpdateRequests, model_window in flight), checked against its
  /// BLAKE3 update hash (ServerError ERR_HASH_MISMATCH otherwise), as uploaded (its dtype).
  std::vector<std::uint8_t> fetch_update_bytes(std::uint64_t task_id, std::uint64_t round,
                                               const RoundUpdate& update);
  /// The same, widened to f32.
  std::vector<float> fetch_update(std::uint64_t task_id, std::uint64_t round,
                                  const RoundUpdate& update);

  /// One shard's part of `update` in a shard set (split_update_fetch.hpp checks and combines
  /// the parts): bytes [begin, end) of the whole update in ranged UpdateRequests on the round
  /// endpoint (offsets in the whole update, model_window in flight), and the split commitment
  /// the shard serves with the part's first range (`split` unset when it served none). Only the
  /// replies' shape is checked here (proposer, hash, offsets, the whole's size), not the bytes.
  struct UpdatePart {
    std::vector<std::uint8_t> bytes;
    std::optional<wire::SplitCommitment> split;
  };
  UpdatePart fetch_update_part(std::uint64_t task_id, std::uint64_t round,
                               const RoundUpdate& update, std::uint64_t begin, std::uint64_t end);

  /// Anyone's read of a round whose uploads are closed (the current one from VOTING on, any
  /// earlier one), on murmurd's registration endpoint: no registration and no stake, only a
  /// Curve key of the client's own (`murmur verify --from`). Every page of UpdateList, with the
  /// round's base model, rule and chunk size. The entries are NOT checked here: the caller checks
  /// each signed Update (and its bytes) itself, and reports what it finds wrong.
  RoundUpdates public_round_updates(std::uint64_t task_id, std::uint64_t round);
  /// The bytes murmurd serves for `update` on the registration endpoint, in ranges of
  /// `chunk_bytes`; their size must be the listed one (ServerError ERR_MALFORMED), their hash is
  /// NOT checked (the caller's to check and report).
  std::vector<std::uint8_t> public_update_bytes(std::uint64_t task_id, std::uint64_t round,
                                                const RoundUpdate& update,
                                                std::uint32_t chunk_bytes);
  /// The bytes murmurd serves for the model stored under `hash` on the registration endpoint;
  /// NOT checked against `hash` (the caller's to check and report).
  std::vector<std::uint8_t> public_model_bytes(const chain::Hash32& hash,
                                               std::uint32_t chunk_bytes);

  /// The server's round, stage, committed updates, votes and backend.
  wire::Status status();

  /// One request on the round endpoint with this client's timeouts, retries and refusal
  /// handling; the reply must carry `expected` (ERR_DUPLICATE after a lost reply counts as
  /// done and is returned as is). `payload` is the raw frame of a body that carries one. The
  /// SecAgg+ stages (secagg_node.hpp) speak through this.
  protocol::Message exchange(wire::Envelope request, wire::Envelope::BodyCase expected,
                             const char* what, std::span<const std::uint8_t> payload = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace murmur::client
