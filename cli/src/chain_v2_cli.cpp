// `murmur chain-v2`: the creator's and the nodes' own calls on AllianceTaskV2 (issue 16) around
// what murmurd and `murmur node --rpc` do each round: create a task, stake and join, read a task
// or a round or a node, claim; leave, unstake and withdraw; the creator's set-aggregator and
// cancel; anyone's abandon of a dead round and report of an equivocating proposer.
// contracts/README.md ("AllianceTaskV2") has the parameters and their limits.
#include "chain_v2_cli.hpp"

#include <functional>
#include <iostream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "murmur/chain/alliance.hpp"
#include "murmur/chain/alliance_v2.hpp"
#include "murmur/chain/deployment.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/secp256k1.hpp"
#include "murmur/chain/wallet.hpp"

namespace murmur::cli {
namespace {

using namespace murmur::chain;
using nlohmann::json;

struct V2Common {
  std::string rpc = "http://127.0.0.1:8545";
  std::string deployment = "contracts/deployments/localhost.json";
  std::string key_file;
  bool json_out = false;
};

/// A connection to the deployment's AllianceTaskV2, with the caller's key on demand.
struct V2Session {
  explicit V2Session(const V2Common& c) : rpc(c.rpc), eth(rpc, &alliance_v2::errors()) {
    dep = load_deployment(c.deployment);
    if (!dep.alliance_task_v2)
      throw std::runtime_error(c.deployment +
                               " has no \"allianceTaskV2\": deploy with `murmur chain deploy` or "
                               "scripts/chain.sh deploy");
    const std::uint64_t id = eth.chain_id();
    if (id != dep.chain_id)
      throw std::runtime_error("the node at " + c.rpc + " has chain id " + std::to_string(id) +
                               " but " + c.deployment + " was deployed on chain " +
                               std::to_string(dep.chain_id));
    v2 = *dep.alliance_task_v2;
  }
  Wallet& wallet(const V2Common& c) {
    if (!w)
      w.emplace(eth,
                load_key(c.key_file.empty() ? std::nullopt
                                            : std::optional<std::filesystem::path>(c.key_file)));
    return *w;
  }
  void ensure_allowance(Wallet& wl, const U256& amount) {
    if (erc20::allowance(eth, dep.token, wl.address(), v2) < amount)
      wl.transact(dep.token, erc20::approve(v2, amount));
  }
  RpcClient rpc;
  EthClient eth;
  Deployment dep;
  Address v2;
  std::optional<Wallet> w;
};

U256 number(const std::string& s, const char* what) {
  try {
    return U256::from_string(s);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) + ": " + e.what());
  }
}

json task_json(const V2TaskInfo& t) {
  const auto& w = t.windows;
  return {{"creator", t.creator.to_checksum()},
          {"aggregator", t.aggregator.to_checksum()},
          {"token", t.token.to_checksum()},
          {"totalRounds", t.total_rounds},
          {"finalizedRounds", t.finalized_rounds},
          {"currentRound", t.current_round},
          {"inFlight", t.in_flight},
          {"ended", t.ended},
          {"proposerBps", t.proposer_bps},
          {"slashBps", t.slash_bps},
          {"quorumBps", t.quorum_bps},
          {"toleranceBps", t.tolerance_bps},
          {"maxMembers", t.max_members},
          {"lastClosedAt", t.last_closed_at},
          {"minStake", t.min_stake.to_dec()},
          {"pool", t.pool.to_dec()},
          {"creatorBalance", t.creator_balance.to_dec()},
          {"modelHash", to_hex(t.model_hash)},
          {"ruleHash", to_hex(t.rule_hash)},
          {"windows",
           {{"propose", w.propose},
            {"post", w.post},
            {"commit", w.commit},
            {"reveal", w.reveal},
            {"exit", w.exit},
            {"unbonding", w.unbonding},
            {"taskTimeout", w.task_timeout}}}};
}

json round_json(const V2RoundInfo& r) {
  return {{"state", to_string(r.state)},
          {"participants", r.participant_count},
          {"proposers", r.proposer_count},
          {"voters", r.voter_count},
          {"updateCommits", r.update_commits},
          {"voteCommits", r.vote_commits},
          {"reveals", r.reveals},
          {"seedBlock", r.seed_block},
          {"proposeDeadline", r.propose_deadline},
          {"postDeadline", r.post_deadline},
          {"commitDeadline", r.commit_deadline},
          {"revealDeadline", r.reveal_deadline},
          {"seed", to_hex(r.seed)},
          {"modelHash", to_hex(r.model_hash)},
          {"includedHash", to_hex(r.included_hash)},
          {"ruleHash", to_hex(r.rule_hash)},
          {"median", r.median},
          {"accepted", r.accepted},
          {"revealedStake", r.revealed_stake.to_dec()},
          {"voterStake", r.voter_stake.to_dec()},
          {"paid", r.paid.to_dec()},
          {"slashed", r.slashed.to_dec()}};
}

}  // namespace

void add_chain_v2_commands(CLI::App& app) {
  auto c = std::make_shared<V2Common>();
  CLI::App* cmd = app.add_subcommand(
      "chain-v2",
      "AllianceTaskV2 (issue 16): create a task, stake and join, status, claim, and the ways "
      "out: leave, unstake, withdraw, set-aggregator, cancel, abandon; report-equivocation");
  cmd->require_subcommand(1);
  cmd->add_option("--rpc", c->rpc, "JSON-RPC endpoint")->capture_default_str();
  cmd->add_option("--deployment", c->deployment, "deployment JSON (with \"allianceTaskV2\")")
      ->capture_default_str();
  cmd->add_option("--key-file", c->key_file, "key file (chmod 600); default $MURMUR_CHAIN_KEY");
  cmd->add_flag("--json", c->json_out, "print one JSON object");
  auto emit = [c](const json& j, const std::string& human) {
    std::cout << (c->json_out ? j.dump() : human) << "\n";
  };

  {  // create-task
    auto* sub = cmd->add_subcommand("create-task", "Create a task and fund its pool");
    struct Args {
      std::string pool, rounds, min_stake, aggregator, spec, initial;
      std::string rule = "trimmed-mean(beta=0.2)";
      std::uint64_t max_members = 100, proposer_bps = 5000, slash_bps = 1000, quorum_bps = 5000,
                    tolerance_bps = 2000;
      V2Windows windows{600, 300, 300, 300, 60, 86'400, 604'800};
    };
    auto a = std::make_shared<Args>();
    sub->add_option("--reward-pool", a->pool, "pool in token base units")->required();
    sub->add_option("--rounds", a->rounds, "rounds that pay out")->required();
    sub->add_option("--min-stake", a->min_stake, "stake needed to join")->required();
    sub->add_option("--aggregator", a->aggregator, "murmurd's address")->required();
    sub->add_option("--model-spec-hash", a->spec, "bytes32 of the model specification")->required();
    sub->add_option("--initial-model-hash", a->initial, "bytes32 of the initial model")->required();
    sub->add_option("--rule", a->rule,
                    "the robust rule's spec; ruleHash = keccak256 of this text as given")
        ->capture_default_str();
    sub->add_option("--max-members", a->max_members)->capture_default_str();
    sub->add_option("--proposer-bps", a->proposer_bps)->capture_default_str();
    sub->add_option("--slash-bps", a->slash_bps)->capture_default_str();
    sub->add_option("--quorum-bps", a->quorum_bps, "revealed voter stake needed")
        ->capture_default_str();
    sub->add_option("--tolerance-bps", a->tolerance_bps, "|score - median| paid, not slashed")
        ->capture_default_str();
    sub->add_option("--propose-s", a->windows.propose)->capture_default_str();
    sub->add_option("--post-s", a->windows.post)->capture_default_str();
    sub->add_option("--commit-s", a->windows.commit)->capture_default_str();
    sub->add_option("--reveal-s", a->windows.reveal)->capture_default_str();
    sub->add_option("--exit-s", a->windows.exit)->capture_default_str();
    sub->add_option("--unbonding-s", a->windows.unbonding)->capture_default_str();
    sub->add_option("--task-timeout-s", a->windows.task_timeout)->capture_default_str();
    sub->callback([c, a, emit] {
      V2Session s(*c);
      Wallet& w = s.wallet(*c);
      V2TaskParams p;
      p.token = s.dep.token;
      p.reward_pool = number(a->pool, "--reward-pool");
      p.total_rounds = number(a->rounds, "--rounds");
      p.min_stake = number(a->min_stake, "--min-stake");
      p.max_members = U256(a->max_members);
      p.proposer_bps = U256(a->proposer_bps);
      p.slash_bps = U256(a->slash_bps);
      p.quorum_bps = U256(a->quorum_bps);
      p.tolerance_bps = U256(a->tolerance_bps);
      p.aggregator = Address::from_hex(a->aggregator);
      p.model_spec_hash = hash_from_hex(a->spec);
      p.initial_model_hash = hash_from_hex(a->initial);
      p.rule_hash = keccak256(std::string_view(a->rule));
      p.windows = a->windows;
      s.ensure_allowance(w, p.reward_pool);
      const Receipt r = w.transact(s.v2, alliance_v2::create_task(p));
      const U256 id = alliance_v2::task_id_from_receipt(r, s.v2);
      emit({{"taskId", id.to_dec()}, {"txHash", to_hex(r.tx_hash)}},
           "created AllianceTaskV2 task " + id.to_dec() + " (rule hash " + to_hex(p.rule_hash) +
               ")");
    });
  }
  {  // join: approve, stake, join
    auto* sub = cmd->add_subcommand("join", "Stake (approving the token first) and join a task");
    auto task = std::make_shared<std::string>(), amount = std::make_shared<std::string>();
    sub->add_option("--task", *task, "task id")->required();
    sub->add_option("--stake", *amount, "stake to add first, base units (0: none)")->required();
    sub->callback([c, task, amount, emit] {
      V2Session s(*c);
      Wallet& w = s.wallet(*c);
      const U256 t = number(*task, "--task"), n = number(*amount, "--stake");
      if (n != U256()) {
        s.ensure_allowance(w, n);
        w.transact(s.v2, alliance_v2::stake(t, n));
      }
      const Receipt r = w.transact(s.v2, alliance_v2::join(t));
      const auto info = AllianceTaskV2Contract(s.eth, s.v2).node_info(t, w.address());
      emit({{"stake", info.stake.to_dec()}, {"joined", info.joined}, {"txHash", to_hex(r.tx_hash)}},
           "joined task " + t.to_dec() + " with stake " + info.stake.to_dec());
    });
  }
  {  // status
    auto* sub = cmd->add_subcommand(
        "status", "A task, one of its rounds (--round) or one of its nodes (--node)");
    auto task = std::make_shared<std::string>(), node = std::make_shared<std::string>();
    auto round = std::make_shared<std::optional<std::uint64_t>>();
    sub->add_option("--task", *task, "task id")->required();
    auto* by_round = sub->add_option("--round", *round, "round number");
    sub->add_option("--node", *node, "a node's address: stake, unbonding, reward, membership")
        ->excludes(by_round);
    sub->callback([c, task, round, node, emit] {
      V2Session s(*c);
      AllianceTaskV2Contract v2(s.eth, s.v2);
      const U256 t = number(*task, "--task");
      json j;
      if (!node->empty()) {
        const auto n = v2.node_info(t, Address::from_hex(*node));
        j = {{"stake", n.stake.to_dec()},
             {"reward", n.reward.to_dec()},
             {"pending", n.pending.to_dec()},
             {"unlockAt", n.unlock_at.to_dec()},
             {"joined", n.joined},
             {"bound", n.bound}};
      } else {
        j = *round ? round_json(v2.get_round(t, U256(**round))) : task_json(v2.get_task(t));
      }
      emit(j, j.dump(2));
    });
  }
  // A node's and the creator's own way out: each is one transaction by the key's owner, and a
  // refusal is the contract's typed error (e.g. NotUnlocked with its time, RoundInFlight).
  auto simple = [c, emit](CLI::App* sub, std::shared_ptr<std::string> task,
                          std::function<Bytes(Wallet&, const U256&)> call,
                          std::function<std::string(V2Session&, Wallet&, const U256&)> after) {
    sub->add_option("--task", *task, "task id")->required();
    sub->callback([c, task, call, after, emit] {
      V2Session s(*c);
      Wallet& w = s.wallet(*c);
      const U256 t = number(*task, "--task");
      const Receipt r = w.transact(s.v2, call(w, t));
      const std::string what = after(s, w, t);
      emit({{"txHash", to_hex(r.tx_hash)}, {"result", what}},
           what + " (tx " + to_hex(r.tx_hash) + ")");
    });
  };
  auto node_state = [](V2Session& s, Wallet& w, const U256& t) {
    const auto n = AllianceTaskV2Contract(s.eth, s.v2).node_info(t, w.address());
    return "stake " + n.stake.to_dec() + ", unbonding " + n.pending.to_dec() + " until " +
           n.unlock_at.to_dec() + ", joined " + (n.joined ? "yes" : "no");
  };
  {  // leave
    auto* sub = cmd->add_subcommand(
        "leave", "Leave a task (between rounds: a participant of a round in flight is bound)");
    simple(
        sub, std::make_shared<std::string>(),
        [](Wallet&, const U256& t) { return alliance_v2::leave(t); }, node_state);
  }
  {  // unstake
    auto* sub = cmd->add_subcommand(
        "unstake", "Move stake into unbonding (withdraw it once the task's unbonding window ends)");
    auto amount = std::make_shared<std::string>();
    sub->add_option("--amount", *amount, "base units")->required();
    simple(
        sub, std::make_shared<std::string>(),
        [amount](Wallet&, const U256& t) {
          return alliance_v2::unstake(t, number(*amount, "--amount"));
        },
        node_state);
  }
  {  // withdraw
    auto* sub = cmd->add_subcommand("withdraw", "Withdraw unbonded stake once it is unlocked");
    simple(
        sub, std::make_shared<std::string>(),
        [](Wallet&, const U256& t) { return alliance_v2::withdraw(t); },
        [](V2Session& s, Wallet& w, const U256& t) {
          return "token balance " + erc20::balance_of(s.eth, s.dep.token, w.address()).to_dec() +
                 " after withdrawing from task " + t.to_dec();
        });
  }
  {  // set-aggregator
    auto* sub = cmd->add_subcommand("set-aggregator",
                                    "The creator names another aggregator (a lost key, a move)");
    auto to = std::make_shared<std::string>();
    sub->add_option("--aggregator", *to, "the new aggregator's address")->required();
    simple(
        sub, std::make_shared<std::string>(),
        [to](Wallet&, const U256& t) {
          return alliance_v2::set_aggregator(t, Address::from_hex(*to));
        },
        [](V2Session& s, Wallet&, const U256& t) {
          return "aggregator " +
                 AllianceTaskV2Contract(s.eth, s.v2).get_task(t).aggregator.to_checksum();
        });
  }
  {  // cancel
    auto* sub = cmd->add_subcommand(
        "cancel",
        "The creator ends a task idle past its timeout; the unpaid pool becomes "
        "claimable by the creator (`claim`)");
    simple(
        sub, std::make_shared<std::string>(),
        [](Wallet&, const U256& t) { return alliance_v2::cancel_task(t); },
        [](V2Session& s, Wallet&, const U256& t) {
          const auto info = AllianceTaskV2Contract(s.eth, s.v2).get_task(t);
          return "task " + t.to_dec() + " ended; creator balance " + info.creator_balance.to_dec();
        });
  }
  {  // abandon
    auto* sub = cmd->add_subcommand(
        "abandon",
        "Anyone: abandon the round in flight once its seed expired undrawn or no "
        "candidate came by its post deadline (nobody is paid or slashed)");
    simple(
        sub, std::make_shared<std::string>(),
        [](Wallet&, const U256& t) { return alliance_v2::abandon_round(t); },
        [](V2Session& s, Wallet&, const U256& t) {
          AllianceTaskV2Contract v2(s.eth, s.v2);
          const auto task = v2.get_task(t);
          return "round " + std::to_string(task.current_round) + " " +
                 to_string(v2.get_round(t, U256(task.current_round)).state);
        });
  }
  {  // report-equivocation
    auto* sub = cmd->add_subcommand(
        "report-equivocation",
        "Anyone holding a node's signed EIP-712 Update for a round whose hash is not the one it "
        "committed on chain: slash it (slashBps of stake and unbonding tokens, once per round)");
    struct Evidence {
      std::string task, node, hash, samples, signature;
      std::uint64_t round = 0;
    };
    auto e = std::make_shared<Evidence>();
    sub->add_option("--task", e->task, "task id")->required();
    sub->add_option("--round", e->round, "the round the Update names")->required();
    sub->add_option("--node", e->node, "the proposer's address")->required();
    sub->add_option("--update-hash", e->hash, "the signed update hash (0x + 64 hex)")->required();
    sub->add_option("--num-samples", e->samples, "the signed sample count")->required();
    sub->add_option("--signature", e->signature, "the Update signature (0x + 130 hex, r||s||v)")
        ->required();
    sub->callback([c, e, emit] {
      V2Session s(*c);
      AllianceTaskV2Contract v2(s.eth, s.v2);
      const U256 t = number(e->task, "--task"), r(e->round);
      const Address node = Address::from_hex(e->node);
      const Hash32 hash = hash_from_hex(e->hash);
      const U256 samples = number(e->samples, "--num-samples");
      const Bytes signature = from_hex(e->signature);
      // The evidence is checked here first (the contract checks it again): a signature of
      // someone else, or of the hash the node committed, is not worth a transaction.
      std::optional<Address> signer;
      try {
        signer =
            recover_address(v2.update_digest(t, r, hash, samples), Signature::from_rsv(signature));
      } catch (const std::exception&) {  // not a 65-byte signature that recovers: no evidence
      }
      if (!signer || *signer != node)
        throw std::runtime_error("the signature is not " + node.to_checksum() +
                                 "'s over Update(task " + t.to_dec() + ", round " + r.to_dec() +
                                 ", " + to_hex(hash) + ", " + samples.to_dec() + ")");
      const Hash32 committed = v2.entry_of(t, r, node).commitment;
      if (committed == hash)
        throw std::runtime_error(node.to_checksum() + " committed " + to_hex(hash) +
                                 " itself in round " + r.to_dec() + ": no equivocation");
      const U256 before = v2.node_info(t, node).stake;
      const Receipt rc = s.wallet(*c).transact(
          s.v2, alliance_v2::report_equivocation(t, r, node, hash, samples, signature));
      const auto after = v2.node_info(t, node);
      emit({{"txHash", to_hex(rc.tx_hash)},
            {"committed", to_hex(committed)},
            {"stakeBefore", before.to_dec()},
            {"stake", after.stake.to_dec()},
            {"pending", after.pending.to_dec()}},
           node.to_checksum() + " committed " + to_hex(committed) + " and signed " + to_hex(hash) +
               " for round " + r.to_dec() + ": slashed, stake " + before.to_dec() + " -> " +
               after.stake.to_dec() + " (tx " + to_hex(rc.tx_hash) + ")");
    });
  }
  {  // claim
    auto* sub = cmd->add_subcommand("claim", "Claim this key's credited rewards");
    auto task = std::make_shared<std::string>();
    sub->add_option("--task", *task, "task id")->required();
    sub->callback([c, task, emit] {
      V2Session s(*c);
      Wallet& w = s.wallet(*c);
      const U256 t = number(*task, "--task");
      const Receipt r = w.transact(s.v2, alliance_v2::claim(t));
      emit({{"txHash", to_hex(r.tx_hash)}}, "claimed (tx " + to_hex(r.tx_hash) + ")");
    });
  }
}

}  // namespace murmur::cli
