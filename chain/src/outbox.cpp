#include "murmur/chain/outbox.hpp"

#include <chrono>
#include <stdexcept>

namespace murmur::chain {
namespace {

using sqlite::Statement;

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
  p.nonce = static_cast<std::uint64_t>(st.integer(5));
  p.raw_tx = st.blob(6);
  p.tx_hash = hash_from_hex(st.text(7));
  p.block_number = static_cast<std::uint64_t>(st.integer(8));
  p.error = st.text(9);
  p.attempts = static_cast<int>(st.integer(10));
  return p;
}

}  // namespace

std::string PostingKey::to_string() const {
  return kind + "(task " + task_id.to_dec() + ", round " + round.to_dec() + ")";
}

std::string to_string(PostingState s) {
  switch (s) {
    case PostingState::Prepared: return "prepared";
    case PostingState::Sent: return "sent";
    case PostingState::Confirmed: return "confirmed";
    case PostingState::Reverted: return "reverted";
  }
  return "?";
}

Outbox::Outbox(const std::filesystem::path& file)
    : db_(file, sqlite::Mode::kReadWrite, "outbox", /*serialized=*/true) {
  db_.busy_timeout(5000);
  db_.exec("PRAGMA journal_mode=WAL");
  db_.exec("PRAGMA synchronous=FULL");
  db_.exec(
      "CREATE TABLE IF NOT EXISTS postings ("
      " kind TEXT NOT NULL, task_id TEXT NOT NULL, round TEXT NOT NULL,"
      " state TEXT NOT NULL CHECK (state IN ('prepared','sent','confirmed','reverted')),"
      " sender TEXT NOT NULL, nonce INTEGER NOT NULL, raw_tx BLOB NOT NULL, tx_hash TEXT NOT NULL,"
      " block_number INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',"
      " attempts INTEGER NOT NULL DEFAULT 1, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT "
      "NULL,"
      " PRIMARY KEY (kind, task_id, round))");
}

std::optional<Posting> Outbox::find(const PostingKey& key) const {
  Statement st(db_, std::string("SELECT ") + kColumns +
                        " FROM postings WHERE kind=?1 AND task_id=?2 AND round=?3");
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
        .bind(6, p.raw_tx);
    st.bind(7, to_hex(p.tx_hash)).bind(8, now_ms());
    st.step();
    return;
  }
  Statement st(db_,
               "INSERT INTO postings (kind, task_id, round, state, sender, nonce, raw_tx, tx_hash, "
               "created_ms, updated_ms)"
               " VALUES (?1, ?2, ?3, 'prepared', ?4, ?5, ?6, ?7, ?8, ?8)");
  st.bind(1, p.key.kind).bind(2, p.key.task_id.to_dec()).bind(3, p.key.round.to_dec());
  st.bind(4, p.sender.to_checksum()).bind(5, static_cast<std::int64_t>(p.nonce)).bind(6, p.raw_tx);
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
  Statement st(db_,
               std::string("SELECT ") + kColumns +
                   " FROM postings WHERE state IN ('prepared','sent') ORDER BY created_ms, rowid");
  std::vector<Posting> out;
  while (st.step()) out.push_back(row(st));
  return out;
}

std::vector<Posting> Outbox::all() const {
  Statement st(db_,
               std::string("SELECT ") + kColumns + " FROM postings ORDER BY created_ms, rowid");
  std::vector<Posting> out;
  while (st.step()) out.push_back(row(st));
  return out;
}

}  // namespace murmur::chain
