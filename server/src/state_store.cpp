#include "state_store.hpp"

#include "state_reads.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "murmur/protocol/tensor.hpp"

namespace murmur::server {

using chain::sqlite::Statement;

namespace {

std::string hex(const chain::Hash32& h) {
  return chain::to_hex(h, false);
}
chain::Hash32 unhex(const std::string& s) {
  return s.empty() ? chain::Hash32{} : chain::hash_from_hex(s);
}

}  // namespace

/// For the statement(s) in its scope, SQLite's WAL is written but not fsynced
/// (synchronous=NORMAL; the caller holds the mutex): a process crash cannot lose what was
/// written (the WAL is in the page cache) and a power loss can only roll back to the last
/// FULL transaction (a commit, a vote, a round change), which syncs everything before it. Used
/// where a lost row costs a node a few re-sent bytes, never an acknowledged commit.
struct StateStore::RelaxedSync {
  const StateStore& store;
  explicit RelaxedSync(const StateStore& s) : store(s) {
    store.db_.exec("PRAGMA synchronous=NORMAL;");
  }
  ~RelaxedSync() { store.db_.exec_quietly("PRAGMA synchronous=FULL;"); }
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
    "round, address, upload_id, dtype, parameters, durable, state, update_hash, num_samples, "
    "signature";

}  // namespace

std::uint64_t Upload::total_bytes() const {
  return parameters * protocol::element_bytes(dtype);
}

namespace {

/// The folder first: a fresh data directory gets its state.db.
std::filesystem::path state_db(const std::filesystem::path& data_dir) {
  std::filesystem::create_directories(data_dir);
  return data_dir / "state.db";
}

}  // namespace

StateStore::StateStore(const std::filesystem::path& data_dir)
    : db_(state_db(data_dir), chain::sqlite::Mode::kReadWrite, "spool") {
  db_.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  db_.exec(
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
        db_.exec(std::string("ALTER TABLE ") + table + " ADD COLUMN " + column);
    }
  };
  add_columns("diagnostics", {"flag TEXT DEFAULT ''", "alone_status TEXT DEFAULT ''",
                              "alone_loss REAL", "alone_accuracy REAL", "without_loss REAL",
                              "without_accuracy REAL", "contribution REAL"});
  add_columns("round_state", {"seed TEXT DEFAULT ''"});
  add_columns("rounds", {"validation_error TEXT DEFAULT ''", "seed_source TEXT DEFAULT ''",
                         "seed_error TEXT DEFAULT ''", "faults TEXT DEFAULT ''"});
}

void StateStore::bind(const std::string& curve_key, const chain::Address& address) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR REPLACE INTO bindings VALUES (?, ?)")
      .bind(1, curve_key)
      .bind(2, address.to_lower_hex())
      .step();
}

std::optional<chain::Address> StateStore::bound(const std::string& curve_key) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT address FROM bindings WHERE curve_key = ?");
  s.bind(1, curve_key);
  if (!s.step()) return std::nullopt;
  return chain::Address::from_hex(s.text(0));
}

std::optional<RoundState> StateStore::load_round() const {
  std::lock_guard lock(mutex_);
  Statement s(
      db_, "SELECT round, stage, deadline, global_model, candidate_model, seed FROM round_state");
  if (!s.step()) return std::nullopt;
  return RoundState{static_cast<std::uint64_t>(s.integer(0)),
                    static_cast<wire::Stage>(s.integer(1)),
                    s.integer(2),
                    unhex(s.text(3)),
                    unhex(s.text(4)),
                    unhex(s.text(5))};
}

void StateStore::save_round(const RoundState& r) {
  std::lock_guard lock(mutex_);
  Statement(db_,
            "INSERT OR REPLACE INTO round_state(id, round, stage, deadline, global_model, "
            "candidate_model, seed) VALUES (1, ?, ?, ?, ?, ?, ?)")
      .bind(1, static_cast<std::int64_t>(r.round))
      .bind(2, static_cast<std::int64_t>(r.stage))
      .bind(3, r.deadline_unix_ms)
      .bind(4, hex(r.global_model))
      .bind(5, hex(r.candidate_model))
      .bind(6, r.seed == chain::Hash32{} ? std::string() : hex(r.seed))
      .step();
}

void StateStore::record_outcome(std::uint64_t round, const std::string& outcome) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR REPLACE INTO outcomes VALUES (?, ?)")
      .bind(1, static_cast<std::int64_t>(round))
      .bind(2, outcome)
      .step();
}

std::string StateStore::outcome(std::uint64_t round) const {
  std::lock_guard lock(mutex_);
  return state_reads::outcome(db_, round).value_or("");
}

std::optional<Upload> StateStore::upload(std::uint64_t round, const chain::Address& address) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, (std::string("SELECT ") + kUploadColumns +
                    " FROM uploads WHERE round = ? AND address = ?")
                       .c_str());
  s.bind(1, static_cast<std::int64_t>(round)).bind(2, address.to_lower_hex());
  if (!s.step()) return std::nullopt;
  return upload_from(s);
}

Upload StateStore::begin_upload(std::uint64_t round, const chain::Address& address,
                                wire::DType dtype, std::uint64_t parameters) {
  if (auto existing = upload(round, address);
      existing && existing->state != UploadState::kFailed && existing->dtype == dtype)
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
      .bind(1, static_cast<std::int64_t>(round))
      .bind(2, address.to_lower_hex())
      .bind(3, static_cast<std::int64_t>(u.id))
      .bind(4, static_cast<std::int64_t>(dtype))
      .bind(5, static_cast<std::int64_t>(parameters))
      .step();
  return u;
}

void StateStore::mark_durable(const Upload& u, std::uint64_t end) {
  // One fsync per chunk instead of two: the offset is not synced on its own (RelaxedSync).
  std::lock_guard lock(mutex_);
  const RelaxedSync relaxed(*this);
  Statement(db_,
            "UPDATE uploads SET durable = MAX(durable, ?) WHERE round = ? AND address = ? AND "
            "upload_id = ?")
      .bind(1, static_cast<std::int64_t>(end))
      .bind(2, static_cast<std::int64_t>(u.round))
      .bind(3, u.address.to_lower_hex())
      .bind(4, static_cast<std::int64_t>(u.id))
      .step();
}

void StateStore::commit(Upload& u, const chain::Hash32& hash, std::uint64_t samples,
                        const chain::Bytes& signature) {
  u.state = UploadState::kCommitted;
  u.update_hash = hash;
  u.num_samples = samples;
  u.signature = signature;
  std::lock_guard lock(mutex_);
  Statement(db_,
            "UPDATE uploads SET state = 1, update_hash = ?, num_samples = ?, signature = ? WHERE "
            "round = ? AND address = ?")
      .bind(1, hex(hash))
      .bind(2, static_cast<std::int64_t>(samples))
      .bind(3, signature)
      .bind(4, static_cast<std::int64_t>(u.round))
      .bind(5, u.address.to_lower_hex())
      .step();
}

void StateStore::fail(Upload& u) {
  u.state = UploadState::kFailed;
  std::lock_guard lock(mutex_);
  Statement(db_, "UPDATE uploads SET state = 2 WHERE round = ? AND address = ?")
      .bind(1, static_cast<std::int64_t>(u.round))
      .bind(2, u.address.to_lower_hex())
      .step();
}

std::vector<Upload> StateStore::committed(std::uint64_t round) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, (std::string("SELECT ") + kUploadColumns +
                    " FROM uploads WHERE round = ? AND state = 1 ORDER BY address")
                       .c_str());
  s.bind(1, static_cast<std::int64_t>(round));
  std::vector<Upload> out;
  while (s.step()) out.push_back(upload_from(s));
  return out;
}

bool StateStore::record_vote(std::uint64_t round, const VoteRecord& v) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "INSERT OR IGNORE INTO votes VALUES (?, ?, ?, ?, ?, ?)");
  s.bind(1, static_cast<std::int64_t>(round))
      .bind(2, v.voter.to_lower_hex())
      .bind(3, hex(v.model_hash))
      .bind(4, static_cast<std::int64_t>(v.score))
      .bind(5, v.loss)
      .bind(6, v.signature)
      .step();
  return db_.changes() == 1;
}

std::vector<VoteRecord> StateStore::votes(std::uint64_t round) const {
  std::lock_guard lock(mutex_);
  return state_reads::votes(db_, round);
}

void StateStore::record_diagnostic(std::uint64_t round, const chain::Address& address,
                                   const std::string& verdict, double weight, double score,
                                   double distance, const std::string& flag) {
  std::lock_guard lock(mutex_);
  Statement(db_,
            "INSERT OR REPLACE INTO diagnostics(round, address, verdict, weight, score, distance, "
            "flag) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(1, static_cast<std::int64_t>(round))
      .bind(2, address.to_lower_hex())
      .bind(3, verdict)
      .bind(4, weight)
      .bind(5, score)
      .bind(6, distance)
      .bind(7, flag)
      .step();
}

void StateStore::record_update_validation(std::uint64_t round, const chain::Address& address,
                                          const UpdateValidation& v) {
  std::lock_guard lock(mutex_);
  Statement(
      db_,
      "UPDATE diagnostics SET alone_status = ?, alone_loss = ?, alone_accuracy = ?, "
      "without_loss = ?, without_accuracy = ?, contribution = ? WHERE round = ? AND address = ?")
      .bind(1, v.alone_status)
      .bind(2, v.alone_loss)
      .bind(3, v.alone_accuracy)
      .bind(4, v.without_loss)
      .bind(5, v.without_accuracy)
      .bind(6, v.contribution)
      .bind(7, static_cast<std::int64_t>(round))
      .bind(8, address.to_lower_hex())
      .step();
}

void StateStore::record_aggregation(std::uint64_t round, std::uint64_t updates,
                                    const std::string& rule, const chain::Hash32& base,
                                    const chain::Hash32& candidate, double seconds,
                                    const std::optional<RoundValidationRecord>& validation) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR IGNORE INTO rounds(round) VALUES (?)")
      .bind(1, static_cast<std::int64_t>(round))
      .step();
  Statement(db_,
            "UPDATE rounds SET updates = ?, rule = ?, base_model = ?, candidate_model = ?, "
            "aggregation_seconds = ? WHERE round = ?")
      .bind(1, static_cast<std::int64_t>(updates))
      .bind(2, rule)
      .bind(3, hex(base))
      .bind(4, hex(candidate))
      .bind(5, seconds)
      .bind(6, static_cast<std::int64_t>(round))
      .step();
  if (!validation) return;
  const RoundValidationRecord& v = *validation;
  Statement(
      db_,
      "UPDATE rounds SET validated = 1, previous_loss = ?, previous_accuracy = ?, "
      "candidate_loss = ?, candidate_accuracy = ?, candidate_status = ?, validation_rows = ?, "
      "contribution_weights = ?, validation_candidates = ?, validation_seconds = ? "
      "WHERE round = ?")
      .bind(1, v.previous_loss)
      .bind(2, v.previous_accuracy)
      .bind(3, v.candidate_loss)
      .bind(4, v.candidate_accuracy)
      .bind(5, v.candidate_status)
      .bind(6, static_cast<std::int64_t>(v.rows))
      .bind(7, v.weights)
      .bind(8, static_cast<std::int64_t>(v.candidates))
      .bind(9, v.seconds)
      .bind(10, static_cast<std::int64_t>(round))
      .step();
}

void StateStore::record_decision(std::uint64_t round, const RoundDecision& d) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR IGNORE INTO rounds(round) VALUES (?)")
      .bind(1, static_cast<std::int64_t>(round))
      .step();
  Statement(db_,
            "UPDATE rounds SET outcome = ?, reason = ?, stake_for = ?, stake_against = ?, "
            "votes = ?, votes_for = ?, votes_against = ? WHERE round = ?")
      .bind(1, std::string(to_string(d.outcome)))
      .bind(2, d.reason)
      .bind(3, d.stake_for.to_dec())
      .bind(4, d.stake_against.to_dec())
      .bind(5, static_cast<std::int64_t>(d.votes))
      .bind(6, static_cast<std::int64_t>(d.votes_for))
      .bind(7, static_cast<std::int64_t>(d.votes_against))
      .bind(8, static_cast<std::int64_t>(round))
      .step();
}

void StateStore::record_posting(std::uint64_t round, const RoundPosting& p) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT OR IGNORE INTO rounds(round) VALUES (?)")
      .bind(1, static_cast<std::int64_t>(round))
      .step();
  Statement(db_,
            "UPDATE rounds SET posting = ?, posting_tx = ?, posting_block = ?, posting_error = ? "
            "WHERE round = ?")
      .bind(1, p.state)
      .bind(2, p.tx == chain::Hash32{} ? std::string() : hex(p.tx))
      .bind(3, static_cast<std::int64_t>(p.block))
      .bind(4, p.error)
      .bind(5, static_cast<std::int64_t>(round))
      .step();
}

namespace {

/// Sets text columns of the round's record (its row created if missing); the caller holds the
/// store's mutex.
void set_round_texts(chain::sqlite::Database& db, std::uint64_t round,
                     std::initializer_list<std::pair<const char*, std::string>> columns) {
  Statement(db, "INSERT OR IGNORE INTO rounds(round) VALUES (?)")
      .bind(1, static_cast<std::int64_t>(round))
      .step();
  for (const auto& [column, value] : columns)
    Statement(db, (std::string("UPDATE rounds SET ") + column + " = ? WHERE round = ?").c_str())
        .bind(1, value)
        .bind(2, static_cast<std::int64_t>(round))
        .step();
}

}  // namespace

void StateStore::record_validation_error(std::uint64_t round, const std::string& error) {
  std::lock_guard lock(mutex_);
  set_round_texts(db_, round, {{"validation_error", error}});
}

void StateStore::record_seed(std::uint64_t round, const RoundSeed& seed) {
  std::lock_guard lock(mutex_);
  set_round_texts(db_, round, {{"seed_source", seed.source}, {"seed_error", seed.error}});
}

void StateStore::record_faults(std::uint64_t round, const std::string& faults_json) {
  std::lock_guard lock(mutex_);
  set_round_texts(db_, round, {{"faults", faults_json}});
}

std::vector<std::uint64_t> StateStore::recorded_rounds() const {
  std::lock_guard lock(mutex_);
  return state_reads::recorded_rounds(db_);
}

std::vector<std::uint64_t> StateStore::rounds_with_posting(const std::string& state) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT round FROM rounds WHERE posting = ? ORDER BY round");
  s.bind(1, state);
  std::vector<std::uint64_t> out;
  while (s.step()) out.push_back(static_cast<std::uint64_t>(s.integer(0)));
  return out;
}

std::optional<RoundRecord> StateStore::round_record(std::uint64_t round) const {
  std::lock_guard lock(mutex_);
  return state_reads::round_record(db_, round);
}

}  // namespace murmur::server
