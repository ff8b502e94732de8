// The chain step: murmurd's rounds on the task contract (chain_step.hpp).
#include "chain_step.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "murmur/chain/bytes.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/kernels/rule_registry.hpp"

namespace murmur::server {
namespace {

/// Runs `f` again after a transport failure, a JSON-RPC error or a receipt timeout (up to 5
/// tries, 1 s apart): AllianceTaskV2's steps read the round's state first, so a retry adopts
/// what the failed try did. A revert, a cancellation or any other error is thrown at once.
template <typename F>
auto with_retries(F&& f, const std::atomic<bool>& stopping, const char* what) {
  for (int attempt = 1;; ++attempt) {
    try {
      return f();
    } catch (const chain::RevertError&) {
      throw;
    } catch (const chain::ChainError& e) {
      if (attempt >= 5 || stopping) throw;
      spdlog::warn("chain: {} failed ({}), trying again", what, e.what());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

/// The settled round's posting is the catch-up's when the catch-up closed it (a round run on the
/// local seed, opened and abandoned on chain now).
void adopt_caught_up(ChainStep& step) {
  for (const auto& [round, posting] : step.caught_up)
    if (round == step.round) step.posting = posting;
}

/// The rounds recorded as failed (and the settled one, if its posting failed) that are closed on
/// chain now, e.g. by a catch-up whose step murmurd did not live to record: their postings join
/// `step.caught_up`. A failure to read is logged only: the next step reads them again.
template <typename Contract>
void adopt_settled(Contract& contract, const Settlement& what, ChainStep& step) {
  std::vector<std::uint64_t> rounds = what.unsettled;
  if (step.posting.state == "failed") rounds.push_back(what.round);
  try {
    for (const std::uint64_t n : rounds) {
      const bool known = std::any_of(step.caught_up.begin(), step.caught_up.end(),
                                     [&](const auto& c) { return c.first == n; });
      if (known) continue;
      if (auto p = contract.settled(n)) {
        spdlog::info("round={} chain: recorded as failed, {} on chain: adopted", n, p->state);
        step.caught_up.emplace_back(n, *p);
      }
    }
  } catch (const std::exception& e) {
    spdlog::warn("chain: cannot read the rounds recorded as failed ({})", e.what());
  }
  adopt_caught_up(step);
}

}  // namespace

std::vector<chain::Address> included_updates(const StateStore& store, std::uint64_t round) {
  std::vector<chain::Address> out;
  const auto record = store.round_record(round);
  if (record && !record->updates.empty()) {
    for (const auto& u : record->updates)
      if (u.flag.empty()) out.push_back(u.address);
  } else {
    for (const auto& u : store.committed(round)) out.push_back(u.address);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> rule_text_for_hash(const std::string& text,
                                              const chain::Hash32& rule_hash) {
  std::vector<std::string> forms{text};
  try {
    forms.push_back(kernels::describe(kernels::parse_aggregation(text)));
  } catch (const std::exception&) {
  }
  for (std::size_t i = 0, n = forms.size(); i < n; ++i) {
    std::string compact = forms[i];
    compact.erase(std::remove(compact.begin(), compact.end(), ' '), compact.end());
    forms.push_back(compact);
  }
  for (const auto& f : forms)
    if (chain::keccak256(std::string_view(f)) == rule_hash) return f;
  return std::nullopt;
}

ChainRounds::ChainRounds(const Config& cfg) {
  if (TaskChainV2::detect(cfg)) {
    v2_ = std::make_unique<TaskChainV2>(cfg, stopping_);
    spdlog::info("chain: running task {} on AllianceTaskV2 {} at {} as its aggregator {}",
                 cfg.task_id, cfg.contract.to_checksum(), cfg.chain->rpc_url,
                 v2_->aggregator().to_checksum());
    return;
  }
  chain_ = std::make_unique<TaskChain>(cfg);
  spdlog::info("chain: posting rounds of task {} to {} at {} as {}", cfg.task_id,
               cfg.chain->rpc_url, cfg.contract.to_checksum(), chain_->aggregator().to_checksum());
}

ChainTestHooks& ChainRounds::test_hooks() {
  static ChainTestHooks hooks;
  return hooks;
}

ChainRounds::~ChainRounds() {
  wait();
}

chain::Hash32 ChainRounds::open_round(std::uint64_t round) {
  try {
    return v2_ ? v2_->open_round(round) : chain_->open_round(round);
  } catch (const std::exception& e) {
    spdlog::error(
        "round={} chain: cannot open the round ({}); roles come from the local seed "
        "and the round will not be settled on chain",
        round, e.what());
    return {};
  }
}

std::map<chain::Address, chain::U256> ChainRounds::participants(std::uint64_t round,
                                                                std::size_t known) {
  try {
    return v2_ ? v2_->participants() : chain_->participants();
  } catch (const std::exception& e) {
    spdlog::error("round={} chain: cannot read the participants ({}); keeping {} known ones", round,
                  e.what(), known);
    return {};
  }
}

void ChainRounds::settle(const RoundDecision& decision, Settlement what) {
  if (v2_) {
    // AllianceTaskV2: the round is closed as the contract allows (the vote's finalization
    // adopted, or abandonRound after the post deadline), then the next one is opened.
    step_ = std::async(std::launch::async, [&contract = *v2_, &stopping = stopping_, decision,
                                            what = std::move(what)] {
      ChainStep step;
      step.round = what.round;
      step.decision = decision;
      try {
        if (what.seed == chain::Hash32{})
          throw std::runtime_error("the round was not opened on chain");
        step.posting =
            with_retries([&] { return contract.close(what.round, test_hooks().finalize); },
                         stopping, "closing the round");
      } catch (const std::exception& e) {
        step.posting.state = "failed";
        step.posting.error = e.what();
      }
      if (what.open_next) {
        try {
          with_retries(
              [&] { contract.catch_up(what.round + 1, test_hooks().finalize, step.caught_up); },
              stopping, "catching up with the chain");
          adopt_caught_up(step);
          step.next_seed = with_retries([&] { return contract.open_round(what.round + 1); },
                                        stopping, "opening the next round");
          step.next_stakes =
              with_retries([&] { return contract.participants(); }, stopping, "reading stakes");
        } catch (const std::exception& e) {
          step.open_error = e.what();
        }
      }
      adopt_settled(contract, what, step);
      return step;
    });
    return;
  }
  step_ = std::async(std::launch::async, [&contract = *chain_, decision, what = std::move(what)] {
    ChainStep step;
    step.round = what.round;
    step.decision = decision;
    try {
      if (what.seed == chain::Hash32{})
        throw std::runtime_error("the round was not opened on chain");
      step.posting = what.finalize
                         ? contract.finalize(what.round, what.candidate, what.votes, what.flagged)
                         : contract.abandon(what.round);
    } catch (const std::exception& e) {
      step.posting.state = "failed";
      step.posting.error = e.what();
    }
    if (what.open_next) {
      try {
        contract.catch_up(what.round + 1, step.caught_up);
        adopt_caught_up(step);
        step.next_seed = contract.open_round(what.round + 1);
        // Stakes as the contract will weigh the next round's votes: after this round's
        // slashing, with any node that joined or left meanwhile.
        step.next_stakes = contract.participants();
      } catch (const std::exception& e) {
        step.open_error = e.what();
      }
    }
    adopt_settled(contract, what, step);
    return step;
  });
}

std::optional<ChainStep> ChainRounds::finished() {
  if (!step_.valid() || step_.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    return std::nullopt;
  ChainStep step = step_.get();
  const RoundPosting& p = step.posting;
  if (p.state == "failed")
    spdlog::error("round={} chain: posting failed: {}", step.round, p.error);
  else
    spdlog::info("round={} chain: {} in block {} (tx {})", step.round, p.state, p.block,
                 chain::to_hex(p.tx));
  if (!step.open_error.empty())
    spdlog::error(
        "round={} chain: cannot open the round ({}); roles come from the local seed "
        "and the round will not be settled on chain",
        step.round + 1, step.open_error);
  return step;
}

void ChainRounds::wait() {
  stopping_ = true;
  if (step_.valid()) step_.wait();
  if (vote_.valid()) vote_.wait();
}

std::optional<RoundDecision> ChainRounds::chain_vote(
    std::uint64_t round, const chain::Hash32& candidate,
    const std::function<std::vector<chain::Address>()>& included) {
  if (!v2_) return std::nullopt;
  if (!vote_.valid() || vote_round_ != round) {
    vote_round_ = round;
    vote_ = std::async(std::launch::async, [&contract = *v2_, &stopping = stopping_, round,
                                            candidate, included = included()] {
      try {
        return with_retries(
            [&] { return contract.vote(round, candidate, included, test_hooks().finalize); },
            stopping, "the vote on chain");
      } catch (const std::exception& e) {
        ChainVote failed;
        failed.decision.outcome = RoundOutcome::kFailed;
        failed.decision.reason = std::string("the vote on chain failed: ") + e.what();
        failed.posting.state = "failed";
        failed.posting.error = e.what();
        return failed;
      }
    });
    return std::nullopt;
  }
  if (vote_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return std::nullopt;
  ChainVote v = vote_.get();
  vote_round_ = 0;
  spdlog::info("round={} chain: {}", round, v.decision.reason);
  return v.decision;
}

std::optional<CommitmentMismatch> ChainRounds::commitment_mismatch(std::uint64_t round,
                                                                   const chain::Address& node,
                                                                   const chain::Hash32& hash) {
  if (!v2_) return std::nullopt;
  try {
    return v2_->commitment_mismatch(round, node, hash);
  } catch (const std::exception& e) {
    return CommitmentMismatch{
        std::string("cannot read the update hash committed on chain (") + e.what() + "): try again",
        {}};
  }
}

bool ChainRounds::report_equivocation(const Equivocation& e) {
  if (!v2_) return false;
  v2_->report_equivocation(e);
  return true;
}

}  // namespace murmur::server
