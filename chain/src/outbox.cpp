#include "murmur/chain/outbox.hpp"

#include <sqlite3.h>

#include <chrono>
#include <stdexcept>

namespace murmur::chain {
namespace {

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("outbox: cannot prepare SQL: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.c_str(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind_blob(int i, const Bytes& b) {
    sqlite3_bind_blob(stmt_, i, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("outbox: SQL step failed: ") + sqlite3_errmsg(db_));
  }
  std::string text(int c) const {
    auto p = sqlite3_column_text(stmt_, c);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  std::int64_t int64(int c) const { return sqlite3_column_int64(stmt_, c); }
  Bytes blob(int c) const {
    auto p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, c));
    return p ? Bytes(p, p + sqlite3_column_bytes(stmt_, c)) : Bytes{};
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(std::string("outbox: ") + m + " in: " + sql);
  }
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

PostingState state_from(const std::string& s) {
  if (s == "prepared") return PostingState::Prepared;
  if (s == "sent") return PostingState::Sent;
  if (s == "confirmed") return PostingState::Confirmed;
  if (s == "reverted") return PostingState::Reverted;
  throw std::runtime_error("outbox: unknown posting state '" + s + "'");
}

constexpr const char* kColumns =
    "kind, task_id, round, state, sender, nonce, raw_tx, tx_hash, block_number, error, attempts";

Posting row(const Statement& st) {
  Posting p;
  p.key = {st.text(0), U256::from_string(st.text(1)), U256::from_string(st.text(2))};
  p.state = state_from(st.text(3));
  p.sender = Address::from_hex(st.text(4));
  p.nonce = static_cast<std::uint64_t>(st.int64(5));
  p.raw_tx = st.blob(6);
  p.tx_hash = hash_from_hex(st.text(7));
  p.block_number = static_cast<std::uint64_t>(st.int64(8));
  p.error = st.text(9);
  p.attempts = static_cast<int>(st.int64(10));
  return p;
}

}  // namespace

std::string PostingKey::to_string() const {
  return kind + "(task " + task_id.to_dec() + ", round " + round.to_dec() + ")";
}

std::string to_string(PostingState s) {
  switch (s) {
    case PostingState::Prepared:
      return "prepared";
    case PostingState::Sent:
      return "sent";
    case PostingState::Confirmed:
      return "confirmed";
    case PostingState::Reverted:
      return "reverted";
  }
  return "?";
}

Outbox::Outbox(const std::filesystem::path& file) : file_(file) {
  if (sqlite3_open_v2(file.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string m = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open outbox " + file.string() + ": " + m);
  }
  sqlite3_busy_timeout(db_, 5000);
  exec(db_, "PRAGMA journal_mode=WAL");
  exec(db_, "PRAGMA synchronous=FULL");
  exec(db_,
       "CREATE TABLE IF NOT EXISTS postings ("
       " kind TEXT NOT NULL, task_id TEXT NOT NULL, round TEXT NOT NULL,"
       " state TEXT NOT NULL CHECK (state IN ('prepared','sent','confirmed','reverted')),"
       " sender TEXT NOT NULL, nonce INTEGER NOT NULL, raw_tx BLOB NOT NULL, tx_hash TEXT NOT NULL,"
       " block_number INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',"
       " attempts INTEGER NOT NULL DEFAULT 1, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT "
       "NULL,"
       " PRIMARY KEY (kind, task_id, round))");
}

Outbox::~Outbox() {
  sqlite3_close(db_);
}

std::optional<Posting> Outbox::find(const PostingKey& key) const {
  Statement st(db_, (std::string("SELECT ") + kColumns +
                     " FROM postings WHERE kind=?1 AND task_id=?2 AND round=?3")
                        .c_str());
  st.bind(1, key.kind).bind(2, key.task_id.to_dec()).bind(3, key.round.to_dec());
  if (!st.step()) return std::nullopt;
  return row(st);
}

void Outbox::record_prepared(const Posting& p) {
  auto existing = find(p.key);
  if (existing &&
      (existing->state == PostingState::Confirmed || existing->state == PostingState::Reverted))
    throw std::logic_error("outbox: " + p.key.to_string() + " is already " +
                           to_string(existing->state));
  if (existing) {
    Statement st(db_,
                 "UPDATE postings SET state='prepared', sender=?4, nonce=?5, raw_tx=?6, tx_hash=?7,"
                 " attempts=attempts+1, updated_ms=?8 WHERE kind=?1 AND task_id=?2 AND round=?3");
    st.bind(1, p.key.kind).bind(2, p.key.task_id.to_dec()).bind(3, p.key.round.to_dec());
    st.bind(4, p.sender.to_checksum())
        .bind(5, static_cast<std::int64_t>(p.nonce))
        .bind_blob(6, p.raw_tx);
    st.bind(7, to_hex(p.tx_hash)).bind(8, now_ms());
    st.step();
    return;
  }
  Statement st(db_,
               "INSERT INTO postings (kind, task_id, round, state, sender, nonce, raw_tx, tx_hash, "
               "created_ms, updated_ms)"
               " VALUES (?1, ?2, ?3, 'prepared', ?4, ?5, ?6, ?7, ?8, ?8)");
  st.bind(1, p.key.kind).bind(2, p.key.task_id.to_dec()).bind(3, p.key.round.to_dec());
  st.bind(4, p.sender.to_checksum())
      .bind(5, static_cast<std::int64_t>(p.nonce))
      .bind_blob(6, p.raw_tx);
  st.bind(7, to_hex(p.tx_hash)).bind(8, now_ms());
  st.step();
}

void Outbox::mark_sent(const PostingKey& key) {
  Statement st(
      db_,
      "UPDATE postings SET state='sent', updated_ms=?4 WHERE kind=?1 AND task_id=?2 AND round=?3"
      " AND state='prepared'");
  st.bind(1, key.kind).bind(2, key.task_id.to_dec()).bind(3, key.round.to_dec()).bind(4, now_ms());
  st.step();
}

void Outbox::mark_mined(const PostingKey& key, bool success, const Hash32& tx_hash,
                        std::uint64_t block_number, const std::string& error) {
  Statement st(db_,
               "UPDATE postings SET state=?4, tx_hash=?5, block_number=?6, error=?7, updated_ms=?8"
               " WHERE kind=?1 AND task_id=?2 AND round=?3");
  st.bind(1, key.kind).bind(2, key.task_id.to_dec()).bind(3, key.round.to_dec());
  st.bind(4, success ? "confirmed" : "reverted").bind(5, to_hex(tx_hash));
  st.bind(6, static_cast<std::int64_t>(block_number)).bind(7, error).bind(8, now_ms());
  st.step();
}

std::vector<Posting> Outbox::pending() const {
  Statement st(db_, (std::string("SELECT ") + kColumns +
                     " FROM postings WHERE state IN ('prepared','sent') ORDER BY created_ms, rowid")
                        .c_str());
  std::vector<Posting> out;
  while (st.step()) out.push_back(row(st));
  return out;
}

std::vector<Posting> Outbox::all() const {
  Statement st(
      db_,
      (std::string("SELECT ") + kColumns + " FROM postings ORDER BY created_ms, rowid").c_str());
  std::vector<Posting> out;
  while (st.step()) out.push_back(row(st));
  return out;
}

}  // namespace murmur::chain
