#include "murmur/client/server_records.hpp"

#include <sqlite3.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace murmur::client::sim {
namespace {

/// A prepared statement with one integer parameter (the round), finalized on scope exit.
class Query {
 public:
  Query(sqlite3* db, const std::filesystem::path& file, const char* sql, std::uint64_t round)
      : db_(db), file_(file) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(file.string() + ": " + sqlite3_errmsg(db) + " in: " + sql);
    sqlite3_bind_int64(stmt_, 1, static_cast<sqlite3_int64>(round));
  }
  ~Query() { sqlite3_finalize(stmt_); }
  bool next() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(file_.string() + ": " + sqlite3_errmsg(db_));
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  /// NULL (SQLite stores NaN as NULL) reads back as NaN.
  double real(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL ? std::numeric_limits<double>::quiet_NaN()
                                                          : sqlite3_column_double(stmt_, col);
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  chain::Bytes blob(int col) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    return p ? chain::Bytes(p, p + sqlite3_column_bytes(stmt_, col)) : chain::Bytes();
  }

 private:
  sqlite3* db_;
  const std::filesystem::path& file_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

ServerRecords::ServerRecords(const std::filesystem::path& data_dir) : file_(data_dir / "state.db") {
  if (!std::filesystem::exists(file_))
    throw std::runtime_error("no murmurd state at " + file_.string() +
                             ": pass the server's data_dir (its config's server.data_dir)");
  if (sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open " + file_.string() + ": " + why);
  }
  sqlite3_busy_timeout(db_, 5000);
}

ServerRecords::~ServerRecords() {
  sqlite3_close(db_);
}

std::optional<std::string> ServerRecords::outcome(std::uint64_t round) const {
  Query q(db_, file_, "SELECT outcome FROM outcomes WHERE round = ?", round);
  if (q.next()) return q.text(0);
  return std::nullopt;
}

std::map<chain::Address, DiagnosticRow> ServerRecords::diagnostics(std::uint64_t round) const {
  Query q(db_, file_,
          "SELECT address, verdict, weight, score, distance FROM diagnostics WHERE round = ?",
          round);
  std::map<chain::Address, DiagnosticRow> out;
  while (q.next())
    out[chain::Address::from_hex(q.text(0))] = {q.text(1), q.real(2), q.real(3), q.real(4)};
  return out;
}

std::vector<VoteRow> ServerRecords::votes(std::uint64_t round) const {
  Query q(db_, file_,
          "SELECT address, model_hash, score, loss, signature FROM votes WHERE round = ? "
          "ORDER BY address",
          round);
  std::vector<VoteRow> out;
  while (q.next())
    out.push_back({chain::Address::from_hex(q.text(0)), chain::hash_from_hex(q.text(1)),
                   static_cast<int>(q.integer(2)), q.real(3), q.blob(4)});
  return out;
}

std::vector<chain::Address> ServerRecords::committed(std::uint64_t round) const {
  Query q(db_, file_, "SELECT address FROM uploads WHERE round = ? AND state = 1 ORDER BY address",
          round);
  std::vector<chain::Address> out;
  while (q.next()) out.push_back(chain::Address::from_hex(q.text(0)));
  return out;
}

}  // namespace murmur::client::sim
