// The outbox: a SQLite (WAL) journal of chain postings, keyed for idempotency. A signed
// transaction is recorded durably before it is sent, so that after a crash it can be found,
// checked for a receipt, and rebroadcast byte for byte (same nonce: it can land at most once).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/sqlite.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain {

/// Idempotency key of a posting: what it does and for which (task, round).
struct PostingKey {
  std::string kind;  ///< e.g. "finalizeRound"
  U256 task_id;
  U256 round;
  std::string to_string() const;
};

enum class PostingState {
  Prepared,   ///< signed and recorded; may or may not have reached the node
  Sent,       ///< the node accepted it; no receipt seen yet
  Confirmed,  ///< mined with status 1
  Reverted,   ///< mined with status 0 (terminal; `error` says why)
};
std::string to_string(PostingState s);

/// One posting and its current transaction.
struct Posting {
  PostingKey key;
  PostingState state = PostingState::Prepared;
  Address sender;
  std::uint64_t nonce = 0;
  Bytes raw_tx;
  Hash32 tx_hash{};
  std::uint64_t block_number = 0;  ///< once mined
  std::string error;               ///< for Reverted
  int attempts = 1;  ///< transactions signed for this key (a dropped one is re-signed)
};

/// A SQLite-backed outbox. One process at a time should post for a given sender.
class Outbox {
 public:
  /// Opens or creates the database (WAL, synchronous=FULL: a committed record survives power
  /// loss). Throws std::runtime_error naming the file.
  explicit Outbox(const std::filesystem::path& file);
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  std::optional<Posting> find(const PostingKey& key) const;
  /// Records a newly signed transaction for the key (state Prepared). If the key already has a
  /// Prepared/Sent posting (its transaction was dropped), replaces the transaction and counts an
  /// attempt; a Confirmed/Reverted key is refused with std::logic_error.
  void record_prepared(const Posting& p);
  void mark_sent(const PostingKey& key);
  /// Terminal states. `tx_hash` may differ from the recorded one only if the posting was found
  /// landed through another transaction.
  void mark_mined(const PostingKey& key, bool success, const Hash32& tx_hash,
                  std::uint64_t block_number, const std::string& error);
  /// Postings in state Prepared or Sent, oldest first.
  std::vector<Posting> pending() const;
  /// Every posting (for status displays and tests).
  std::vector<Posting> all() const;

 private:
  sqlite::Database db_;
};

}  // namespace murmur::chain
