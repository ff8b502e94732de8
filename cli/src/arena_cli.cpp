#include "arena_cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include <nlohmann/json.hpp>

#include "arena_daemon.hpp"
#include "arena_train_cli.hpp"
#include "chain_cli.hpp"
#include "murmur/chain/alliance.hpp"
#include "murmur/chain/arena_settlement.hpp"
#include "murmur/chain/arena_store.hpp"
#include "murmur/chain/arena_task.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/wallet.hpp"

namespace murmur::cli {
namespace {

using namespace murmur::chain;
using nlohmann::json;
namespace fs = std::filesystem;

/// Where `murmur arena deploy` writes the addresses, and every other command reads them.
struct ArenaDeployment {
  std::uint64_t chain_id = 0;
  Address token, arena_task;
};

void save(const fs::path& file, const ArenaDeployment& d, const Address& deployer,
          std::uint64_t block) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  json j = {{"chainId", d.chain_id},
            {"token", d.token.to_checksum()},
            {"arenaTask", d.arena_task.to_checksum()},
            {"deployer", deployer.to_checksum()},
            {"blockNumber", block}};
  const fs::path tmp = file.string() + ".tmp";
  std::ofstream(tmp) << j.dump(1) << "\n";
  fs::rename(tmp, file);
}

ArenaDeployment load(const fs::path& file) {
  std::ifstream in(file);
  if (!in)
    throw std::runtime_error("no arena deployment " + file.string() +
                             ": run `murmur arena deploy` first or pass --arena-deployment");
  try {
    json j = json::parse(in);
    return {j.at("chainId").get<std::uint64_t>(),
            Address::from_hex(j.at("token").get<std::string>()),
            Address::from_hex(j.at("arenaTask").get<std::string>())};
  } catch (const std::exception& e) {
    throw std::runtime_error(file.string() + " is not an arena deployment file: " + e.what());
  }
}

struct Common {
  std::string rpc = "http://127.0.0.1:8545";
  std::string deployment = "contracts/deployments/arena-localhost.json";
  std::string key_file;
  bool json_out = false;
};

struct Session {
  explicit Session(const Common& c, bool need_deployment = true)
      : rpc(c.rpc), eth(rpc, &arena::errors()) {
    if (!need_deployment) return;
    dep = load(c.deployment);
    const std::uint64_t id = eth.chain_id();
    if (id != dep.chain_id)
      throw std::runtime_error("the node at " + c.rpc + " has chain id " + std::to_string(id) +
                               " but " + c.deployment + " was deployed on chain " +
                               std::to_string(dep.chain_id) +
                               ": pass the matching --rpc or --arena-deployment");
  }
  Wallet& wallet(const Common& c) {
    if (!w)
      w.emplace(eth,
                load_key(c.key_file.empty() ? std::nullopt : std::optional<fs::path>(c.key_file)));
    return *w;
  }
  ArenaTaskContract contract() { return ArenaTaskContract(eth, dep.arena_task); }
  RpcClient rpc;
  EthClient eth;
  ArenaDeployment dep;
  std::optional<Wallet> w;
};

void emit(const Common& c, const json& j, const std::string& human) {
  std::cout << (c.json_out ? j.dump() : human) << "\n";
}

U256 parse_u256(const std::string& s, const char* what) {
  try {
    return U256::from_string(s);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) + " " + s + ": " + e.what());
  }
}

Address parse_address(const std::string& s, const char* what) {
  try {
    return Address::from_hex(s);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) + " " + s + ": " + e.what());
  }
}

Hash32 file_keccak(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  Bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return keccak256(data);
}

/// A hash given as hex, or computed from a directory (adapter hashing) or a file (keccak256).
Hash32 hash_of(const std::string& hex, const std::string& path) {
  if (!hex.empty()) return hash_from_hex(hex);
  if (path.empty()) return Hash32{};
  return fs::is_directory(path) ? adapter_directory_hash(path) : file_keccak(path);
}

/// Approves `amount` for ArenaTask if the allowance is short.
void ensure_allowance(Session& s, Wallet& w, const U256& amount) {
  if (erc20::allowance(s.eth, s.dep.token, w.address(), s.dep.arena_task) < amount)
    w.transact(s.dep.token, erc20::approve(s.dep.arena_task, amount));
}

Bytes artifact_bytecode(const fs::path& dir, const std::string& name) {
  const fs::path file = dir / (name + ".sol") / (name + ".json");
  std::ifstream in(file);
  if (!in)
    throw std::runtime_error("no artifact " + file.string() +
                             ": compile the contracts (cd contracts && npx hardhat compile) or "
                             "pass --artifacts");
  return from_hex(json::parse(in).at("bytecode").get<std::string>());
}

json result_json(const ArenaResult& r) {
  return {{"consensus", r.consensus ? json(*r.consensus) : json(nullptr)},
          {"rank", r.rank ? json(*r.rank) : json(nullptr)},
          {"reward", r.reward.to_dec()}};
}

}  // namespace

void add_arena_commands(CLI::App& app) {
  auto c = std::make_shared<Common>();
  CLI::App* arena = app.add_subcommand(
      "arena", "AI Arena on chain (ArenaTask): tasks, stakes, submissions, scores, rewards");
  arena->require_subcommand(1);
  arena->add_option("--rpc", c->rpc, "JSON-RPC endpoint")->capture_default_str();
  arena->add_option("--arena-deployment", c->deployment, "JSON written by `murmur arena deploy`")
      ->capture_default_str();
  arena->add_option("--key-file", c->key_file,
                    "file with the hex private key (chmod 600); default: $MURMUR_CHAIN_KEY");
  arena->add_flag("--json", c->json_out, "print one JSON object per command");
  add_arena_train_commands(*arena);  // train, demo-kit (no chain)
  auto task_opt = [](CLI::App* cmd, std::string& task) {
    cmd->add_option("--task", task, "task id")->required();
  };

  {  // deploy
    auto* cmd = arena->add_subcommand(
        "deploy", "Deploy ArenaTask (and MockToken on a development chain, or use --token)");
    auto artifacts = std::make_shared<std::string>("contracts/artifacts/contracts");
    auto token = std::make_shared<std::string>();
    cmd->add_option("--artifacts", *artifacts, "Hardhat artifacts folder")->capture_default_str();
    cmd->add_option("--token", *token, "an existing ERC-20 (required outside 31337 and 1337)");
    cmd->callback([c, artifacts, token] {
      Session s(*c, false);
      const std::uint64_t id = s.eth.chain_id();
      const TokenChoice choice = choose_token(id, !token->empty());
      Wallet& w = s.wallet(*c);
      ArenaDeployment d;
      d.chain_id = id;
      d.token = choice == TokenChoice::kUseGiven
                    ? parse_address(*token, "--token")
                    : *w.transact(std::nullopt, artifact_bytecode(*artifacts, "MockToken"))
                           .contract_address;
      const Receipt r = w.transact(std::nullopt, artifact_bytecode(*artifacts, "ArenaTask"));
      d.arena_task = *r.contract_address;
      save(c->deployment, d, w.address(), r.block_number);
      emit(*c,
           {{"token", d.token.to_checksum()},
            {"arenaTask", d.arena_task.to_checksum()},
            {"chainId", id}},
           "ArenaTask " + d.arena_task.to_checksum() + "\ntoken " + d.token.to_checksum() +
               "\nwrote " + c->deployment);
    });
  }
  {  // mint
    auto* cmd = arena->add_subcommand("mint", "Mint MockToken (development chains only)");
    auto to = std::make_shared<std::string>(), amount = std::make_shared<std::string>();
    cmd->add_option("--to", *to, "recipient (default: the key's address)");
    cmd->add_option("--amount", *amount, "base units")->required();
    cmd->callback([c, to, amount] {
      Session s(*c);
      if (!is_development_chain(s.dep.chain_id))
        throw std::runtime_error("mint is for MockToken on development chains only");
      Wallet& w = s.wallet(*c);
      const Address dest = to->empty() ? w.address() : parse_address(*to, "--to");
      const Receipt r = w.transact(s.dep.token, erc20::mint(dest, parse_u256(*amount, "--amount")));
      emit(*c, {{"txHash", to_hex(r.tx_hash)}}, "minted " + *amount + " to " + dest.to_checksum());
    });
  }
  {  // create-task
    auto* cmd = arena->add_subcommand(
        "create-task", "Create an Arena task and fund its pool (approves the token first)");
    struct Args {
      std::string pool, min_node, min_validator, base_hash, base_dir, eval_hash, eval_file;
      std::uint64_t submit = 3600, commit = 1800, reveal = 1800;
      std::uint16_t k = 3, gamma = 5000, ratio = 5000, tolerance = 1000, slash = 5000,
                    commission = 5000;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("--reward-pool", a->pool, "pool in token base units")->required();
    cmd->add_option("--min-node-stake", a->min_node, "training nodes' minimum stake")->required();
    cmd->add_option("--min-validator-stake", a->min_validator, "validators' minimum stake")
        ->required();
    cmd->add_option("--submit-window", a->submit, "seconds")->capture_default_str();
    cmd->add_option("--commit-window", a->commit, "seconds")->capture_default_str();
    cmd->add_option("--reveal-window", a->reveal, "seconds")->capture_default_str();
    cmd->add_option("--k", a->k, "validators per submission (1..8)")->capture_default_str();
    cmd->add_option("--gamma-bps", a->gamma, "nodes/validators split (contracts/README.md)")
        ->capture_default_str();
    cmd->add_option("--rank-ratio-bps", a->ratio, "geometric ratio over ranks")
        ->capture_default_str();
    cmd->add_option("--tolerance-bps", a->tolerance, "relative distance of zero agreement")
        ->capture_default_str();
    cmd->add_option("--slash-bps", a->slash, "slash of an unrevealed commit")
        ->capture_default_str();
    cmd->add_option("--max-commission-bps", a->commission, "highest delegate commission")
        ->capture_default_str();
    cmd->add_option("--base-model", a->base_dir, "base model directory (hashed like an adapter)");
    cmd->add_option("--base-model-hash", a->base_hash, "or its bytes32");
    cmd->add_option("--eval-set", a->eval_file, "evaluation set file (keccak256 of its bytes)");
    cmd->add_option("--eval-set-hash", a->eval_hash, "or its bytes32");
    cmd->callback([c, a] {
      Session s(*c);
      Wallet& w = s.wallet(*c);
      ArenaTaskParams p;
      p.token = s.dep.token;
      p.reward_pool = parse_u256(a->pool, "--reward-pool");
      p.min_node_stake = parse_u256(a->min_node, "--min-node-stake");
      p.min_validator_stake = parse_u256(a->min_validator, "--min-validator-stake");
      p.submit_window = a->submit;
      p.commit_window = a->commit;
      p.reveal_window = a->reveal;
      p.validators_per_submission = a->k;
      p.gamma_bps = a->gamma;
      p.rank_ratio_bps = a->ratio;
      p.tolerance_bps = a->tolerance;
      p.slash_bps = a->slash;
      p.max_commission_bps = a->commission;
      p.base_model_hash = hash_of(a->base_hash, a->base_dir);
      p.eval_set_hash = hash_of(a->eval_hash, a->eval_file);
      ensure_allowance(s, w, p.reward_pool);
      const Receipt r = w.transact(s.dep.arena_task, arena::create_task(p));
      const U256 id = arena::task_id_from_receipt(r, s.dep.arena_task);
      emit(*c, {{"taskId", id.to_dec()}, {"txHash", to_hex(r.tx_hash)}},
           "created Arena task " + id.to_dec());
    });
  }
  {  // stake
    auto* cmd = arena->add_subcommand(
        "stake", "Stake as a training node or a validator (approves the token first)");
    auto task = std::make_shared<std::string>(), amount = std::make_shared<std::string>(),
         role = std::make_shared<std::string>();
    auto commission = std::make_shared<std::uint64_t>(0);
    task_opt(cmd, *task);
    cmd->add_option("--role", *role, "node or validator")
        ->required()
        ->check(CLI::IsMember({"node", "validator"}));
    cmd->add_option("--amount", *amount, "base units")->required();
    cmd->add_option("--commission-bps", *commission,
                    "what you keep of your delegators' share (fixed by the first stake)")
        ->capture_default_str();
    cmd->callback([c, task, amount, role, commission] {
      Session s(*c);
      Wallet& w = s.wallet(*c);
      const U256 t = parse_u256(*task, "--task"), n = parse_u256(*amount, "--amount");
      ensure_allowance(s, w, n);
      const ArenaRole r = *role == "node" ? ArenaRole::Node : ArenaRole::Validator;
      const Receipt rc = w.transact(s.dep.arena_task, arena::stake(t, r, n, *commission));
      const ArenaParticipant p = s.contract().participant(t, w.address());
      emit(*c, {{"role", *role}, {"stake", p.stake.to_dec()}, {"txHash", to_hex(rc.tx_hash)}},
           "staked " + n.to_dec() + " as " + *role + "; own stake now " + p.stake.to_dec());
    });
  }
  {  // submit
    auto* cmd = arena->add_subcommand(
        "submit", "Hash an adapter directory, publish it to a directory store, submit it");
    auto task = std::make_shared<std::string>(), adapter = std::make_shared<std::string>(),
         store = std::make_shared<std::string>(), store_url = std::make_shared<std::string>();
    task_opt(cmd, *task);
    cmd->add_option("--adapter", *adapter, "PEFT adapter directory")->required();
    cmd->add_option("--store", *store, "directory store validators read from")->required();
    cmd->add_option("--store-url", *store_url,
                    "http://HOST:PORT where `murmur arena serve` serves --store: the URI on "
                    "chain is <store-url>/<hash> instead of file://");
    cmd->callback([c, task, adapter, store, store_url] {
      Session s(*c);
      Wallet& w = s.wallet(*c);
      const U256 t = parse_u256(*task, "--task");
      PublishedAdapter pub = publish_adapter(*adapter, *store);
      if (!store_url->empty()) {
        if (store_url->rfind("http://", 0) != 0)
          throw std::runtime_error("--store-url " + *store_url + ": http://HOST:PORT expected");
        std::string base = *store_url;
        while (!base.empty() && base.back() == '/') base.pop_back();
        pub.uri = base + "/" + to_hex(pub.hash, false);
      }
      const Receipt r = w.transact(s.dep.arena_task, arena::submit(t, pub.hash, pub.uri));
      const ArenaParticipant p = s.contract().participant(t, w.address());
      emit(*c,
           {{"adapterHash", to_hex(pub.hash)},
            {"uri", pub.uri},
            {"submission", p.submission},
            {"txHash", to_hex(r.tx_hash)}},
           "submitted " + to_hex(pub.hash) + " as submission " + std::to_string(p.submission) +
               " (" + pub.uri + ")");
    });
  }
  {  // delegate / undelegate
    for (bool add : {true, false}) {
      auto* cmd = arena->add_subcommand(
          add ? "delegate" : "undelegate",
          add ? "Delegate to a staked node or validator (approves the token first)"
              : "Take back delegated tokens (while open, or once finalized)");
      auto task = std::make_shared<std::string>(), to = std::make_shared<std::string>(),
           amount = std::make_shared<std::string>();
      task_opt(cmd, *task);
      cmd->add_option("--to", *to, "the delegate's address")->required();
      cmd->add_option("--amount", *amount, "base units")->required();
      cmd->callback([c, task, to, amount, add] {
        Session s(*c);
        Wallet& w = s.wallet(*c);
        const U256 t = parse_u256(*task, "--task"), n = parse_u256(*amount, "--amount");
        const Address d = parse_address(*to, "--to");
        if (add) ensure_allowance(s, w, n);
        const Receipt r = w.transact(s.dep.arena_task,
                                     add ? arena::delegate(t, d, n) : arena::undelegate(t, d, n));
        const U256 now = s.contract().delegation_of(t, d, w.address());
        emit(*c, {{"delegation", now.to_dec()}, {"txHash", to_hex(r.tx_hash)}},
             std::string(add ? "delegated " : "undelegated ") + n.to_dec() + "; delegation to " +
                 d.to_checksum() + " now " + now.to_dec());
      });
    }
  }
  {  // close / draw / finalize / claim / withdraw: one task id, one transaction
    struct Simple {
      const char* name;
      const char* help;
      Bytes (*encode)(const U256&);
    };
    for (const Simple& sc : {
             Simple{"close", "Close the submissions (anyone, after the window)",
                    arena::close_submissions},
             Simple{"draw", "Draw the assignments (anyone, two blocks after close)",
                    arena::draw_assignments},
             Simple{"finalize", "Settle the task (anyone, after the reveal window)",
                    arena::finalize},
             Simple{"claim", "Claim rewards (and the creator's leftover)", arena::claim},
             Simple{"withdraw", "Withdraw your own stake (once finalized)", arena::withdraw},
         }) {
      auto* cmd = arena->add_subcommand(sc.name, sc.help);
      auto task = std::make_shared<std::string>();
      task_opt(cmd, *task);
      const std::string name = sc.name;
      auto encode = sc.encode;
      cmd->callback([c, task, name, encode] {
        Session s(*c);
        Wallet& w = s.wallet(*c);
        const U256 t = parse_u256(*task, "--task");
        const U256 before = erc20::balance_of(s.eth, s.dep.token, w.address());
        const Receipt r = w.transact(s.dep.arena_task, encode(t));
        const U256 got = erc20::balance_of(s.eth, s.dep.token, w.address()) - before;
        json j = {{"txHash", to_hex(r.tx_hash)}, {"blockNumber", r.block_number}};
        std::string text = name + " done in tx " + to_hex(r.tx_hash);
        if (name == "claim" || name == "withdraw") {
          j["received"] = got.to_dec();
          text = name + ": received " + got.to_dec();
        }
        if (name == "draw" || name == "close") {
          const ArenaTaskInfo ti = s.contract().get_task(t);
          j["phase"] = to_string(ti.phase);
          text += "; task now " + to_string(ti.phase);
        }
        emit(*c, j, text);
      });
    }
  }
  {  // commit / reveal (a validator by hand; the daemon of a later session does it by itself)
    auto* commit = arena->add_subcommand(
        "commit",
        "Commit your scores of your assigned submissions (salts saved to --state before sending)");
    auto task = std::make_shared<std::string>(), scores = std::make_shared<std::string>(),
         state = std::make_shared<std::string>(), report = std::make_shared<std::string>(),
         store = std::make_shared<std::string>();
    task_opt(commit, *task);
    auto* by_sub = commit->add_option(
        "--scores", *scores,
        "JSON object {\"<submission>\": <mean loss>, ...}; only assigned ones count");
    auto* by_report = commit->add_option(
        "--validate-report", *report,
        "or `murmur validate --out` JSON over adapters named by their hash (a store's entries); "
        "an invalid adapter gets the worst score");
    by_sub->excludes(by_report);
    commit->add_option("--store", *store,
                       "with --validate-report: the store whose entries were scored (each is "
                       "re-hashed against the chain; a mismatch is skipped)");
    commit->add_option("--state", *state, "file that keeps the scores and salts for `reveal`")
        ->required();
    commit->callback([c, task, scores, state, report, store] {
      Session s(*c);
      Wallet& w = s.wallet(*c);
      const U256 t = parse_u256(*task, "--task");
      if (fs::exists(*state))
        throw std::runtime_error(*state +
                                 " exists: a commit was already prepared for it (run "
                                 "`murmur arena reveal`, or remove it to start over)");
      if (scores->empty() == report->empty())
        throw std::runtime_error("pass --scores or --validate-report (one of them)");
      const std::string input = scores->empty() ? *report : *scores;
      std::ifstream in(input);
      if (!in) throw std::runtime_error("cannot read " + input);
      const json given = json::parse(in);
      ArenaTaskContract ct = s.contract();
      std::vector<std::pair<std::uint64_t, std::uint64_t>> wanted;  // (submission, score)
      if (!scores->empty()) {
        for (const auto& [key, loss] : given.items())
          wanted.emplace_back(std::stoull(key), arena_score_of_loss(loss.get<double>()));
      } else {
        if (store->empty()) throw std::runtime_error("--validate-report needs --store");
        const auto nodes = ct.submissions(t);
        std::map<std::string, std::uint64_t> by_hash;  // hex without 0x -> submission
        for (std::size_t i = 0; i < nodes.size(); ++i)
          by_hash[to_hex(ct.participant(t, nodes[i]).adapter_hash, false)] = i;
        for (const auto& a : given.at("adapters")) {
          const std::string name = a.at("name").get<std::string>();
          const auto it = by_hash.find(name);
          if (it == by_hash.end()) continue;  // not a submission of this task
          const Hash32 on_chain = hash_from_hex(name);
          Hash32 stored{};
          try {
            stored = adapter_directory_hash(fs::path(*store) / name);
          } catch (const std::exception& e) {
            std::cerr << "murmur arena commit: " << e.what() << ": skipped\n";
            continue;
          }
          if (stored != on_chain) {
            std::cerr << "murmur arena commit: " << (fs::path(*store) / name).string()
                      << " does not hash to its name: skipped (fetch it again)\n";
            continue;
          }
          const bool valid = a.at("valid").get<bool>() && a.at("mean_loss").is_number();
          wanted.emplace_back(it->second, valid
                                              ? arena_score_of_loss(a.at("mean_loss").get<double>())
                                              : kArenaMaxScore);
        }
      }
      std::vector<std::uint64_t> subs, fixed;
      std::vector<Hash32> salts, commitments;
      json saved = json::array();
      for (const auto& [sub, score] : wanted) {
        const auto who = ct.assignees(t, sub);
        if (std::find(who.begin(), who.end(), w.address()) == who.end()) continue;
        const Hash32 salt = random_salt();
        subs.push_back(sub);
        fixed.push_back(score);
        salts.push_back(salt);
        commitments.push_back(arena_score_commitment(t, sub, w.address(), score, salt));
        saved.push_back({{"submission", sub}, {"score", score}, {"salt", to_hex(salt)}});
      }
      if (subs.empty())
        throw std::runtime_error("none of the submissions in " + input + " is assigned to " +
                                 w.address().to_checksum());
      write_json_durably(
          *state,
          {{"task", t.to_dec()}, {"validator", w.address().to_checksum()}, {"entries", saved}});
      const Receipt r = w.transact(s.dep.arena_task, arena::commit_scores(t, subs, commitments));
      emit(*c, {{"committed", subs}, {"txHash", to_hex(r.tx_hash)}},
           "committed " + std::to_string(subs.size()) + " scores; salts in " + *state);
    });
    auto* reveal =
        arena->add_subcommand("reveal", "Reveal the scores committed with `commit` (--state)");
    auto rstate = std::make_shared<std::string>();
    reveal->add_option("--state", *rstate, "the file `commit` wrote")->required();
    reveal->callback([c, rstate] {
      Session s(*c);
      Wallet& w = s.wallet(*c);
      std::ifstream in(*rstate);
      if (!in) throw std::runtime_error("cannot read --state " + *rstate);
      const json j = json::parse(in);
      const U256 t = parse_u256(j.at("task").get<std::string>(), "task in --state");
      std::vector<std::uint64_t> subs, scores;
      std::vector<Hash32> salts;
      for (const auto& e : j.at("entries")) {
        subs.push_back(e.at("submission").get<std::uint64_t>());
        scores.push_back(e.at("score").get<std::uint64_t>());
        salts.push_back(hash_from_hex(e.at("salt").get<std::string>()));
      }
      const Receipt r = w.transact(s.dep.arena_task, arena::reveal_scores(t, subs, scores, salts));
      emit(*c, {{"revealed", subs}, {"txHash", to_hex(r.tx_hash)}},
           "revealed " + std::to_string(subs.size()) + " scores");
    });
  }
  {  // validate: the validator farm's loop
    auto* cmd = arena->add_subcommand(
        "validate",
        "Validator: score your assigned submissions (fetched, hash-checked, batched or merged), "
        "commit, reveal and claim through the outbox in --state-dir; --daemon loops until --until");
    auto o = std::make_shared<ArenaDaemonOptions>();
    auto daemon = std::make_shared<bool>(false);
    auto state_dir = std::make_shared<std::string>(), base = std::make_shared<std::string>(),
         data = std::make_shared<std::string>();
    task_opt(cmd, o->task);
    cmd->add_flag("--daemon", *daemon,
                  "keep watching the chain until --until (else: one look, one step, exit)");
    cmd->add_option("--base", *base, "base model directory (config.json + model.safetensors)")
        ->required()
        ->check(CLI::ExistingDirectory);
    cmd->add_option("--data", *data, "your held-out set, JSONL as `murmur validate --data`")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--state-dir", *state_dir,
                    "outbox.db, the commit state (scores and salts, written before the commit "
                    "is sent) and fetched adapters; the same directory after a restart")
        ->required();
    cmd->add_option("--strategy", o->strategy,
                    "batched (SGMV, many adapters per forward), merged (each adapter merged and "
                    "evaluated alone) or auto (merged on CPU, batched on CUDA: bench/arena)")
        ->check(CLI::IsMember({"auto", "batched", "merged"}))
        ->capture_default_str();
    cmd->add_option("--device", o->device, "cpu, cuda or auto")
        ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
        ->capture_default_str();
    cmd->add_option("--batch", o->batch, "sequences per forward")->check(CLI::Range(1, 1 << 16));
    cmd->add_option("--adapters-per-pass", o->per_pass, "adapters sharing one batched forward")
        ->check(CLI::Range(1, 1 << 12));
    cmd->add_option("--max-pass-memory", o->pass_gib, "GiB of activations one pass may use")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--poll-ms", o->poll_ms, "pause between looks at the chain")
        ->check(CLI::Range(10, 3'600'000))
        ->capture_default_str();
    cmd->add_option("--until", o->until, "stop once committed, revealed, finalized or claimed")
        ->check(CLI::IsMember({"committed", "revealed", "finalized", "claimed"}))
        ->capture_default_str();
    cmd->add_option("--max-seconds", o->max_seconds, "give up (exit 2) after this long; 0: never")
        ->capture_default_str();
    cmd->add_flag("--drive", o->drive,
                  "also send closeSubmissions / drawAssignments / finalize when due");
    cmd->add_option("--metrics-port", o->metrics_port,
                    "serve /metrics on this port (0: any free port, printed; -1: none)")
        ->capture_default_str();
    cmd->add_option("--metrics-address", o->metrics_address, "address /metrics listens on")
        ->capture_default_str();
    cmd->callback([c, o, daemon, state_dir, base, data] {
      Session s(*c);
      ArenaDaemonOptions opts = *o;
      opts.base = *base;
      opts.data = *data;
      opts.state_dir = *state_dir;
      opts.json_out = c->json_out;
      if (!*daemon) opts.max_iterations = 1;
      const int status = run_arena_daemon(opts, s.eth, s.wallet(*c), s.dep.arena_task);
      if (status != 0 && *daemon) throw CLI::RuntimeError(status);
    });
  }
  {  // serve: the HTTP adapter store
    auto* cmd = arena->add_subcommand(
        "serve", "Serve a directory store over HTTP for `submit --store-url` URIs");
    auto store = std::make_shared<std::string>(),
         address = std::make_shared<std::string>("127.0.0.1");
    auto port = std::make_shared<int>(0);
    auto seconds = std::make_shared<double>(0);
    cmd->add_option("--store", *store, "the directory `submit --store` publishes to")->required();
    cmd->add_option("--address", *address, "listen address")->capture_default_str();
    cmd->add_option("--port", *port, "listen port (0: any free port, printed)")
        ->capture_default_str();
    cmd->add_option("--max-seconds", *seconds, "stop after this long; 0: on SIGINT/SIGTERM")
        ->capture_default_str();
    cmd->callback(
        [store, address, port, seconds] { run_arena_serve(*store, *address, *port, *seconds); });
  }
  {  // status
    auto* cmd = arena->add_subcommand(
        "status", "Show a task, its submissions (with results once finalized) and one address");
    auto task = std::make_shared<std::string>();
    auto who = std::make_shared<std::vector<std::string>>();
    auto with_scores = std::make_shared<bool>(false);
    task_opt(cmd, *task);
    cmd->add_option("--who", *who,
                    "address(es) to show (default: the key's, if a key is given); with several, "
                    "the JSON's \"accounts\" lists them all");
    cmd->add_flag("--scores", *with_scores,
                  "also each validator's committed score per submission (revealed or not)");
    cmd->callback([c, task, who, with_scores] {
      Session s(*c);
      ArenaTaskContract ct = s.contract();
      const U256 t = parse_u256(*task, "--task");
      const ArenaTaskInfo ti = ct.get_task(t);
      json j = {{"task", t.to_dec()},
                {"phase", to_string(ti.phase)},
                {"creator", ti.creator.to_checksum()},
                {"pool", ti.pool.to_dec()},
                {"creatorBalance", ti.creator_balance.to_dec()},
                {"taskStake", ct.task_stake(t).to_dec()},
                {"nodes", ti.node_count},
                {"validators", ti.validator_count},
                {"delegations", ti.delegation_count},
                {"submitDeadline", ti.submit_deadline},
                {"commitDeadline", ti.commit_deadline},
                {"revealDeadline", ti.reveal_deadline},
                {"k", ti.validators_per_submission},
                {"gammaBps", ti.gamma_bps},
                {"rankRatioBps", ti.rank_ratio_bps},
                {"toleranceBps", ti.tolerance_bps},
                {"slashBps", ti.slash_bps}};
      std::string text = "Arena task " + t.to_dec() + ": " + to_string(ti.phase) + ", pool " +
                         ti.pool.to_dec() + ", " + std::to_string(ti.node_count) + " nodes, " +
                         std::to_string(ti.validator_count) + " validators, " +
                         std::to_string(ti.submission_count) + " submissions";
      json subs = json::array();
      const auto nodes = ct.submissions(t);
      const auto validators = *with_scores ? ct.validators(t) : std::vector<Address>{};
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const ArenaParticipant p = ct.participant(t, nodes[i]);
        json e = {{"submission", i},
                  {"node", nodes[i].to_checksum()},
                  {"adapterHash", to_hex(p.adapter_hash)},
                  {"uri", p.adapter_uri}};
        if (*with_scores) {
          json scores = json::array();
          for (const Address& v : validators) {
            const ArenaScoreEntry se = ct.score_of(t, i, v);
            if (se.commitment == Hash32{}) continue;  // not committed (or not assigned)
            scores.push_back({{"validator", v.to_checksum()},
                              {"revealed", se.revealed},
                              {"score", se.revealed ? json(se.score) : json(nullptr)}});
          }
          e["scores"] = scores;
        }
        text += "\n  #" + std::to_string(i) + " " + nodes[i].to_checksum() + " " +
                to_hex(p.adapter_hash).substr(0, 12) + "…";
        if (ti.phase == ArenaPhase::Finalized) {
          const ArenaResult r = ct.result_of(t, i);
          e["result"] = result_json(r);
          text += r.rank ? " rank " + std::to_string(*r.rank) + ", consensus loss " +
                               std::to_string(static_cast<double>(*r.consensus) /
                                              static_cast<double>(kArenaScoreScale)) +
                               ", reward " + r.reward.to_dec()
                         : " no consensus, no reward";
        }
        subs.push_back(e);
      }
      j["submissions"] = subs;
      std::vector<Address> addrs;
      for (const std::string& w : *who) addrs.push_back(parse_address(w, "--who"));
      if (addrs.empty() && (!c->key_file.empty() || std::getenv(kKeyEnvVar)))
        addrs.push_back(s.wallet(*c).address());
      json accounts = json::array();
      for (const Address& addr : addrs) {
        const ArenaParticipant p = ct.participant(t, addr);
        const U256 reward = ct.reward_of(t, addr);
        accounts.push_back({{"address", addr.to_checksum()},
                            {"role", to_string(p.role)},
                            {"stake", p.stake.to_dec()},
                            {"delegated", p.delegated.to_dec()},
                            {"claimable", reward.to_dec()},
                            {"commissionBps", p.commission_bps}});
        text += "\n" + addr.to_checksum() + ": " + to_string(p.role) + ", own stake " +
                p.stake.to_dec() + ", delegated to it " + p.delegated.to_dec() + ", claimable " +
                reward.to_dec();
      }
      if (!accounts.empty()) j["who"] = accounts.front();
      if (accounts.size() > 1) j["accounts"] = accounts;
      emit(*c, j, text);
    });
  }
}

}  // namespace murmur::cli
