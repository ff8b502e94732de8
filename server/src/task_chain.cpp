#include "task_chain.hpp"

#include <spdlog/spdlog.h>

#include "murmur/chain/key_source.hpp"

namespace murmur::server {
namespace {

chain::Wallet make_wallet(chain::EthClient& eth, const Config& c) {
  const std::uint64_t id = eth.chain_id();
  if (id != c.chain_id)
    throw std::runtime_error("chain: the node at " + c.chain->rpc_url + " is chain " +
                             std::to_string(id) + ", task.chain_id says " +
                             std::to_string(c.chain_id));
  return chain::Wallet(eth, chain::load_key(c.chain->key_file));
}

}  // namespace

TaskChain::TaskChain(const Config& config)
    : config_(*config.chain),
      contract_address_(config.contract),
      task_(config.task_id),
      rpc_(config_.rpc_url),
      eth_(rpc_, &chain::alliance::errors()),
      wallet_(make_wallet(eth_, config)),
      contract_(eth_, contract_address_),
      outbox_(config_.outbox.empty() ? config.data_dir / "outbox.db" : config_.outbox),
      poster_(wallet_, contract_address_, outbox_, {config_.receipt_timeout, {}, {}}) {
  const auto task = contract_.get_task(task_);
  if (task.aggregator != wallet_.address())
    throw std::runtime_error("chain: task " + task_.to_dec() + "'s aggregator is " +
                             task.aggregator.to_checksum() + ", not the key in " +
                             config_.key_file.string() + " (" + wallet_.address().to_checksum() +
                             ")");
  for (const auto& r : poster_.resume())
    spdlog::info("chain: settled a pending posting of round {}: {}", r.key.round.to_dec(),
                 r.success ? "mined" : r.error);
}

TaskChain::~TaskChain() = default;

chain::Hash32 TaskChain::open_round(std::uint64_t round) {
  const auto task = contract_.get_task(task_);
  if (task.round_open && task.current_round == round) return contract_.get_round(task_, round).seed;
  if (task.round_open || task.current_round + 1 != round)
    throw std::runtime_error("chain: task " + task_.to_dec() + " is at round " +
                             std::to_string(task.current_round) +
                             (task.round_open ? " (open)" : "") + ", murmurd at round " +
                             std::to_string(round) + ": a fresh murmurd needs a fresh task");
  const auto receipt = wallet_.transact(contract_address_, chain::alliance::start_round(task_));
  const auto [got, seed] = chain::alliance::round_from_receipt(receipt, contract_address_);
  if (got != chain::U256(round))
    throw std::runtime_error("chain: startRound opened round " + got.to_dec() + ", expected " +
                             std::to_string(round));
  spdlog::info("chain: round {} opened, seed {} (tx {})", round, chain::to_hex(seed),
               chain::to_hex(receipt.tx_hash));
  return seed;
}

void TaskChain::catch_up(std::uint64_t round,
                         std::vector<std::pair<std::uint64_t, RoundPosting>>& closed) {
  for (;;) {
    const auto task = contract_.get_task(task_);
    const std::uint64_t at = task.current_round;
    if (at + 1 >= round) return;  // at round - 1 (open or not) or beyond: nothing to catch up
    if (task.round_open) {
      RoundPosting p = abandon(at);
      p.error =
          "abandoned when the chain answered again (the round's own posting had failed "
          "past server.fault_limit_ms)";
      spdlog::warn("round={} chain: left open on chain, abandoned now (tx {})", at,
                   chain::to_hex(p.tx));
      closed.emplace_back(at, p);
      continue;
    }
    open_round(at + 1);
    RoundPosting p = abandon(at + 1);
    p.error =
        "opened and abandoned on chain when the chain answered again (the round ran on "
        "the local seed)";
    spdlog::warn("round={} chain: ran on the local seed, opened and abandoned on chain (tx {})",
                 at + 1, chain::to_hex(p.tx));
    closed.emplace_back(at + 1, p);
  }
}

std::optional<RoundPosting> TaskChain::settled(std::uint64_t round) {
  const auto task = contract_.get_task(task_);
  if (task.current_round < round) return std::nullopt;
  const auto state = contract_.get_round(task_, chain::U256(round)).state;
  if (state != 2 && state != 3) return std::nullopt;
  RoundPosting p;
  p.state = state == 2 ? "finalized" : "abandoned";
  p.error = "found closed on chain after the round's own posting had failed";
  return p;
}

std::map<chain::Address, chain::U256> TaskChain::participants() {
  std::map<chain::Address, chain::U256> out;
  for (const auto& a : contract_.participants(task_)) out[a] = contract_.node_info(task_, a).stake;
  return out;
}

RoundPosting TaskChain::finalize(std::uint64_t round, const chain::Hash32& candidate,
                                 const std::vector<chain::SignedVote>& votes,
                                 const std::vector<chain::Address>& flagged) {
  const auto r = poster_.finalize_round({task_, chain::U256(round), candidate, votes, flagged});
  RoundPosting p;
  p.state = r.success ? "finalized" : "failed";
  p.tx = r.tx_hash;
  p.block = r.block_number;
  p.error = r.error;
  return p;
}

RoundPosting TaskChain::abandon(std::uint64_t round) {
  const auto task = contract_.get_task(task_);
  if (task.current_round >= round && contract_.get_round(task_, chain::U256(round)).state == 3) {
    RoundPosting p;  // abandoned before a restart: nothing to send again
    p.state = "abandoned";
    p.error = "already abandoned on chain";
    return p;
  }
  if (!task.round_open || task.current_round != round)
    throw std::runtime_error("chain: round " + std::to_string(round) + " is not open on chain");
  const auto receipt = wallet_.transact(contract_address_, chain::alliance::abandon_round(task_));
  RoundPosting p;
  p.state = "abandoned";
  p.tx = receipt.tx_hash;
  p.block = receipt.block_number;
  return p;
}

}  // namespace murmur::server
