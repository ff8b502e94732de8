// One SQLite connection and one prepared statement, RAII: the wrapper the chain outbox
// (outbox.db), murmurd's state store (state.db) and its read-only state view share. It lives in
// chain/ because the outbox is the lowest room that keeps SQLite state; server/ links it
// through murmur::chain.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "murmur/chain/bytes.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace murmur::chain::sqlite {

/// How a database is opened.
enum class Mode {
  kReadWrite,  ///< created when missing
  kReadOnly,   ///< must exist; never written
};

/// An open connection, closed on destruction. Error messages start with `context` (e.g.
/// "outbox", "spool") so that a failure names the store it came from.
class Database {
 public:
  /// Opens `file` (SQLITE_OPEN_FULLMUTEX when `serialized`: usable from several threads).
  /// Throws std::runtime_error naming the file.
  Database(const std::filesystem::path& file, Mode mode, std::string context,
           bool serialized = false);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// Runs one or more statements without results; throws with SQLite's message.
  void exec(const std::string& sql) const;
  /// Like exec, ignoring any error (for restoring a pragma in a destructor).
  void exec_quietly(const std::string& sql) const noexcept;
  void busy_timeout(int ms) const;
  /// Rows changed by the last INSERT, UPDATE or DELETE.
  int changes() const;
  /// SQLite's last error message.
  std::string error() const;
  const std::string& context() const { return context_; }
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::string context_;
};

/// A prepared statement, finalized on scope exit. Parameters bind by position from 1, columns
/// read from 0. Binding copies the value (SQLITE_TRANSIENT).
class Statement {
 public:
  /// Throws std::runtime_error "<context>: <SQLite's message> in: <sql>".
  Statement(const Database& db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, std::int64_t v);
  Statement& bind(int i, std::uint64_t v) { return bind(i, static_cast<std::int64_t>(v)); }
  Statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Statement& bind(int i, double v);
  Statement& bind(int i, const std::string& v);
  Statement& bind(int i, const char* v) { return bind(i, std::string(v)); }
  Statement& bind(int i, std::span<const std::uint8_t> v);
  Statement& bind(int i, const Bytes& v) { return bind(i, std::span<const std::uint8_t>(v)); }

  /// True while a row is available; false when done. Throws on an error.
  bool step();

  std::int64_t integer(int col) const;
  double real(int col) const;
  /// SQLite stores NaN as NULL: NULL reads back as NaN.
  double real_or_nan(int col) const;
  bool is_null(int col) const;
  /// "" for NULL.
  std::string text(int col) const;
  /// Empty for NULL.
  Bytes blob(int col) const;

 private:
  const Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace murmur::chain::sqlite
