// murmurd on AllianceTaskV2 (task_chain_v2.hpp).
#include "task_chain_v2.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "chain_step.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/v2_commitments.hpp"

namespace murmur::server {
namespace {

using chain::V2RoundState;

constexpr std::chrono::milliseconds kPoll{250};

chain::Wallet make_wallet(chain::EthClient& eth, const Config& c) {
  const std::uint64_t id = eth.chain_id();
  if (id != c.chain_id)
    throw std::runtime_error("chain: the node at " + c.chain->rpc_url + " is chain " +
                             std::to_string(id) + ", task.chain_id says " +
                             std::to_string(c.chain_id));
  return chain::Wallet(eth, chain::load_key(c.chain->key_file));
}

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

bool reverted_with(const chain::RevertError& e, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(),
                     [&](const char* n) { return e.error_name() == n; });
}

}  // namespace

bool TaskChainV2::detect(const Config& config) {
  chain::RpcClient rpc(config.chain->rpc_url);
  chain::EthClient eth(rpc, &chain::alliance_v2::errors());
  try {
    const auto out = eth.call(chain::CallRequest{
        std::nullopt,
        config.contract,
        chain::abi::encode_call(chain::abi::Signature::parse("MIN_EXIT_WINDOW()"), {}),
        {}});
    return out.size() == 32;
  } catch (const chain::RevertError&) {
    return false;  // AllianceTask has no such function (and no fallback)
  }
}

TaskChainV2::TaskChainV2(const Config& config, const std::atomic<bool>& stopping)
    : config_(*config.chain),
      address_(config.contract),
      task_(config.task_id),
      stopping_(stopping),
      rpc_(config_.rpc_url),
      eth_(rpc_, &chain::alliance_v2::errors()),
      wallet_(make_wallet(eth_, config)),
      contract_(eth_, address_),
      reader_rpc_(config_.rpc_url),
      reader_eth_(reader_rpc_, &chain::alliance_v2::errors()),
      reader_(reader_eth_, address_),
      reporter_rpc_(config_.rpc_url),
      reporter_eth_(reporter_rpc_, &chain::alliance_v2::errors()),
      reporter_wallet_(make_wallet(reporter_eth_, config)),
      reporter_(reporter_eth_, address_),
      equivocations_(config.data_dir / "equivocations.db", chain::sqlite::Mode::kReadWrite,
                     "equivocations", /*serialized=*/true) {
  const auto task = contract_.get_task(task_);
  if (task.aggregator != wallet_.address())
    throw std::runtime_error("chain: task " + task_.to_dec() + "'s aggregator on AllianceTaskV2 " +
                             address_.to_checksum() + " is " + task.aggregator.to_checksum() +
                             ", not the key in " + config_.key_file.string() + " (" +
                             wallet_.address().to_checksum() + ")");
  if (task.proposer_bps != config.proposer_bps)
    throw std::runtime_error("chain: task " + task_.to_dec() + " draws proposers with " +
                             std::to_string(task.proposer_bps) + " bps, round.proposer_bps says " +
                             std::to_string(config.proposer_bps) + ": make them equal");
  // `murmur verify` recomputes each round with the rule whose text hashes to the task's ruleHash.
  const std::string rule = kernels::describe(config.aggregation);
  if (const auto matched = rule_text_for_hash(rule, task.rule_hash))
    spdlog::info("chain: the task's ruleHash is keccak256(\"{}\"), murmurd's rule", *matched);
  else
    spdlog::error(
        "chain: task {}'s ruleHash {} is not keccak256 of murmurd's rule \"{}\" (nor of its "
        "compact form): the rounds murmurd posts will not pass `murmur verify`",
        task_.to_dec(), chain::to_hex(task.rule_hash), rule);
  const std::uint64_t head = eth_.block_number();
  from_block_ = head > 100'000 ? head - 100'000 : 0;
  spdlog::info(
      "chain: AllianceTaskV2 task {}: windows propose {} s, post {} s, commit {} s, reveal {} s, "
      "exit {} s; quorum {} bps, tolerance {} bps",
      task_.to_dec(), task.windows.propose, task.windows.post, task.windows.commit,
      task.windows.reveal, task.windows.exit, task.quorum_bps, task.tolerance_bps);
  equivocations_.exec(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS equivocations (round INTEGER NOT NULL, node BLOB NOT NULL,"
      " update_hash BLOB NOT NULL, num_samples INTEGER NOT NULL, signature BLOB NOT NULL,"
      " state TEXT NOT NULL, tx BLOB, note TEXT NOT NULL DEFAULT '', PRIMARY KEY (round, node))");
  reporter_thread_ = std::thread([this] { run_reporter(); });
}

TaskChainV2::~TaskChainV2() {
  {
    std::lock_guard lock(reporter_mutex_);
    reporter_closing_ = true;
  }
  reporter_cv_.notify_all();
  if (reporter_thread_.joinable()) reporter_thread_.join();
}

chain::Receipt TaskChainV2::transact(const chain::Bytes& calldata) {
  std::lock_guard lock(tx_mutex_);
  return wallet_.transact(address_, calldata);
}

void TaskChainV2::report_equivocation(const Equivocation& e) {
  chain::sqlite::Statement(equivocations_,
                           "INSERT OR IGNORE INTO equivocations (round, node, update_hash, "
                           "num_samples, signature, state) VALUES (?, ?, ?, ?, ?, 'pending')")
      .bind(1, e.round)
      .bind(2, std::span<const std::uint8_t>(e.node.bytes))
      .bind(3, std::span<const std::uint8_t>(e.update_hash))
      .bind(4, e.num_samples)
      .bind(5, e.signature)
      .step();
  spdlog::warn(
      "round={} equivocation: {} signed Update {} but committed another hash on chain; "
      "reportEquivocation queued",
      e.round, e.node.to_checksum(), chain::to_hex(e.update_hash));
  {
    std::lock_guard lock(reporter_mutex_);
    reporter_wake_ = true;
  }
  reporter_cv_.notify_all();
}

std::vector<EquivocationReport> TaskChainV2::equivocation_reports() const {
  std::vector<EquivocationReport> out;
  chain::sqlite::Statement q(equivocations_,
                             "SELECT round, node, update_hash, num_samples, signature, state, tx, "
                             "note FROM equivocations ORDER BY round, node");
  while (q.step()) {
    EquivocationReport r;
    r.evidence.round = static_cast<std::uint64_t>(q.integer(0));
    const chain::Bytes node = q.blob(1), hash = q.blob(2), tx = q.blob(6);
    std::copy_n(node.begin(), std::min(node.size(), r.evidence.node.bytes.size()),
                r.evidence.node.bytes.begin());
    std::copy_n(hash.begin(), std::min(hash.size(), r.evidence.update_hash.size()),
                r.evidence.update_hash.begin());
    r.evidence.num_samples = static_cast<std::uint64_t>(q.integer(3));
    r.evidence.signature = q.blob(4);
    r.state = q.text(5);
    std::copy_n(tx.begin(), std::min(tx.size(), r.tx.size()), r.tx.begin());
    r.note = q.text(7);
    out.push_back(std::move(r));
  }
  return out;
}

void TaskChainV2::record_report(const EquivocationReport& r) const {
  chain::sqlite::Statement(equivocations_,
                           "UPDATE equivocations SET state = ?, tx = ?, note = ? WHERE round = ? "
                           "AND node = ?")
      .bind(1, r.state)
      .bind(2, std::span<const std::uint8_t>(r.tx))
      .bind(3, r.note)
      .bind(4, r.evidence.round)
      .bind(5, std::span<const std::uint8_t>(r.evidence.node.bytes))
      .step();
}

void TaskChainV2::run_reporter() {
  for (;;) {
    bool failed = false;
    try {
      for (EquivocationReport r : equivocation_reports()) {
        if (r.state != "pending") continue;
        const Equivocation& e = r.evidence;
        const chain::U256 round(e.round);
        try {
          if (reporter_.entry_of(task_, round, e.node).reported) {
            r.state = "refused";
            r.note =
                "already reported on chain (by someone else, or by a report whose outcome "
                "murmurd did not live to record)";
          } else {
            chain::Receipt receipt;
            {
              std::lock_guard lock(tx_mutex_);
              receipt = reporter_wallet_.transact(
                  address_,
                  chain::alliance_v2::report_equivocation(task_, round, e.node, e.update_hash,
                                                          chain::U256(e.num_samples), e.signature));
            }
            r.state = "reported";
            r.tx = receipt.tx_hash;
            spdlog::warn("round={} equivocation of {} reported on chain (tx {})", e.round,
                         e.node.to_checksum(), chain::to_hex(receipt.tx_hash));
          }
        } catch (const chain::RevertError& err) {
          // The contract's word is final: not an equivocation (NotEquivocation, BadSignature),
          // past the report window (TooLate), or a round not drawn (WrongState).
          r.state = "refused";
          r.note = err.what();
          spdlog::error("round={} equivocation of {}: reportEquivocation refused: {}", e.round,
                        e.node.to_checksum(), err.what());
        }
        record_report(r);
      }
    } catch (const std::exception& err) {  // the node or the store: tried again shortly
      failed = true;
      spdlog::warn("equivocation reports: {} (trying again)", err.what());
    }
    std::unique_lock lock(reporter_mutex_);
    reporter_cv_.wait_for(lock, failed ? std::chrono::seconds(2) : std::chrono::seconds(30),
                          [&] { return reporter_closing_ || stopping_ || reporter_wake_; });
    if (reporter_closing_ || stopping_) return;
    reporter_wake_ = false;
  }
}

void TaskChainV2::pause() {
  if (stopping_) throw ChainStepCancelled("murmurd is stopping");
  std::this_thread::sleep_for(kPoll);
  if (stopping_) throw ChainStepCancelled("murmurd is stopping");
}

std::uint64_t TaskChainV2::next_block_time() {
  const auto b = eth_.raw("eth_getBlockByNumber", nlohmann::json::array({"latest", false}));
  return std::max(chain::quantity_u64(b.at("timestamp")) + 1, unix_now());
}

void TaskChainV2::wait_until_time_past(std::uint64_t t, const char* what) {
  bool said = false;
  while (next_block_time() <= t) {
    if (!said) spdlog::info("chain: waiting for {} (block time {})", what, t + 1);
    said = true;
    pause();
  }
}

void TaskChainV2::wait_for_block(std::uint64_t n, const char* what) {
  bool said = false;
  while (eth_.block_number() < n) {
    if (!said) spdlog::info("chain: waiting for block {} ({})", n, what);
    said = true;
    pause();
  }
}

chain::Hash32 TaskChainV2::open_round(std::uint64_t round) {
  const chain::U256 r(round);
  for (;;) {
    const auto task = contract_.get_task(task_);
    if (task.current_round == round && task.in_flight) break;
    if (task.in_flight || task.current_round + 1 != round || task.ended)
      throw std::runtime_error(
          "chain: task " + task_.to_dec() + " is at round " + std::to_string(task.current_round) +
          (task.in_flight ? " (in flight)" : "") + (task.ended ? " (ended)" : "") +
          ", murmurd at round " + std::to_string(round) + ": a fresh murmurd needs a fresh task");
    wait_until_time_past(task.last_closed_at + task.windows.exit - 1, "the exit window to pass");
    try {
      const auto receipt = transact(chain::alliance_v2::open_round(task_));
      const auto [got, seed_block] = chain::alliance_v2::opened_from_receipt(receipt, address_);
      spdlog::info("chain: round {} opened (tx {}), roles from block {}", got.to_dec(),
                   chain::to_hex(receipt.tx_hash), seed_block);
      break;
    } catch (const chain::RevertError& e) {
      if (!reverted_with(e, {"ExitWindow"})) throw;
      pause();  // the clock of the pending block was behind: try again
    }
  }
  for (;;) {
    const auto info = contract_.get_round(task_, r);
    if (info.state != V2RoundState::Seeding) {
      if (info.seed == chain::Hash32{})
        throw std::runtime_error("chain: round " + std::to_string(round) + " is " +
                                 chain::to_string(info.state) + " without roles");
      return info.seed;
    }
    wait_for_block(info.seed_block + 1, "the seed block");
    try {
      const auto receipt = transact(chain::alliance_v2::draw_roles(task_));
      spdlog::info("chain: round {} roles drawn (tx {})", round, chain::to_hex(receipt.tx_hash));
    } catch (const chain::RevertError& e) {
      // Someone else drew them (WrongState) or the pending block was not yet past the seed
      // block (TooEarly): read the round again. TooLate (the seed expired) stays an error.
      if (!reverted_with(e, {"WrongState", "TooEarly"})) throw;
      pause();
    }
  }
}

std::map<chain::Address, chain::U256> TaskChainV2::participants() {
  std::map<chain::Address, chain::U256> out;
  for (const auto& a : contract_.participants(task_)) out[a] = contract_.node_info(task_, a).stake;
  return out;
}

std::optional<CommitmentMismatch> TaskChainV2::commitment_mismatch(std::uint64_t round,
                                                                   const chain::Address& node,
                                                                   const chain::Hash32& hash) {
  std::lock_guard lock(reader_mutex_);
  const chain::Hash32 on_chain = reader_.entry_of(task_, chain::U256(round), node).commitment;
  if (on_chain == hash) return std::nullopt;
  if (on_chain == chain::Hash32{})
    return CommitmentMismatch{"no update hash committed on chain for " + node.to_checksum() +
                                  " in round " + std::to_string(round) + ": call commitUpdate(" +
                                  task_.to_dec() + ", " + std::to_string(round) + ", " +
                                  chain::to_hex(hash) + ") before UploadCommit",
                              {}};
  return CommitmentMismatch{"update hash " + chain::to_hex(hash) + " is not the one " +
                                node.to_checksum() + " committed on chain for round " +
                                std::to_string(round) + " (" + chain::to_hex(on_chain) + ")",
                            on_chain};
}

RoundPosting TaskChainV2::posting_of_closed(std::uint64_t round, const chain::V2RoundInfo& r) {
  RoundPosting p;
  const chain::U256 rr(round);
  if (r.state == V2RoundState::Finalized) {
    p.state = "finalized";
    const auto ev = contract_.round_finalized_events(task_, rr, from_block_);
    if (!ev.empty()) p.tx = ev.back().tx_hash, p.block = ev.back().block_number;
  } else {
    p.state = "abandoned";
    const auto ev = contract_.round_abandoned_events(task_, rr, from_block_);
    if (!ev.empty()) {
      p.tx = ev.back().tx_hash, p.block = ev.back().block_number;
      static const char* kWhy[] = {"the seed expired undrawn", "no candidate by the post deadline",
                                   "below the stake quorum of revealed votes"};
      if (ev.back().reason < 3) p.error = kWhy[ev.back().reason];
    }
  }
  return p;
}

ChainVote TaskChainV2::outcome(std::uint64_t round) {
  const chain::U256 rr(round);
  const auto r = contract_.get_round(task_, rr);
  ChainVote out;
  out.posting = posting_of_closed(round, r);
  RoundDecision& d = out.decision;
  if (r.state == V2RoundState::Abandoned) {
    d.outcome = RoundOutcome::kNoQuorum;
    d.reason = "no quorum on chain: " + out.posting.error + " (revealed stake " +
               r.revealed_stake.to_dec() + " of " + r.voter_stake.to_dec() +
               "); nobody paid or "
               "slashed";
    d.votes = r.reveals;
    return out;
  }
  d.outcome = r.accepted ? RoundOutcome::kAccepted : RoundOutcome::kRejected;
  d.votes = r.reveals;
  d.reason = std::string(r.accepted ? "accepted" : "rejected") +
             " on chain: stake-weighted median score " + std::to_string(r.median) + " bps of " +
             std::to_string(r.reveals) + " revealed votes (revealed stake " +
             r.revealed_stake.to_dec() + " of " + r.voter_stake.to_dec() + "), paid " +
             r.paid.to_dec() + ", slashed " + r.slashed.to_dec();
  return out;
}

ChainVote TaskChainV2::vote(std::uint64_t round, const chain::Hash32& candidate,
                            const std::vector<chain::Address>& included, bool finalize) {
  const chain::U256 rr(round);
  auto r = contract_.get_round(task_, rr);
  while (r.state == V2RoundState::Proposing) {
    const auto parts = contract_.participants(task_);
    std::vector<std::size_t> indices;
    for (const auto& a : included) {
      const auto it = std::find(parts.begin(), parts.end(), a);
      if (it != parts.end())
        indices.push_back(static_cast<std::size_t>(it - parts.begin()));
      else
        spdlog::warn("round={} chain: {} is not a participant of the round: left out of the bitmap",
                     round, a.to_checksum());
    }
    std::sort(indices.begin(), indices.end());
    try {
      const auto receipt = transact(chain::alliance_v2::post_candidate(
          task_, rr, candidate, chain::participant_bitmap(indices, parts.size())));
      spdlog::info("round={} chain: candidate {} posted with {} included updates (tx {})", round,
                   chain::to_hex(candidate), indices.size(), chain::to_hex(receipt.tx_hash));
    } catch (const chain::RevertError& e) {
      if (reverted_with(e, {"TooEarly"}))
        wait_until_time_past(r.propose_deadline, "the propose deadline");
      else if (!reverted_with(e, {"WrongState"}))
        throw;
    }
    r = contract_.get_round(task_, rr);
  }
  // Voting: wait for the commit and reveal windows (or every vote revealed), then close.
  while (r.state == V2RoundState::Voting) {
    const std::uint64_t now = next_block_time();
    const bool commits_over = now > r.commit_deadline || r.vote_commits == r.voter_count;
    const bool closable = now > r.reveal_deadline || (commits_over && r.reveals == r.vote_commits);
    if (closable && finalize) {
      try {
        const auto receipt = transact(chain::alliance_v2::finalize_round(task_));
        spdlog::info("round={} chain: finalizeRound in block {} (tx {})", round,
                     receipt.block_number, chain::to_hex(receipt.tx_hash));
      } catch (const chain::RevertError& e) {
        if (!reverted_with(e, {"TooEarly", "WrongState"})) throw;
      }
    }
    pause();
    r = contract_.get_round(task_, rr);
  }
  if (r.state != V2RoundState::Finalized && r.state != V2RoundState::Abandoned)
    throw std::runtime_error("chain: round " + std::to_string(round) + " is " +
                             chain::to_string(r.state) + ", not voting");
  return outcome(round);
}

void TaskChainV2::catch_up(std::uint64_t round, bool finalize,
                           std::vector<std::pair<std::uint64_t, RoundPosting>>& closed) {
  for (;;) {
    const auto task = contract_.get_task(task_);
    const std::uint64_t at = task.current_round;
    if (at + 1 >= round || task.ended) return;  // nothing to catch up (or open_round says why)
    if (task.in_flight) {
      RoundPosting p = close(at, finalize);
      spdlog::warn("round={} chain: left in flight on chain, closed now: {}", at, p.state);
      if (p.error.empty())
        p.error =
            "closed when the chain answered again (murmurd's own step had failed past "
            "server.fault_limit_ms)";
      closed.emplace_back(at, p);
      continue;
    }
    open_round(at + 1);
    RoundPosting p = close(at + 1, false);
    spdlog::warn("round={} chain: ran on the local seed, opened and closed on chain: {}", at + 1,
                 p.state);
    if (p.error.empty())
      p.error =
          "opened and closed on chain when the chain answered again (the round ran on the "
          "local seed)";
    closed.emplace_back(at + 1, p);
  }
}

std::optional<RoundPosting> TaskChainV2::settled(std::uint64_t round) {
  const auto task = contract_.get_task(task_);
  if (task.current_round < round) return std::nullopt;
  const auto r = contract_.get_round(task_, chain::U256(round));
  if (r.state != V2RoundState::Finalized && r.state != V2RoundState::Abandoned) return std::nullopt;
  return posting_of_closed(round, r);
}

RoundPosting TaskChainV2::close(std::uint64_t round, bool finalize) {
  const chain::U256 rr(round);
  for (;;) {
    const auto r = contract_.get_round(task_, rr);
    switch (r.state) {
      case V2RoundState::Finalized:
      case V2RoundState::Abandoned: return posting_of_closed(round, r);
      case V2RoundState::Voting: return vote(round, r.model_hash, {}, finalize).posting;
      case V2RoundState::Proposing:
        wait_until_time_past(r.post_deadline, "the post deadline, to abandon the round");
        break;
      case V2RoundState::Seeding:
        wait_for_block(r.seed_block + 257, "the seed to expire, to abandon the round");
        break;
      case V2RoundState::None:
        throw std::runtime_error("chain: round " + std::to_string(round) + " was never opened");
    }
    try {
      const auto receipt = transact(chain::alliance_v2::abandon_round(task_));
      spdlog::info("round={} chain: abandonRound (tx {})", round, chain::to_hex(receipt.tx_hash));
    } catch (const chain::RevertError& e) {
      if (!reverted_with(e, {"TooEarly", "WrongState", "NoRoundInFlight"})) throw;
      pause();
    }
  }
}

}  // namespace murmur::server
