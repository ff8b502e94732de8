#include "spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>

#include "murmur/chain/keccak.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"

namespace murmur::server {
namespace {

/// A prepared statement, finalized on scope exit; binds by position from 1.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("spool: ") + sqlite3_errmsg(db) + " in: " + sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); return *this; }
  Statement& bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); return *this; }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::span<const std::uint8_t> v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("spool: ") + sqlite3_errmsg(db_));
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  /// SQLite stores NaN as NULL: NULL reads back as NaN.
  double real_or_nan(int col) const {
    return is_null(col) ? std::numeric_limits<double>::quiet_NaN() : real(col);
  }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  chain::Bytes blob(int col) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    return chain::Bytes(p, p + sqlite3_column_bytes(stmt_, col));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

std::string hex(const chain::Hash32& h) { return chain::to_hex(h, false); }
chain::Hash32 unhex(const std::string& s) { return s.empty() ? chain::Hash32{} : chain::hash_from_hex(s); }

void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

/// For the statement(s) in its scope, SQLite's WAL is written but not fsynced
/// (synchronous=NORMAL; the caller holds the mutex): a process crash cannot lose what was
/// written (the WAL is in the page cache) and a power loss can only roll back to the last
/// FULL transaction (a commit, a vote, a round change), which syncs everything before it. Used
/// where a lost row costs a node a few re-sent bytes, never an acknowledged commit.
struct Spool::RelaxedSync {
  const Spool& spool;
  explicit RelaxedSync(const Spool& s) : spool(s) { spool.exec("PRAGMA synchronous=NORMAL;"); }
  ~RelaxedSync() { sqlite3_exec(spool.db_, "PRAGMA synchronous=FULL;", nullptr, nullptr, nullptr); }
  RelaxedSync(const RelaxedSync&) = delete;
  RelaxedSync& operator=(const RelaxedSync&) = delete;
};

namespace {

Upload upload_from(const Statement& s) {
  Upload u;
  u.round = static_cast<std::uint64_t>(s.integer(0));
  u.address = chain::Address::from_hex(s.text(1));
  u.id = static_cast<std::uint64_t>(s.integer(2));
  u.dtype = static_cast<wire::DType>(s.integer(3));
  u.parameters = static_cast<std::uint64_t>(s.integer(4));
  u.durable = static_cast<std::uint64_t>(s.integer(5));
  u.state = static_cast<UploadState>(s.integer(6));
  u.update_hash = unhex(s.text(7));
  u.num_samples = static_cast<std::uint64_t>(s.integer(8));
  u.signature = s.blob(9);
  return u;
}

constexpr const char* kUploadColumns =
    "round, address, upload_id, dtype, parameters, durable, state, update_hash, num_samples, signature";

}  // namespace

std::uint64_t Upload::total_bytes() const { return parameters * protocol::element_bytes(dtype); }

Spool::Spool(const std::filesystem::path& dir) : dir_(dir) {
  std::filesystem::create_directories(dir_ / "spool");
  std::filesystem::create_directories(dir_ / "models");
  if (sqlite3_open((dir_ / "state.db").c_str(), &db_) != SQLITE_OK)
    throw std::runtime_error("spool: cannot open " + (dir_ / "state.db").string());
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  exec(
      "CREATE TABLE IF NOT EXISTS bindings(curve_key TEXT PRIMARY KEY, address TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS round_state(id INTEGER PRIMARY KEY CHECK (id = 1), round INTEGER,"
      "  stage INTEGER, deadline INTEGER, global_model TEXT, candidate_model TEXT);"
      "CREATE TABLE IF NOT EXISTS outcomes(round INTEGER PRIMARY KEY, outcome TEXT);"
      "CREATE TABLE IF NOT EXISTS uploads(round INTEGER, address TEXT, upload_id INTEGER,"
      "  dtype INTEGER, parameters INTEGER, durable INTEGER, state INTEGER, update_hash TEXT,"
      "  num_samples INTEGER, signature BLOB, PRIMARY KEY(round, address));"
      "CREATE TABLE IF NOT EXISTS votes(round INTEGER, address TEXT, model_hash TEXT,"
      "  score INTEGER, loss REAL, signature BLOB, PRIMARY KEY(round, address));"
      "CREATE TABLE IF NOT EXISTS diagnostics(round INTEGER, address TEXT, verdict TEXT,"
      "  weight REAL, score REAL, distance REAL, PRIMARY KEY(round, address));"
      "CREATE TABLE IF NOT EXISTS rounds(round INTEGER PRIMARY KEY, updates INTEGER, rule TEXT,"
      "  base_model TEXT, candidate_model TEXT, aggregation_seconds REAL,"
      "  validated INTEGER DEFAULT 0, previous_loss REAL, previous_accuracy REAL,"
      "  candidate_loss REAL, candidate_accuracy REAL, candidate_status TEXT,"
      "  validation_rows INTEGER, contribution_weights TEXT, validation_candidates INTEGER,"
      "  validation_seconds REAL,"
      "  outcome TEXT, reason TEXT, stake_for TEXT, stake_against TEXT, votes INTEGER,"
      "  votes_for INTEGER, votes_against INTEGER,"
      "  posting TEXT, posting_tx TEXT, posting_block INTEGER, posting_error TEXT);");
  // state.db files from before the round record get the new columns.
  const auto add_columns = [&](const char* table, std::initializer_list<const char*> columns) {
    std::vector<std::string> have;
    {
      Statement s(db_, (std::string("PRAGMA table_info(") + table + ")").c_str());
      while (s.step()) have.push_back(s.text(1));
    }
    for (const char* column : columns) {
      const std::string name(column, std::strchr(column, ' '));
      if (std::find(have.begin(), have.end(), name) == have.end())
        exec(std::string("ALTER TABLE ") + table + " ADD COLUMN " + column);
    }
  };
  add_columns("diagnostics", {"flag TEXT DEFAULT ''", "alone_status TEXT DEFAULT ''",
                              "alone_loss REAL", "alone_accuracy REAL", "without_loss REAL",
                              "without_accuracy REAL", "contribution REAL"});
  add_columns("round_state", {"seed TEXT DEFAULT ''"});
}

Spool::~Spool() {
  for (auto& [path, d] : fds_) {
    ::close(d.buffered);
    if (d.direct >= 0) ::close(d.direct);
  }
  sqlite3_close(db_);
}

void Spool::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error("spool: " + msg);
  }
}

void Spool::bind(const std::string& curve_key, const chain::Address& address) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR REPLACE INTO bindings VALUES (?, ?)")
      .bind(1, curve_key).bind(2, address.to_lower_hex()).step();
}

std::optional<chain::Address> Spool::bound(const std::string& curve_key) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT address FROM bindings WHERE curve_key = ?");
  s.bind(1, curve_key);
  if (!s.step()) return std::nullopt;
  return chain::Address::from_hex(s.text(0));
}

std::optional<RoundState> Spool::load_round() const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT round, stage, deadline, global_model, candidate_model, seed FROM round_state");
  if (!s.step()) return std::nullopt;
  return RoundState{static_cast<std::uint64_t>(s.integer(0)), static_cast<wire::Stage>(s.integer(1)),
                    s.integer(2), unhex(s.text(3)), unhex(s.text(4)), unhex(s.text(5))};
}

void Spool::save_round(const RoundState& r) {
  std::lock_guard lock(mutex_);
  Statement(db_,
            "INSERT OR REPLACE INTO round_state(id, round, stage, deadline, global_model, "
            "candidate_model, seed) VALUES (1, ?, ?, ?, ?, ?, ?)")
      .bind(1, static_cast<std::int64_t>(r.round)).bind(2, static_cast<std::int64_t>(r.stage))
      .bind(3, r.deadline_unix_ms).bind(4, hex(r.global_model)).bind(5, hex(r.candidate_model))
      .bind(6, r.seed == chain::Hash32{} ? std::string() : hex(r.seed)).step();
}

void Spool::record_outcome(std::uint64_t round, const std::string& outcome) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR REPLACE INTO outcomes VALUES (?, ?)")
      .bind(1, static_cast<std::int64_t>(round)).bind(2, outcome).step();
}

std::string Spool::outcome(std::uint64_t round) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT outcome FROM outcomes WHERE round = ?");
  s.bind(1, static_cast<std::int64_t>(round));
  return s.step() ? s.text(0) : "";
}

std::optional<Upload> Spool::upload(std::uint64_t round, const chain::Address& address) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, (std::string("SELECT ") + kUploadColumns + " FROM uploads WHERE round = ? AND address = ?").c_str());
  s.bind(1, static_cast<std::int64_t>(round)).bind(2, address.to_lower_hex());
  if (!s.step()) return std::nullopt;
  return upload_from(s);
}

Upload Spool::begin_upload(std::uint64_t round, const chain::Address& address, wire::DType dtype,
                           std::uint64_t parameters) {
  if (auto existing = upload(round, address); existing && existing->state != UploadState::kFailed &&
                                              existing->dtype == dtype)
    return *existing;
  std::lock_guard lock(mutex_);
  Statement next(db_, "SELECT COALESCE(MAX(upload_id), 0) + 1 FROM uploads");
  next.step();
  Upload u;
  u.round = round;
  u.address = address;
  u.id = static_cast<std::uint64_t>(next.integer(0));
  u.dtype = dtype;
  u.parameters = parameters;
  // Not synced on its own (see RelaxedSync): lost only with power, before any byte of it was
  // acknowledged durable, and then the node simply begins again.
  const RelaxedSync relaxed(*this);
  Statement(db_, "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, 0, 0, '', 0, x'')")
      .bind(1, static_cast<std::int64_t>(round)).bind(2, address.to_lower_hex())
      .bind(3, static_cast<std::int64_t>(u.id)).bind(4, static_cast<std::int64_t>(dtype))
      .bind(5, static_cast<std::int64_t>(parameters)).step();
  return u;
}

std::filesystem::path Spool::file(const Upload& u) const {
  std::string round_dir = "r", name = u.address.to_lower_hex();
  round_dir += std::to_string(u.round);
  name += '-';
  name += std::to_string(u.id);
  name += ".bin";
  return dir_ / "spool" / round_dir / name;
}

Spool::Descriptors Spool::open_upload(const Upload& u) {
  const auto path = file(u);
  if (auto it = fds_.find(path.string()); it != fds_.end()) return it->second;
  std::filesystem::create_directories(path.parent_path());
  Descriptors d;
  d.buffered = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  if (d.buffered < 0) throw std::runtime_error("spool: cannot open " + path.string() + ": " + std::strerror(errno));
  d.direct = ::open(path.c_str(), O_WRONLY | O_DIRECT);  // -1 (EINVAL) where unsupported
  fds_[path.string()] = d;
  std::lock_guard lock(mutex_);
  unnamed_.insert(d.buffered);  // its directory entry is synced with its first chunk, off the loop
  return d;
}

namespace {

/// O_DIRECT wants the buffer, the file offset and the length aligned to the device's logical
/// block; 4096 covers 512-byte and 4K devices.
constexpr std::size_t kDirectAlign = 4096;

/// Writes all `n` bytes at `offset`. With `may_refuse`, a file system that refuses the first
/// write outright (EINVAL: O_DIRECT after all not for this file) gives false instead of throwing.
bool pwrite_all(int fd, const std::uint8_t* p, std::size_t n, std::uint64_t offset, bool may_refuse = false) {
  for (std::size_t done = 0; done < n;) {
    const ssize_t w = ::pwrite(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && may_refuse && done == 0) return false;
    if (w <= 0) throw std::runtime_error("spool: write failed: " + std::string(std::strerror(errno)));
    done += static_cast<std::size_t>(w);
  }
  return true;
}

/// The aligned run of `bytes` (at file offset `offset`, itself aligned) through O_DIRECT, by way
/// of an aligned per-thread buffer; returns how many bytes it wrote (0 if the kernel refused).
std::size_t write_direct(int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset) {
  const std::size_t n = bytes.size() / kDirectAlign * kDirectAlign;
  if (fd < 0 || n == 0 || offset % kDirectAlign != 0) return 0;
  struct Free {
    void operator()(std::uint8_t* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<std::uint8_t, Free> buffer;
  thread_local std::size_t capacity = 0;
  if (capacity < n) {
    buffer.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kDirectAlign, n)));
    capacity = buffer ? n : 0;
    if (!buffer) return 0;
  }
  std::memcpy(buffer.get(), bytes.data(), n);
  return pwrite_all(fd, buffer.get(), n, offset, /*may_refuse=*/true) ? n : 0;
}

}  // namespace

void Spool::write_synced(const Upload& u, Descriptors fds, std::uint64_t offset,
                         std::span<const std::uint8_t> bytes) {
  const std::size_t direct = write_direct(fds.direct, bytes, offset);
  pwrite_all(fds.buffered, bytes.data() + direct, bytes.size() - direct, offset + direct);
  if (::fdatasync(fds.buffered) != 0)
    throw std::runtime_error(std::string("spool: fdatasync failed: ") + std::strerror(errno));
  bool named = false;
  {
    std::lock_guard lock(mutex_);
    named = unnamed_.erase(fds.buffered) == 0;
  }
  if (!named) fsync_dir(file(u).parent_path());
}

void Spool::mark_durable(const Upload& u, std::uint64_t end) {
  // One fsync per chunk instead of two: the offset is not synced on its own (RelaxedSync).
  std::lock_guard lock(mutex_);
  const RelaxedSync relaxed(*this);
  Statement(db_, "UPDATE uploads SET durable = MAX(durable, ?) WHERE round = ? AND address = ? AND upload_id = ?")
      .bind(1, static_cast<std::int64_t>(end)).bind(2, static_cast<std::int64_t>(u.round))
      .bind(3, u.address.to_lower_hex()).bind(4, static_cast<std::int64_t>(u.id)).step();
}

chain::Hash32 Spool::hash_of(const Upload& u) const {
  std::ifstream in(file(u), std::ios::binary);
  protocol::UpdateHasher h;
  std::vector<std::uint8_t> buf(1 << 20);
  std::uint64_t left = u.durable;
  while (left > 0 && in) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
    h.update(std::span(buf.data(), static_cast<std::size_t>(in.gcount())));
    left -= static_cast<std::uint64_t>(in.gcount());
  }
  return h.finish();
}

void Spool::commit(Upload& u, const chain::Hash32& hash, std::uint64_t samples,
                   const chain::Bytes& signature) {
  u.state = UploadState::kCommitted;
  u.update_hash = hash;
  u.num_samples = samples;
  u.signature = signature;
  std::lock_guard lock(mutex_);
  Statement(db_, "UPDATE uploads SET state = 1, update_hash = ?, num_samples = ?, signature = ? WHERE round = ? AND address = ?")
      .bind(1, hex(hash)).bind(2, static_cast<std::int64_t>(samples)).bind(3, signature)
      .bind(4, static_cast<std::int64_t>(u.round)).bind(5, u.address.to_lower_hex()).step();
}

void Spool::fail(Upload& u) {
  const auto path = file(u);
  std::lock_guard lock(mutex_);
  if (auto it = fds_.find(path.string()); it != fds_.end()) {
    unnamed_.erase(it->second.buffered);  // the number may name another file next
    ::close(it->second.buffered);
    if (it->second.direct >= 0) ::close(it->second.direct);
    fds_.erase(it);
  }
  std::filesystem::remove(path);
  u.state = UploadState::kFailed;
  Statement(db_, "UPDATE uploads SET state = 2 WHERE round = ? AND address = ?")
      .bind(1, static_cast<std::int64_t>(u.round)).bind(2, u.address.to_lower_hex()).step();
}

std::vector<Upload> Spool::committed(std::uint64_t round) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, (std::string("SELECT ") + kUploadColumns +
                    " FROM uploads WHERE round = ? AND state = 1 ORDER BY address").c_str());
  s.bind(1, static_cast<std::int64_t>(round));
  std::vector<Upload> out;
  while (s.step()) out.push_back(upload_from(s));
  return out;
}

chain::Hash32 Spool::store_model(std::span<const float> values) {
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(values.data()),
                                            values.size_bytes());
  const chain::Hash32 hash = chain::keccak256(bytes);
  const auto path = dir_ / "models" / (hex(hash) + ".f32");
  if (std::filesystem::exists(path) && std::filesystem::file_size(path) == bytes.size()) return hash;
  const auto tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("spool: cannot write " + tmp);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error("spool: write failed for " + tmp);
    }
    done += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  std::filesystem::rename(tmp, path);
  fsync_dir(path.parent_path());
  return hash;
}

bool Spool::has_model(const chain::Hash32& hash) const {
  return std::filesystem::exists(dir_ / "models" / (hex(hash) + ".f32"));
}

std::uint64_t Spool::model_bytes(const chain::Hash32& hash) const {
  return std::filesystem::file_size(dir_ / "models" / (hex(hash) + ".f32"));
}

std::vector<std::uint8_t> Spool::read_model(const chain::Hash32& hash, std::uint64_t offset,
                                            std::uint64_t length) const {
  std::ifstream in(dir_ / "models" / (hex(hash) + ".f32"), std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::vector<std::uint8_t> out(length);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(length));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

std::vector<float> Spool::load_model(const chain::Hash32& hash) const {
  const auto bytes = read_model(hash, 0, model_bytes(hash));
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

bool Spool::record_vote(std::uint64_t round, const VoteRecord& v) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "INSERT OR IGNORE INTO votes VALUES (?, ?, ?, ?, ?, ?)");
  s.bind(1, static_cast<std::int64_t>(round)).bind(2, v.voter.to_lower_hex()).bind(3, hex(v.model_hash))
      .bind(4, static_cast<std::int64_t>(v.score)).bind(5, v.loss).bind(6, v.signature).step();
  return sqlite3_changes(db_) == 1;
}

std::vector<VoteRecord> Spool::votes(std::uint64_t round) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT address, model_hash, score, loss, signature FROM votes WHERE round = ? ORDER BY address");
  s.bind(1, static_cast<std::int64_t>(round));
  std::vector<VoteRecord> out;
  while (s.step())
    out.push_back({chain::Address::from_hex(s.text(0)), unhex(s.text(1)), static_cast<int>(s.integer(2)),
                   s.real(3), s.blob(4)});
  return out;
}

void Spool::record_diagnostic(std::uint64_t round, const chain::Address& address,
                              const std::string& verdict, double weight, double score,
                              double distance, const std::string& flag) {
  std::lock_guard lock(mutex_);
  Statement(db_,
            "INSERT OR REPLACE INTO diagnostics(round, address, verdict, weight, score, distance, "
            "flag) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(1, static_cast<std::int64_t>(round)).bind(2, address.to_lower_hex()).bind(3, verdict)
      .bind(4, weight).bind(5, score).bind(6, distance).bind(7, flag).step();
}

void Spool::record_update_validation(std::uint64_t round, const chain::Address& address,
                                     const UpdateValidation& v) {
  std::lock_guard lock(mutex_);
  Statement(db_,
            "UPDATE diagnostics SET alone_status = ?, alone_loss = ?, alone_accuracy = ?, "
            "without_loss = ?, without_accuracy = ?, contribution = ? WHERE round = ? AND address = ?")
      .bind(1, v.alone_status).bind(2, v.alone_loss).bind(3, v.alone_accuracy)
      .bind(4, v.without_loss).bind(5, v.without_accuracy).bind(6, v.contribution)
      .bind(7, static_cast<std::int64_t>(round)).bind(8, address.to_lower_hex()).step();
}

void Spool::record_aggregation(std::uint64_t round, std::uint64_t updates, const std::string& rule,
                               const chain::Hash32& base, const chain::Hash32& candidate,
                               double seconds,
                               const std::optional<RoundValidationRecord>& validation) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR IGNORE INTO rounds(round) VALUES (?)")
      .bind(1, static_cast<std::int64_t>(round)).step();
  Statement(db_,
            "UPDATE rounds SET updates = ?, rule = ?, base_model = ?, candidate_model = ?, "
            "aggregation_seconds = ? WHERE round = ?")
      .bind(1, static_cast<std::int64_t>(updates)).bind(2, rule).bind(3, hex(base))
      .bind(4, hex(candidate)).bind(5, seconds).bind(6, static_cast<std::int64_t>(round)).step();
  if (!validation) return;
  const RoundValidationRecord& v = *validation;
  Statement(db_,
            "UPDATE rounds SET validated = 1, previous_loss = ?, previous_accuracy = ?, "
            "candidate_loss = ?, candidate_accuracy = ?, candidate_status = ?, validation_rows = ?, "
            "contribution_weights = ?, validation_candidates = ?, validation_seconds = ? "
            "WHERE round = ?")
      .bind(1, v.previous_loss).bind(2, v.previous_accuracy).bind(3, v.candidate_loss)
      .bind(4, v.candidate_accuracy).bind(5, v.candidate_status)
      .bind(6, static_cast<std::int64_t>(v.rows)).bind(7, v.weights)
      .bind(8, static_cast<std::int64_t>(v.candidates)).bind(9, v.seconds)
      .bind(10, static_cast<std::int64_t>(round)).step();
}

void Spool::record_decision(std::uint64_t round, const RoundDecision& d) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR IGNORE INTO rounds(round) VALUES (?)")
      .bind(1, static_cast<std::int64_t>(round)).step();
  Statement(db_,
            "UPDATE rounds SET outcome = ?, reason = ?, stake_for = ?, stake_against = ?, "
            "votes = ?, votes_for = ?, votes_against = ? WHERE round = ?")
      .bind(1, std::string(to_string(d.outcome))).bind(2, d.reason).bind(3, d.stake_for.to_dec())
      .bind(4, d.stake_against.to_dec()).bind(5, static_cast<std::int64_t>(d.votes))
      .bind(6, static_cast<std::int64_t>(d.votes_for))
      .bind(7, static_cast<std::int64_t>(d.votes_against))
      .bind(8, static_cast<std::int64_t>(round)).step();
}

void Spool::record_posting(std::uint64_t round, const RoundPosting& p) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR IGNORE INTO rounds(round) VALUES (?)")
      .bind(1, static_cast<std::int64_t>(round)).step();
  Statement(db_,
            "UPDATE rounds SET posting = ?, posting_tx = ?, posting_block = ?, posting_error = ? "
            "WHERE round = ?")
      .bind(1, p.state).bind(2, p.tx == chain::Hash32{} ? std::string() : hex(p.tx))
      .bind(3, static_cast<std::int64_t>(p.block)).bind(4, p.error)
      .bind(5, static_cast<std::int64_t>(round)).step();
}

std::vector<std::uint64_t> Spool::recorded_rounds() const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT round FROM rounds ORDER BY round");
  std::vector<std::uint64_t> out;
  while (s.step()) out.push_back(static_cast<std::uint64_t>(s.integer(0)));
  return out;
}

std::optional<RoundRecord> Spool::round_record(std::uint64_t round) const {
  std::lock_guard lock(mutex_);
  Statement s(db_,
              "SELECT updates, rule, base_model, candidate_model, aggregation_seconds, validated, "
              "previous_loss, previous_accuracy, candidate_loss, candidate_accuracy, "
              "candidate_status, validation_rows, contribution_weights, validation_candidates, "
              "validation_seconds, outcome, reason, stake_for, stake_against, votes, votes_for, "
              "votes_against, posting, posting_tx, posting_block, posting_error "
              "FROM rounds WHERE round = ?");
  s.bind(1, static_cast<std::int64_t>(round));
  if (!s.step()) return std::nullopt;
  RoundRecord r;
  r.round = round;
  r.update_count = static_cast<std::uint64_t>(s.integer(0));
  r.rule = s.text(1);
  r.base_model = unhex(s.text(2));
  r.candidate_model = unhex(s.text(3));
  r.aggregation_seconds = s.real_or_nan(4);
  if (s.integer(5) != 0) {
    RoundValidationRecord v;
    v.previous_loss = s.real_or_nan(6);
    v.previous_accuracy = s.real_or_nan(7);
    v.candidate_loss = s.real_or_nan(8);
    v.candidate_accuracy = s.real_or_nan(9);
    v.candidate_status = s.text(10);
    v.rows = static_cast<std::uint64_t>(s.integer(11));
    v.weights = s.text(12);
    v.candidates = static_cast<std::uint64_t>(s.integer(13));
    v.seconds = s.real_or_nan(14);
    r.validation = v;
  }
  if (!s.is_null(15)) {
    RoundDecision d;
    const std::string outcome = s.text(15);
    for (auto o : {RoundOutcome::kAccepted, RoundOutcome::kRejected, RoundOutcome::kNoQuorum,
                   RoundOutcome::kFailed})
      if (outcome == to_string(o)) d.outcome = o;
    d.reason = s.text(16);
    d.stake_for = chain::U256::from_string(s.text(17));
    d.stake_against = chain::U256::from_string(s.text(18));
    d.votes = static_cast<std::uint64_t>(s.integer(19));
    d.votes_for = static_cast<std::uint64_t>(s.integer(20));
    d.votes_against = static_cast<std::uint64_t>(s.integer(21));
    r.decision = d;
  }
  if (!s.is_null(22)) {
    RoundPosting p;
    p.state = s.text(22);
    p.tx = unhex(s.text(23));
    p.block = static_cast<std::uint64_t>(s.integer(24));
    p.error = s.text(25);
    r.posting = p;
  }
  Statement u(db_,
              "SELECT address, verdict, weight, score, distance, flag, alone_status, alone_loss, "
              "alone_accuracy, without_loss, without_accuracy, contribution FROM diagnostics "
              "WHERE round = ? ORDER BY address");
  u.bind(1, static_cast<std::int64_t>(round));
  while (u.step()) {
    UpdateRecord row;
    row.address = chain::Address::from_hex(u.text(0));
    row.verdict = u.text(1);
    row.weight = u.real_or_nan(2);
    row.score = u.real_or_nan(3);
    row.distance = u.real_or_nan(4);
    row.flag = u.text(5);
    row.validation = {u.text(6),         u.real_or_nan(7),  u.real_or_nan(8),
                      u.real_or_nan(9),  u.real_or_nan(10), u.real_or_nan(11)};
    r.updates.push_back(row);
  }
  return r;
}

}  // namespace murmur::server
