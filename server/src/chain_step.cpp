// The chain step: murmurd's rounds on the task contract (chain_step.hpp).
#include "chain_step.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

#include "murmur/chain/bytes.hpp"

namespace murmur::server {

ChainRounds::ChainRounds(const Config& cfg) : chain_(std::make_unique<TaskChain>(cfg)) {
  spdlog::info("chain: posting rounds of task {} to {} at {} as {}", cfg.task_id,
               cfg.chain->rpc_url, cfg.contract.to_checksum(), chain_->aggregator().to_checksum());
}

ChainRounds::~ChainRounds() {
  wait();
}

chain::Hash32 ChainRounds::open_round(std::uint64_t round) {
  try {
    return chain_->open_round(round);
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
    return chain_->participants();
  } catch (const std::exception& e) {
    spdlog::error("round={} chain: cannot read the participants ({}); keeping {} known ones", round,
                  e.what(), known);
    return {};
  }
}

void ChainRounds::settle(const RoundDecision& decision, Settlement what) {
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
        step.next_seed = contract.open_round(what.round + 1);
        // Stakes as the contract will weigh the next round's votes: after this round's
        // slashing, with any node that joined or left meanwhile.
        step.next_stakes = contract.participants();
      } catch (const std::exception& e) {
        step.open_error = e.what();
      }
    }
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
  if (step_.valid()) step_.wait();
}

}  // namespace murmur::server
