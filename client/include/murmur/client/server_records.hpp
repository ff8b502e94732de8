#pragma once
// Read-only view of a murmurd's state.db (server/src/spool.cpp's schema): what the round engine
// recorded per round. The simulator reads it to report the rule's diagnostics and to post the
// signed votes on chain; SQLite's WAL lets it read while murmurd writes.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"

struct sqlite3;

namespace murmur::client::sim {

struct DiagnosticRow {
  std::string verdict;
  double weight = 0, score = 0, distance = 0;  ///< NaN where the server stored none
};

struct VoteRow {
  chain::Address voter;
  chain::Hash32 model_hash{};
  int score = 0;
  double loss = 0;
  chain::Bytes signature;
};

class ServerRecords {
 public:
  /// Opens <data_dir>/state.db read-only; throws std::runtime_error naming the file.
  explicit ServerRecords(const std::filesystem::path& data_dir);
  ~ServerRecords();
  ServerRecords(const ServerRecords&) = delete;
  ServerRecords& operator=(const ServerRecords&) = delete;

  std::optional<std::string> outcome(std::uint64_t round) const;
  std::map<chain::Address, DiagnosticRow> diagnostics(std::uint64_t round) const;
  std::vector<VoteRow> votes(std::uint64_t round) const;
  /// Addresses with a committed upload in the round.
  std::vector<chain::Address> committed(std::uint64_t round) const;

 private:
  sqlite3* db_ = nullptr;
  std::filesystem::path file_;
};

}  // namespace murmur::client::sim
