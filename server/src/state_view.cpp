#include "murmur/server/state_view.hpp"

#include <stdexcept>

#include "round_record.hpp"
#include "state_reads.hpp"

namespace murmur::server {

using chain::sqlite::Database;
using chain::sqlite::Statement;

namespace {

chain::Hash32 unhex(const std::string& s) {
  return s.empty() ? chain::Hash32{} : chain::hash_from_hex(s);
}

std::filesystem::path existing_state_db(const std::filesystem::path& data_dir) {
  const auto file = data_dir / "state.db";
  if (!std::filesystem::exists(file))
    throw std::runtime_error("no murmurd state at " + file.string() +
                             ": pass the server's data_dir (server.data_dir in its config)");
  return file;
}

}  // namespace

namespace state_reads {

std::optional<std::string> outcome(const Database& db_, std::uint64_t round) {
  Statement s(db_, "SELECT outcome FROM outcomes WHERE round = ?");
  s.bind(1, static_cast<std::int64_t>(round));
  if (!s.step()) return std::nullopt;
  return s.text(0);
}

std::vector<VoteRecord> votes(const Database& db_, std::uint64_t round) {
  Statement s(db_,
              "SELECT address, model_hash, score, loss, signature FROM votes WHERE round = ? ORDER "
              "BY address");
  s.bind(1, static_cast<std::int64_t>(round));
  std::vector<VoteRecord> out;
  while (s.step())
    out.push_back({chain::Address::from_hex(s.text(0)), unhex(s.text(1)),
                   static_cast<int>(s.integer(2)), s.real(3), s.blob(4)});
  return out;
}

std::vector<std::uint64_t> recorded_rounds(const Database& db_) {
  Statement s(db_, "SELECT round FROM rounds ORDER BY round");
  std::vector<std::uint64_t> out;
  while (s.step()) out.push_back(static_cast<std::uint64_t>(s.integer(0)));
  return out;
}

std::optional<RoundRecord> round_record(const Database& db_, std::uint64_t round) {
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
  // Columns added after the round record was first written (a read-only view of an older
  // state.db has none of them).
  bool faults_columns = false;
  {
    Statement t(db_, "PRAGMA table_info(rounds)");
    while (t.step()) faults_columns = faults_columns || t.text(1) == "faults";
  }
  if (faults_columns) {
    Statement f(db_,
                "SELECT validation_error, seed_source, seed_error, faults FROM rounds WHERE "
                "round = ?");
    f.bind(1, static_cast<std::int64_t>(round));
    if (f.step()) {
      r.validation_error = f.is_null(0) ? "" : f.text(0);
      if (!f.is_null(1) && !f.text(1).empty()) r.seed = RoundSeed{f.text(1), f.text(2)};
      r.faults = f.is_null(3) ? "" : f.text(3);
    }
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
    row.validation = {u.text(6),        u.real_or_nan(7),  u.real_or_nan(8),
                      u.real_or_nan(9), u.real_or_nan(10), u.real_or_nan(11)};
    r.updates.push_back(row);
  }
  return r;
}

}  // namespace state_reads

StateView::StateView(const std::filesystem::path& data_dir)
    : db_(existing_state_db(data_dir), chain::sqlite::Mode::kReadOnly, "state view") {
  db_.busy_timeout(5000);
}

std::optional<std::string> StateView::outcome(std::uint64_t round) const {
  return state_reads::outcome(db_, round);
}

std::map<chain::Address, DiagnosticRecord> StateView::diagnostics(std::uint64_t round) const {
  Statement s(db_,
              "SELECT address, verdict, weight, score, distance FROM diagnostics WHERE round = ?");
  s.bind(1, round);
  std::map<chain::Address, DiagnosticRecord> out;
  while (s.step())
    out[chain::Address::from_hex(s.text(0))] = {s.text(1), s.real_or_nan(2), s.real_or_nan(3),
                                                s.real_or_nan(4)};
  return out;
}

std::vector<VoteRecord> StateView::votes(std::uint64_t round) const {
  return state_reads::votes(db_, round);
}

std::vector<chain::Address> StateView::committed(std::uint64_t round) const {
  Statement s(db_, "SELECT address FROM uploads WHERE round = ? AND state = 1 ORDER BY address");
  s.bind(1, round);
  std::vector<chain::Address> out;
  while (s.step()) out.push_back(chain::Address::from_hex(s.text(0)));
  return out;
}

std::vector<std::uint64_t> StateView::recorded_rounds() const {
  return state_reads::recorded_rounds(db_);
}

std::optional<RoundRecord> StateView::round_record(std::uint64_t round) const {
  return state_reads::round_record(db_, round);
}

}  // namespace murmur::server
