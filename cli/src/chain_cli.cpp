#include "chain_cli.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "murmur/chain/alliance.hpp"
#include "murmur/chain/deployment.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/poster.hpp"

namespace murmur::cli {
namespace {

using namespace murmur::chain;
using nlohmann::json;

/// Options shared by every `murmur chain` subcommand.
struct Common {
  std::string rpc = "http://127.0.0.1:8545";
  std::string deployment = "contracts/deployments/localhost.json";
  std::string key_file;
  bool json_out = false;
};

/// The connection a command works through (built on demand: `address` needs none).
struct Session {
  explicit Session(const Common& c, bool need_deployment = true)
      : rpc(c.rpc), eth(rpc, &alliance::errors()) {
    if (need_deployment) {
      dep = load_deployment(c.deployment);
      std::uint64_t id = eth.chain_id();
      if (id != dep.chain_id)
        throw std::runtime_error("the node at " + c.rpc + " has chain id " + std::to_string(id) +
                                 " but " + c.deployment + " was deployed on chain " +
                                 std::to_string(dep.chain_id) +
                                 ": pass the matching --rpc or --deployment");
    }
  }
  Wallet& wallet(const Common& c) {
    if (!w)
      w.emplace(eth,
                load_key(c.key_file.empty() ? std::nullopt
                                            : std::optional<std::filesystem::path>(c.key_file)));
    return *w;
  }
  RpcClient rpc;
  EthClient eth;
  Deployment dep;
  std::optional<Wallet> w;
};

U256 parse_u256(const std::string& s, const char* what) {
  try {
    return U256::from_string(s);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) + ": " + e.what());
  }
}

Hash32 parse_hash(const std::string& s, const char* what) {
  try {
    return hash_from_hex(s);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) +
                             " must be 32 bytes of hex (0x + 64 digits): " + e.what());
  }
}

void emit(const Common& c, const json& j, const std::string& human) {
  if (c.json_out)
    std::cout << j.dump() << "\n";
  else
    std::cout << human << "\n";
}

/// Approves `amount` for the AllianceTask if the allowance is short (one extra transaction).
void ensure_allowance(Session& s, Wallet& w, const U256& amount) {
  if (erc20::allowance(s.eth, s.dep.token, w.address(), s.dep.alliance_task) < amount)
    w.transact(s.dep.token, erc20::approve(s.dep.alliance_task, amount));
}

Bytes artifact_bytecode(const std::filesystem::path& dir, const std::string& name) {
  auto file = dir / (name + ".sol") / (name + ".json");
  std::ifstream in(file);
  if (!in)
    throw std::runtime_error(
        "no artifact " + file.string() +
        ": compile the contracts (cd contracts && npx hardhat compile) or pass --artifacts");
  return from_hex(json::parse(in).at("bytecode").get<std::string>());
}

/// `--token`: an address with code on the chain that answers ERC-20's totalSupply().
Address existing_erc20(EthClient& eth, const std::string& text, std::uint64_t chain_id) {
  Address token;
  try {
    token = Address::from_hex(text);
  } catch (const std::exception& e) {
    throw std::runtime_error("--token " + text + ": " + e.what());
  }
  const std::string code =
      eth.raw("eth_getCode", json::array({token.to_lower_hex(), "latest"})).get<std::string>();
  if (code.size() <= 2)
    throw std::runtime_error("--token " + token.to_checksum() + " has no code on chain " +
                             std::to_string(chain_id) +
                             ": pass the address of the deployed ERC-20 the tasks use");
  CallRequest call;
  call.to = token;
  call.data = from_hex("0x18160ddd");  // totalSupply()
  Bytes supply;
  try {
    supply = eth.call(call);
  } catch (const std::exception& e) {
    throw std::runtime_error("--token " + token.to_checksum() +
                             " does not answer ERC-20's totalSupply(): " + e.what());
  }
  if (supply.size() != 32)
    throw std::runtime_error("--token " + token.to_checksum() +
                             " does not answer ERC-20's totalSupply() with one uint256");
  return token;
}

void crash_hook(PosterOptions& o) {
  // Fault injection for the crash tests: die without any cleanup at the named point.
  auto die_if = [](const char* var, const char* where) -> std::function<void(const Posting&)> {
    const char* v = std::getenv(var);
    if (!v || std::string(v) != "1") return {};
    return [var, where](const Posting& p) {
      std::cerr << "murmur: " << var << "=1: exiting " << where << " " << to_hex(p.tx_hash) << "\n";
      std::_Exit(75);
    };
  };
  o.after_record = die_if("MURMUR_POSTER_CRASH_BEFORE_SEND", "after recording, before sending");
  o.after_send = die_if("MURMUR_POSTER_CRASH_AFTER_SEND", "after sending, before the receipt of");
}

json result_json(const PostingResult& r) {
  json j = {{"key", r.key.to_string()},
            {"success", r.success},
            {"alreadyDone", r.already_done},
            {"txHash", to_hex(r.tx_hash)},
            {"blockNumber", r.block_number},
            {"gasUsed", r.gas_used},
            {"error", r.error}};
  if (r.event)
    j["event"] = {{"accepted", r.event->accepted},
                  {"voteSum", to_signed_dec(r.event->vote_sum)},
                  {"rewardPaid", r.event->reward_paid.to_dec()},
                  {"slashed", r.event->slashed.to_dec()},
                  {"toPool", r.event->to_pool.to_dec()},
                  {"toCreator", r.event->to_creator.to_dec()}};
  return j;
}

std::string result_text(const PostingResult& r) {
  std::string s = r.key.to_string() + ": " +
                  (r.success ? "confirmed" : "reverted (" + r.error + ")") + " in tx " +
                  to_hex(r.tx_hash) + " block " + std::to_string(r.block_number);
  if (r.already_done) s += " (already posted earlier; nothing sent)";
  if (r.event)
    s += std::string(", model ") + (r.event->accepted ? "accepted" : "rejected") + ", vote sum " +
         to_signed_dec(r.event->vote_sum) + ", paid " + r.event->reward_paid.to_dec() +
         ", slashed " + r.event->slashed.to_dec();
  return s;
}

}  // namespace

void add_chain_commands(CLI::App& app) {
  auto c = std::make_shared<Common>();
  CLI::App* chain = app.add_subcommand(
      "chain", "Chain operations on AllianceTask: tasks, stakes, rounds, votes, rewards");
  chain->require_subcommand(1);
  chain->add_option("--rpc", c->rpc, "JSON-RPC endpoint")->capture_default_str();
  chain
      ->add_option("--deployment", c->deployment,
                   "deployment JSON written by contracts/scripts/deploy.js")
      ->capture_default_str();
  chain->add_option("--key-file", c->key_file,
                    "file with the hex private key (chmod 600); default: $MURMUR_CHAIN_KEY");
  chain->add_flag("--json", c->json_out, "print one JSON object per command");

  chain->add_subcommand("address", "Print the address of the signing key")->callback([c] {
    Address a = load_key(c->key_file.empty() ? std::nullopt
                                             : std::optional<std::filesystem::path>(c->key_file))
                    .address();
    emit(*c, {{"address", a.to_checksum()}}, a.to_checksum());
  });

  {  // deploy
    auto* cmd = chain->add_subcommand(
        "deploy",
        "Deploy AllianceTask and AllianceTaskV2 from Hardhat artifacts with the ERC-20 they use "
        "(--token, or MockToken on a development chain), write --deployment");
    auto artifacts = std::make_shared<std::string>("contracts/artifacts/contracts");
    auto token = std::make_shared<std::string>();
    cmd->add_option("--artifacts", *artifacts, "Hardhat artifacts folder")->capture_default_str();
    cmd->add_option(
        "--token", *token,
        "address of an existing ERC-20 that tasks stake and pay in (required outside "
        "the development chains 31337 and 1337, where MockToken is deployed without it)");
    cmd->callback([c, artifacts, token] {
      Session s(*c, false);
      // Decided before any transaction: nothing is spent on a refused deployment.
      const std::uint64_t id = s.eth.chain_id();
      const TokenChoice choice = choose_token(id, !token->empty());
      std::optional<Address> given;
      if (choice == TokenChoice::kUseGiven) given = existing_erc20(s.eth, *token, id);
      Wallet& w = s.wallet(*c);
      Deployment d;
      d.chain_id = w.chain_id();
      if (given) {
        d.token = *given;
      } else {
        d.token =
            *w.transact(std::nullopt, artifact_bytecode(*artifacts, "MockToken")).contract_address;
      }
      const Receipt alliance =
          w.transact(std::nullopt, artifact_bytecode(*artifacts, "AllianceTask"));
      d.alliance_task = *alliance.contract_address;
      d.block_number = alliance.block_number;
      d.alliance_task_v2 =
          *w.transact(std::nullopt, artifact_bytecode(*artifacts, "AllianceTaskV2"))
               .contract_address;
      d.network = given ? "custom" : "development";
      d.deployer = w.address();
      save_deployment(c->deployment, d);
      const std::string token_line =
          (given ? "token (given) " : "MockToken (development chain, mintable by anyone) ") +
          d.token.to_checksum();
      emit(*c,
           {{"token", d.token.to_checksum()},
            {"mockToken", !given},
            {"allianceTask", d.alliance_task.to_checksum()},
            {"allianceTaskV2", d.alliance_task_v2->to_checksum()},
            {"chainId", d.chain_id}},
           token_line + "\nAllianceTask " + d.alliance_task.to_checksum() + "\nAllianceTaskV2 " +
               d.alliance_task_v2->to_checksum() + "\nwrote " + c->deployment);
    });
  }
  {  // mint
    auto* cmd = chain->add_subcommand("mint", "Mint MockToken (local chains only) to an address");
    auto to = std::make_shared<std::string>(), amount = std::make_shared<std::string>();
    cmd->add_option("--to", *to, "recipient (default: the key's address)");
    cmd->add_option("--amount", *amount, "base units")->required();
    cmd->callback([c, to, amount] {
      Session s(*c);
      Wallet& w = s.wallet(*c);
      Address dest = to->empty() ? w.address() : Address::from_hex(*to);
      Receipt r = w.transact(s.dep.token, erc20::mint(dest, parse_u256(*amount, "--amount")));
      emit(*c, {{"txHash", to_hex(r.tx_hash)}}, "minted " + *amount + " to " + dest.to_checksum());
    });
  }
  {  // create-task
    auto* cmd = chain->add_subcommand(
        "create-task", "Create a task and fund its reward pool (approves the token first)");
    struct Args {
      std::string pool, rounds, min_stake, proposer_bps = "5000", slash_bps = "1000", aggregator,
                                           spec, initial;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("--reward-pool", a->pool, "pool in token base units")->required();
    cmd->add_option("--rounds", a->rounds, "rounds that pay out")->required();
    cmd->add_option("--min-stake", a->min_stake, "stake needed to join")->required();
    cmd->add_option("--proposer-bps", a->proposer_bps, "proposer fraction, basis points")
        ->capture_default_str();
    cmd->add_option("--slash-bps", a->slash_bps, "slash fraction, basis points")
        ->capture_default_str();
    cmd->add_option("--aggregator", a->aggregator, "the server's address")->required();
    cmd->add_option("--model-spec-hash", a->spec, "bytes32 of the model specification")->required();
    cmd->add_option("--initial-model-hash", a->initial, "bytes32 of the initial model")->required();
    cmd->callback([c, a] {
      Session s(*c);
      Wallet& w = s.wallet(*c);
      TaskParams p{s.dep.token,
                   parse_u256(a->pool, "--reward-pool"),
                   parse_u256(a->rounds, "--rounds"),
                   parse_u256(a->min_stake, "--min-stake"),
                   parse_u256(a->proposer_bps, "--proposer-bps"),
                   parse_u256(a->slash_bps, "--slash-bps"),
                   Address::from_hex(a->aggregator),
                   parse_hash(a->spec, "--model-spec-hash"),
                   parse_hash(a->initial, "--initial-model-hash")};
      ensure_allowance(s, w, p.reward_pool);
      Receipt r = w.transact(s.dep.alliance_task, alliance::create_task(p));
      U256 id = alliance::task_id_from_receipt(r, s.dep.alliance_task);
      emit(*c, {{"taskId", id.to_dec()}, {"txHash", to_hex(r.tx_hash)}},
           "created task " + id.to_dec());
    });
  }
  auto task_opt = [](CLI::App* cmd, std::string& task) {
    cmd->add_option("--task", task, "task id")->required();
  };
  {  // stake / unstake
    for (bool add : {true, false}) {
      auto* cmd = chain->add_subcommand(
          add ? "stake" : "unstake",
          add ? "Add stake to a task (approves the token first)" : "Withdraw stake");
      auto task = std::make_shared<std::string>(), amount = std::make_shared<std::string>();
      task_opt(cmd, *task);
      cmd->add_option("--amount", *amount, "base units")->required();
      cmd->callback([c, task, amount, add] {
        Session s(*c);
        Wallet& w = s.wallet(*c);
        U256 t = parse_u256(*task, "--task"), n = parse_u256(*amount, "--amount");
        if (add) ensure_allowance(s, w, n);
        Receipt r =
            w.transact(s.dep.alliance_task, add ? alliance::stake(t, n) : alliance::unstake(t, n));
        NodeInfo info = AllianceTaskContract(s.eth, s.dep.alliance_task).node_info(t, w.address());
        emit(*c, {{"stake", info.stake.to_dec()}, {"txHash", to_hex(r.tx_hash)}},
             std::string(add ? "staked " : "unstaked ") + n.to_dec() + "; stake now " +
                 info.stake.to_dec());
      });
    }
  }
  {  // join / leave / start-round / claim: one task id, one transaction
    struct Simple {
      const char* name;
      const char* help;
      Bytes (*encode)(const U256&);
    };
    for (const Simple& sc :
         {Simple{"join", "Join a task (stake at least minStake first)", alliance::join},
          Simple{"leave", "Leave a task", alliance::leave},
          Simple{"start-round", "Start the next round (aggregator only)", alliance::start_round},
          Simple{"claim", "Claim rewards (and the creator's balance)", alliance::claim}}) {
      auto* cmd = chain->add_subcommand(sc.name, sc.help);
      auto task = std::make_shared<std::string>();
      task_opt(cmd, *task);
      std::string name = sc.name;
      auto encode = sc.encode;
      cmd->callback([c, task, name, encode] {
        Session s(*c);
        Wallet& w = s.wallet(*c);
        U256 t = parse_u256(*task, "--task");
        U256 before = erc20::balance_of(s.eth, s.dep.token, w.address());
        Receipt r = w.transact(s.dep.alliance_task, encode(t));
        json j = {{"txHash", to_hex(r.tx_hash)}, {"blockNumber", r.block_number}};
        std::string text = name + " done in tx " + to_hex(r.tx_hash);
        if (name == "start-round") {
          auto [round, seed] = alliance::round_from_receipt(r, s.dep.alliance_task);
          j["round"] = round.to_dec();
          j["seed"] = to_hex(seed);
          text = "started round " + round.to_dec() + ", seed " + to_hex(seed);
        } else if (name == "claim") {
          U256 got = erc20::balance_of(s.eth, s.dep.token, w.address()) - before;
          j["claimed"] = got.to_dec();
          text = "claimed " + got.to_dec();
        }
        emit(*c, j, text);
      });
    }
  }
  {  // status
    auto* cmd = chain->add_subcommand(
        "status", "Show a task, its current round, and a node's stake and rewards");
    auto task = std::make_shared<std::string>(), node = std::make_shared<std::string>();
    task_opt(cmd, *task);
    cmd->add_option("--node", *node,
                    "node address (default: the key's address, if a key is given)");
    cmd->callback([c, task, node] {
      Session s(*c);
      AllianceTaskContract ct(s.eth, s.dep.alliance_task);
      U256 t = parse_u256(*task, "--task");
      TaskInfo ti = ct.get_task(t);
      if (ti.creator.is_zero())
        throw std::runtime_error("task " + t.to_dec() + " does not exist on " +
                                 s.dep.alliance_task.to_checksum());
      json j = {{"task", t.to_dec()},
                {"creator", ti.creator.to_checksum()},
                {"aggregator", ti.aggregator.to_checksum()},
                {"totalRounds", ti.total_rounds},
                {"finalizedRounds", ti.finalized_rounds},
                {"currentRound", ti.current_round},
                {"roundOpen", ti.round_open},
                {"pool", ti.pool.to_dec()},
                {"creatorBalance", ti.creator_balance.to_dec()},
                {"minStake", ti.min_stake.to_dec()},
                {"proposerBps", ti.proposer_bps},
                {"slashBps", ti.slash_bps},
                {"modelHash", to_hex(ti.model_hash)},
                {"members", ct.members(t).size()}};
      std::string text = "task " + t.to_dec() + ": round " + std::to_string(ti.current_round) +
                         (ti.round_open ? " open" : " closed") + ", " +
                         std::to_string(ti.finalized_rounds) + "/" +
                         std::to_string(ti.total_rounds) + " finalized, pool " + ti.pool.to_dec() +
                         ", " + std::to_string(j["members"].get<std::size_t>()) + " members";
      std::optional<Address> who;
      if (!node->empty())
        who = Address::from_hex(*node);
      else if (!c->key_file.empty() || std::getenv(kKeyEnvVar))
        who = s.wallet(*c).address();
      if (who) {
        NodeInfo ni = ct.node_info(t, *who);
        j["node"] = {{"address", who->to_checksum()},
                     {"stake", ni.stake.to_dec()},
                     {"reward", ni.reward.to_dec()},
                     {"joined", ni.joined},
                     {"bound", ni.bound}};
        text += "\nnode " + who->to_checksum() + ": stake " + ni.stake.to_dec() + ", claimable " +
                ni.reward.to_dec() + (ni.joined ? ", joined" : ", not joined") +
                (ni.bound ? ", bound to the open round" : "");
        if (ti.current_round > 0) {
          Role role = ct.role_of(t, U256(ti.current_round), *who);
          j["node"]["role"] = role == Role::Proposer ? "proposer" : "voter";
          text += std::string(", role in round ") + std::to_string(ti.current_round) + ": " +
                  (role == Role::Proposer ? "proposer" : "voter");
        }
      }
      emit(*c, j, text);
    });
  }
  {  // vote
    auto* cmd = chain->add_subcommand(
        "vote", "Sign an EIP-712 vote (no transaction); prints {voter, score, signature}");
    auto task = std::make_shared<std::string>(), round = std::make_shared<std::string>(),
         model = std::make_shared<std::string>();
    auto score = std::make_shared<int>(0);
    task_opt(cmd, *task);
    cmd->add_option("--round", *round, "round")->required();
    cmd->add_option("--model-hash", *model, "the round's candidate model hash")->required();
    cmd->add_option("--score", *score, "+1 accept or -1 reject")
        ->required()
        ->check(CLI::IsMember({1, -1}));
    cmd->callback([c, task, round, model, score] {
      Session s(*c);
      PrivateKey key = load_key(
          c->key_file.empty() ? std::nullopt : std::optional<std::filesystem::path>(c->key_file));
      Eip712Domain domain{"Murmuration", "1", s.dep.chain_id, s.dep.alliance_task};
      VoteMessage v{parse_u256(*task, "--task"), parse_u256(*round, "--round"),
                    parse_hash(*model, "--model-hash"), static_cast<std::int8_t>(*score)};
      json j = {{"voter", key.address().to_checksum()},
                {"score", *score},
                {"signature", to_hex(sign_vote(key, domain, v))}};
      std::cout << j.dump() << "\n";
    });
  }
  {  // finalize / resume
    auto outbox = std::make_shared<std::string>("murmur-outbox.db");
    auto* fin = chain->add_subcommand(
        "finalize", "Post finalizeRound exactly once through the outbox (aggregator)");
    auto task = std::make_shared<std::string>(), round = std::make_shared<std::string>(),
         model = std::make_shared<std::string>(), votes = std::make_shared<std::string>();
    auto flagged = std::make_shared<std::vector<std::string>>();
    task_opt(fin, *task);
    fin->add_option("--round", *round, "round")->required();
    fin->add_option("--model-hash", *model, "candidate model hash")->required();
    fin->add_option("--votes", *votes,
                    "JSON file: array of {voter, score, signature} (from `murmur chain vote`)");
    fin->add_option("--flag", *flagged, "flagged proposer address (repeatable)");
    fin->add_option("--outbox", *outbox, "SQLite outbox file")->capture_default_str();
    fin->callback([c, task, round, model, votes, flagged, outbox] {
      Session s(*c);
      Outbox ob(*outbox);
      PosterOptions opts;
      crash_hook(opts);
      Poster poster(s.wallet(*c), s.dep.alliance_task, ob, opts);
      FinalizeRequest rq{parse_u256(*task, "--task"),
                         parse_u256(*round, "--round"),
                         parse_hash(*model, "--model-hash"),
                         {},
                         {}};
      if (!votes->empty()) {
        std::ifstream in(*votes);
        if (!in) throw std::runtime_error("cannot read --votes file " + *votes);
        for (const auto& v : json::parse(in))
          rq.votes.push_back(SignedVote{Address::from_hex(v.at("voter").get<std::string>()),
                                        static_cast<std::int8_t>(v.at("score").get<int>()),
                                        from_hex(v.at("signature").get<std::string>())});
      }
      for (const auto& f : *flagged) rq.flagged_proposers.push_back(Address::from_hex(f));
      PostingResult r = poster.finalize_round(rq);
      emit(*c, result_json(r), result_text(r));
      if (!r.success) throw std::runtime_error("finalizeRound reverted: " + r.error);
    });
    auto* res =
        chain->add_subcommand("resume", "Reconcile the outbox's pending postings (after a crash)");
    res->add_option("--outbox", *outbox, "SQLite outbox file")->capture_default_str();
    res->callback([c, outbox] {
      Session s(*c);
      Outbox ob(*outbox);
      Poster poster(s.wallet(*c), s.dep.alliance_task, ob);
      json all = json::array();
      for (const auto& r : poster.resume()) {
        all.push_back(result_json(r));
        if (!c->json_out) std::cout << result_text(r) << "\n";
      }
      if (c->json_out)
        std::cout << json{{"reconciled", all}}.dump() << "\n";
      else if (all.empty())
        std::cout << "nothing pending in " << *outbox << "\n";
    });
  }
}

}  // namespace murmur::cli
