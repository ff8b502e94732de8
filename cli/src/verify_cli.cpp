// `murmur verify --round N` (verify_cli.hpp): a round of an AllianceTaskV2 task recomputed from
// its signed updates, check by check against the chain:
//   rule       keccak256 of the rule text is the round's ruleHash;
//   base       the model the round started from is the chain's global model before the round
//              (the last accepted round's modelHash, else the task's initialModelHash) and its
//              bytes hash to it;
//   update     per update: its bytes hash (protocol::update_hash) to the hash in its Update, the
//              EIP-712 Update digest is signed by the member, the member was a proposer of the
//              round and committed that hash on chain (commitUpdate);
//   aggregate  murmurd's own aggregation (server::aggregate_round: the kernels' rule registry,
//              the spool reader, the same order and sample counts) over the base gives the posted
//              modelHash bit for bit;
//   included   the rule's unflagged rows (server::included_updates' criterion) are exactly the
//              posted bitmap, and their update hashes in participant order hash to includedHash.
// The updates come from murmurd's data directory (state.db and the spool), from a round
// directory written by `--export` (the layout is in cli/README.md, "murmur verify"), or from a
// running murmurd over the wire (`--from`: its registration endpoint serves anyone a round whose
// uploads are closed, server/src/update_reads.cpp). Each source only lays the set out as murmurd's
// data directory; every check below runs on it the same way, whatever the source.
#include "verify_cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "aggregate_round.hpp"
#include "chain_step.hpp"
#include "murmur/chain/alliance_v2.hpp"
#include "murmur/chain/deployment.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/v2_commitments.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"
#include "murmur/server/config.hpp"
#include "spool.hpp"
#include "state_store.hpp"

namespace murmur::cli {
namespace {

namespace fs = std::filesystem;
using namespace murmur::chain;
using nlohmann::json;

/// The round directory's manifest name and format tag.
constexpr const char* kManifest = "round.json";
constexpr const char* kFormat = "murmur-round/1";

struct VerifyArgs {
  std::string rpc = "http://127.0.0.1:8545";
  std::string deployment = "contracts/deployments/localhost.json";
  std::string contract;
  std::string task;
  std::uint64_t round = 0;
  std::string data_dir, updates_dir, export_dir;
  std::string from, server_key;  ///< murmurd's registration endpoint and Curve public key
  std::uint32_t timeout_ms = 10'000;
  std::string rule;
  double flag_ratio = server::Config{}.flag_ratio;
  std::string backend = "cpu";
};

/// A round's signed updates and the model they were applied to. `root` is laid out as murmurd's
/// data directory (spool/r<N>/<address>-<id>.bin, models/<hash>.f32), so server::Spool reads it.
struct RoundSet {
  fs::path root;
  std::vector<server::Upload> uploads;  ///< sorted by address: the rows' order in murmurd
  Hash32 base{};
  std::string rule;  ///< as murmurd recorded it (describe(spec)); "" when not recorded
  std::string origin;
  std::shared_ptr<void> scratch;  ///< removes `root` when it is a fetched copy
};

/// A directory removed with everything in it when the last owner goes.
struct Scratch {
  fs::path dir;
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

void write_bytes(const fs::path& p, std::span<const std::uint8_t> bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

/// The round's signed updates and base model as a running murmurd serves them to anyone (its
/// registration endpoint `a.from`), written as murmurd's data directory layout in a scratch
/// directory. Nothing is checked here: a wrong byte, signature or hash is the checks' to report.
/// What murmurd refuses to serve is printed and left out (the checks then say what is missing).
RoundSet from_murmurd(const VerifyArgs& a, const U256& task) {
  client::ClientOptions o;
  o.endpoint = a.from;  // not used: every read goes to the registration endpoint
  o.register_endpoint = a.from;
  o.server_public_key = a.server_key;
  o.timeout = std::chrono::milliseconds(a.timeout_ms);
  o.retries = 3;
  o.busy_patience = std::chrono::milliseconds(60'000);
  client::NodeClient nc(o);
  const client::RoundUpdates list = nc.public_round_updates(task.to_u64(), a.round);
  RoundSet s;
  auto scratch = std::make_shared<Scratch>();
  scratch->dir = fs::temp_directory_path() /
                 ("murmur-verify-" + std::to_string(::getpid()) + "-r" + std::to_string(a.round));
  fs::remove_all(scratch->dir);
  s.root = scratch->dir;
  s.scratch = scratch;
  s.base = list.base_model;
  s.rule = list.rule;
  s.origin = "murmurd at " + a.from;
  const server::Spool spool(s.root);  // creates root/spool and root/models
  for (const client::RoundUpdate& u : list.updates) {
    server::Upload up;
    up.round = a.round;
    up.address = u.proposer;
    up.id = 0;
    up.dtype = u.dtype;
    up.parameters = u.total_bytes / protocol::element_bytes(u.dtype);
    up.durable = u.total_bytes;
    up.state = server::UploadState::kCommitted;
    up.update_hash = u.update_hash;
    up.num_samples = u.num_samples;
    up.signature = chain::Bytes(u.signature.begin(), u.signature.end());
    try {
      write_bytes(spool.file(up),
                  nc.public_update_bytes(task.to_u64(), a.round, u, list.chunk_bytes));
    } catch (const client::ServerError& e) {
      std::cout << "[note] fetch " << u.proposer.to_checksum() << ": " << e.what() << "\n";
    }
    s.uploads.push_back(std::move(up));
  }
  if (list.base_model == Hash32{}) {
    std::cout << "[note] fetch base model: murmurd recorded no base model for round " << a.round
              << " (it never aggregated it)\n";
  } else {
    try {
      write_bytes(spool.model_file(list.base_model),
                  nc.public_model_bytes(list.base_model, list.chunk_bytes));
    } catch (const client::ServerError& e) {
      std::cout << "[note] fetch base model: " << e.what() << "\n";
    }
  }
  std::sort(s.uploads.begin(), s.uploads.end(),
            [](const auto& x, const auto& y) { return x.address < y.address; });
  return s;
}

RoundSet from_data_dir(const fs::path& dir, std::uint64_t round) {
  if (!fs::exists(dir / "state.db"))
    throw std::runtime_error((dir / "state.db").string() +
                             " does not exist: --data-dir takes murmurd's data directory "
                             "([server] data_dir)");
  const server::StateStore store(dir);
  const auto record = store.round_record(round);
  if (!record || record->update_count == 0)
    throw std::runtime_error("murmurd's data directory " + dir.string() +
                             " records no aggregation for round " + std::to_string(round));
  RoundSet s;
  s.root = dir;
  s.uploads = store.committed(round);
  s.base = record->base_model;
  s.rule = record->rule;
  s.origin = "murmurd's data directory " + dir.string();
  return s;
}

RoundSet from_round_dir(const fs::path& dir, std::uint64_t round) {
  std::ifstream in(dir / kManifest);
  if (!in)
    throw std::runtime_error((dir / kManifest).string() +
                             " cannot be read: --updates takes a round directory written by "
                             "`murmur verify --export`");
  json m;
  try {
    m = json::parse(in);
    if (m.at("format").get<std::string>() != kFormat)
      throw std::runtime_error("format is not \"" + std::string(kFormat) + "\"");
    if (m.at("round").get<std::uint64_t>() != round)
      throw std::runtime_error("it holds round " + m.at("round").dump() + ", not " +
                               std::to_string(round));
    RoundSet s;
    s.root = dir;
    s.base = hash_from_hex(m.at("base_model").get<std::string>());
    s.rule = m.value("rule", std::string());
    s.origin = "round directory " + dir.string();
    for (const auto& u : m.at("updates")) {
      server::Upload up;
      up.round = round;
      up.address = Address::from_hex(u.at("node").get<std::string>());
      up.id = u.at("id").get<std::uint64_t>();
      wire::DType dtype{};
      if (!wire::DType_Parse(u.at("dtype").get<std::string>(), &dtype))
        throw std::runtime_error("unknown dtype " + u.at("dtype").dump());
      up.dtype = dtype;
      up.parameters = u.at("parameters").get<std::uint64_t>();
      up.durable = up.total_bytes();
      up.state = server::UploadState::kCommitted;
      up.update_hash = hash_from_hex(u.at("update_hash").get<std::string>());
      up.num_samples = u.at("num_samples").get<std::uint64_t>();
      up.signature = from_hex(u.at("signature").get<std::string>());
      s.uploads.push_back(std::move(up));
    }
    std::sort(s.uploads.begin(), s.uploads.end(),
              [](const auto& a, const auto& b) { return a.address < b.address; });
    return s;
  } catch (const std::exception& e) {
    throw std::runtime_error((dir / kManifest).string() + ": " + e.what());
  }
}

/// Copies `s` into a round directory at `out` (the update bytes as uploaded, the base model and
/// the manifest); what `--updates out` reads back.
void export_round(const RoundSet& s, std::uint64_t round, const fs::path& out) {
  const server::Spool src(s.root);
  const server::Spool dst(out);  // creates out/spool and out/models
  json updates = json::array();
  for (const auto& u : s.uploads) {
    const fs::path to = dst.file(u);
    fs::create_directories(to.parent_path());
    fs::copy_file(src.file(u), to, fs::copy_options::overwrite_existing);
    fs::resize_file(to, u.durable);  // the spool file may be longer than the upload
    updates.push_back({{"node", u.address.to_checksum()},
                       {"id", u.id},
                       {"dtype", wire::DType_Name(u.dtype)},
                       {"parameters", u.parameters},
                       {"num_samples", u.num_samples},
                       {"update_hash", to_hex(u.update_hash)},
                       {"signature", to_hex(u.signature)}});
  }
  const std::string model = to_hex(s.base, false) + ".f32";
  fs::copy_file(s.root / "models" / model, out / "models" / model,
                fs::copy_options::overwrite_existing);
  const json m = {{"format", kFormat},
                  {"round", round},
                  {"rule", s.rule},
                  {"base_model", to_hex(s.base)},
                  {"updates", updates}};
  std::ofstream(out / kManifest) << m.dump(2) << "\n";
}

/// The verdict lines and their count.
class Verdicts {
 public:
  void ok(const std::string& check, const std::string& detail) { line("ok  ", check, detail); }
  void fail(const std::string& check, const std::string& detail) {
    ++failed_;
    line("FAIL", check, detail);
  }
  void note(const std::string& check, const std::string& detail) { line("note", check, detail); }
  void expect(bool good, const std::string& check, const std::string& ok_detail,
              const std::string& fail_detail) {
    good ? ok(check, ok_detail) : fail(check, fail_detail);
  }
  std::size_t failed() const { return failed_; }
  std::size_t checks() const { return checks_; }

 private:
  void line(const char* what, const std::string& check, const std::string& detail) {
    if (std::string(what) != "note") ++checks_;
    std::cout << "[" << what << "] " << check << ": " << detail << "\n";
  }
  std::size_t failed_ = 0, checks_ = 0;
};

/// The chain's global model before `round`: the last accepted round's modelHash, else the
/// task's initialModelHash (from its TaskCreated log). `where` says which.
Hash32 chain_base(AllianceTaskV2Contract& c, const U256& task, std::uint64_t round,
                  std::string& where) {
  for (std::uint64_t r = round - 1; r >= 1; --r) {
    const auto info = c.get_round(task, U256(r));
    if (info.state == V2RoundState::Finalized && info.accepted) {
      where = "round " + std::to_string(r) + "'s accepted model";
      return info.model_hash;
    }
  }
  LogFilter f;
  f.address = c.address();
  f.topics = {alliance_v2::task_created_event().topic0(), Hash32(task.to_be_bytes())};
  const auto logs = c.eth().get_logs(f);
  if (logs.empty())
    throw std::runtime_error("no TaskCreated log for task " + task.to_dec() + " on " +
                             c.address().to_checksum());
  const auto v = alliance_v2::task_created_event().decode_log(logs[0].topics, logs[0].data);
  where = "the task's initial model";
  return v[2].list()[11].bytes32();  // TaskParams.initialModelHash
}

/// keccak256 of `values` as little-endian f32: how murmurd and the contract name a model.
Hash32 model_hash(std::span<const float> values) {
  return keccak256(std::span(reinterpret_cast<const std::uint8_t*>(values.data()),
                             values.size() * sizeof(float)));
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::unique_ptr<kernels::Backend> make_backend(const std::string& name) {
  if (name == "cpu") return kernels::make_cpu_backend();
  if (name == "cuda") return kernels::make_cuda_backend(0);
  throw std::runtime_error("--backend: cpu or cuda, not " + name);
}

struct Tally {
  std::size_t failed = 0, checks = 0;
};

/// Runs every check, printing one verdict line each.
Tally verify(const VerifyArgs& a) {
  if (a.round == 0) throw std::runtime_error("--round: rounds count from 1");
  if (!a.data_dir.empty() + !a.updates_dir.empty() + !a.from.empty() != 1)
    throw std::runtime_error(
        "give one of --data-dir (murmurd's), --updates (a round directory) or --from (a running "
        "murmurd's registration endpoint)");
  const U256 task = U256::from_string(a.task);
  const RoundSet set = !a.from.empty()       ? from_murmurd(a, task)
                       : !a.data_dir.empty() ? from_data_dir(a.data_dir, a.round)
                                             : from_round_dir(a.updates_dir, a.round);
  if (!a.export_dir.empty()) {
    export_round(set, a.round, a.export_dir);
    std::cout << "exported round " << a.round << " (" << set.uploads.size() << " updates) to "
              << a.export_dir << "\n";
  }

  RpcClient rpc(a.rpc);
  EthClient eth(rpc, &alliance_v2::errors());
  Address contract;
  if (!a.contract.empty()) {
    contract = Address::from_hex(a.contract);
  } else {
    const Deployment dep = load_deployment(a.deployment);
    if (!dep.alliance_task_v2)
      throw std::runtime_error(a.deployment + " has no \"allianceTaskV2\": pass --contract");
    contract = *dep.alliance_task_v2;
  }
  const U256 round(a.round);
  AllianceTaskV2Contract c(eth, contract);
  const V2RoundInfo info = c.get_round(task, round);
  std::cout << "round " << a.round << " of AllianceTaskV2 task " << task.to_dec() << " at "
            << contract.to_checksum() << " (" << to_string(info.state) << "), "
            << set.uploads.size() << " signed updates from " << set.origin << "\n";
  Verdicts v;
  if (info.state != V2RoundState::Voting && info.state != V2RoundState::Finalized &&
      !(info.state == V2RoundState::Abandoned && info.model_hash != Hash32{})) {
    v.fail("posting", std::string("the round is ") + to_string(info.state) +
                          ": no candidate was posted, nothing to recompute");
    return {v.failed(), v.checks()};
  }
  v.ok("posting", "modelHash " + to_hex(info.model_hash) + ", includedHash " +
                      to_hex(info.included_hash) + ", ruleHash " + to_hex(info.rule_hash));

  // The rule.
  const std::string rule_text = a.rule.empty() ? set.rule : a.rule;
  std::optional<kernels::AggregationSpec> spec;
  if (rule_text.empty()) {
    v.fail("rule", "no rule text: pass --rule (the text whose keccak256 the task's ruleHash is)");
  } else if (const auto matched = server::rule_text_for_hash(rule_text, info.rule_hash)) {
    try {
      spec = kernels::parse_aggregation(*matched);
      v.ok("rule", "keccak256(\"" + *matched + "\") is the round's ruleHash");
    } catch (const std::exception& e) {
      v.fail("rule", "\"" + *matched + "\" hashes to ruleHash but does not parse: " + e.what());
    }
  } else {
    v.fail("rule", "keccak256(\"" + rule_text +
                       "\") = " + to_hex(keccak256(std::string_view(rule_text))) +
                       " is not the round's ruleHash " + to_hex(info.rule_hash));
  }

  // The base model.
  std::string base_where;
  const Hash32 want_base = chain_base(c, task, a.round, base_where);
  const fs::path base_file = set.root / "models" / (to_hex(set.base, false) + ".f32");
  bool base_ok = false;
  if (!fs::exists(base_file)) {
    v.fail("base model",
           "the set names " + to_hex(set.base) + " but " + base_file.string() + " does not exist");
  } else {
    const Hash32 got = keccak256(read_file(base_file));
    if (got != set.base)
      v.fail("base model", base_file.string() + " hashes to " + to_hex(got) + ", not " +
                               to_hex(set.base) + " (its bytes were changed)");
    else if (got != want_base)
      v.fail("base model", "the set's base model " + to_hex(got) + " is not " + base_where +
                               " on chain (" + to_hex(want_base) + ")");
    else
      base_ok = true, v.ok("base model", to_hex(got) + " is " + base_where + " on chain");
  }

  // Each update: its bytes, its signature, its commitment on chain.
  const Eip712Domain domain{"Murmuration", "1", eth.chain_id(), contract};
  const server::Spool spool(set.root);
  std::size_t parameters = 0;
  bool updates_ok = true;
  std::map<Address, const server::Upload*> by_node;
  for (const auto& u : set.uploads) {
    by_node[u.address] = &u;
    const std::string who = u.address.to_checksum();
    if (parameters == 0) parameters = u.parameters;
    bool good = true;
    if (u.parameters != parameters) {
      v.fail("update " + who, std::to_string(u.parameters) + " parameters, the others " +
                                  std::to_string(parameters));
      updates_ok = false;
      continue;
    }
    const fs::path file = spool.file(u);
    if (!fs::exists(file)) {
      v.fail("update " + who, file.string() + " does not exist");
      updates_ok = false;
      continue;
    }
    Bytes bytes = read_file(file);
    if (bytes.size() < u.total_bytes()) {
      v.fail("update " + who, file.string() + " holds " + std::to_string(bytes.size()) +
                                  " bytes, " + std::to_string(u.total_bytes()) + " expected");
      updates_ok = false;
      continue;
    }
    bytes.resize(u.total_bytes());
    const Hash32 got = protocol::update_hash(bytes);
    if (got != u.update_hash)
      good = false,
      v.fail("update hash " + who, "the bytes hash to " + to_hex(got) +
                                       ", its signed Update says " + to_hex(u.update_hash));
    const UpdateMessage msg{task, round, u.update_hash, U256(u.num_samples)};
    try {
      const Address signer = recover_typed_signer(update_digest(domain, msg), u.signature);
      if (signer != u.address)
        good = false, v.fail("signature " + who, "the Update is signed by " + signer.to_checksum() +
                                                     ", not the member");
    } catch (const std::exception& e) {
      good = false, v.fail("signature " + who, std::string("not a valid signature: ") + e.what());
    }
    const V2Entry e = c.entry_of(task, round, u.address);
    if (c.role_of(task, round, u.address) != Role::Proposer)
      good = false, v.fail("commitment " + who, "not a proposer of the round on chain");
    else if (e.commitment != u.update_hash)
      good = false,
      v.fail("commitment " + who, "committed " + to_hex(e.commitment) +
                                      " on chain, the set holds " + to_hex(u.update_hash));
    if (good)
      v.ok("update " + who,
           to_hex(u.update_hash) + " (" + std::to_string(u.num_samples) +
               " samples): bytes, EIP-712 signature and on-chain commitment match");
    updates_ok = updates_ok && good;
  }

  // Proposers that committed on chain but whose update is not in the set.
  const std::vector<Address> members = c.members(task);
  if (members.size() < info.participant_count)
    v.note("members", "the task has " + std::to_string(members.size()) +
                          " members now, the round had " + std::to_string(info.participant_count) +
                          ": bitmap indices past the list cannot be named");
  for (std::size_t i = 0; i < std::min<std::size_t>(members.size(), info.participant_count); ++i)
    if (!by_node.count(members[i]) && c.role_of(task, round, members[i]) == Role::Proposer &&
        c.entry_of(task, round, members[i]).commitment != Hash32{})
      v.note("absent", members[i].to_checksum() +
                           " committed an update hash on chain but no upload of it is in the set "
                           "(it never reached murmurd, or it was left out of the set)");

  // The aggregate, recomputed by murmurd's own code path.
  std::optional<server::RoundAggregate> agg;
  if (!spec || !base_ok || set.uploads.empty()) {
    v.fail("aggregate", set.uploads.empty() ? "no updates to aggregate"
                                            : "not recomputed: the rule or the base model failed");
  } else {
    try {
      auto backend = make_backend(a.backend);
      agg = server::aggregate_round(spool, set.uploads, server::RoundRule{*spec, a.flag_ratio},
                                    set.base, parameters, *backend);
      const Hash32 got = model_hash(agg->candidate);
      v.expect(
          got == info.model_hash, "aggregate",
          agg->report.rule + " over " + std::to_string(set.uploads.size()) + " updates on the " +
              a.backend + " backend gives " + to_hex(got) + ", the posted modelHash, bit for bit",
          agg->report.rule + " over " + std::to_string(set.uploads.size()) + " updates gives " +
              to_hex(got) + ", the posted modelHash is " + to_hex(info.model_hash) +
              (updates_ok ? "" : " (an update above failed its checks)"));
    } catch (const std::exception& e) {
      v.fail("aggregate", std::string("the rule could not be applied: ") + e.what());
    }
  }

  // The included bitmap and its hash.
  const std::vector<U256> bitmap = c.included_of(task, round);
  std::vector<std::size_t> on_chain;
  for (std::size_t i = 0; i < info.participant_count; ++i)
    if (i / 256 < bitmap.size() && (bitmap[i / 256] >> static_cast<unsigned>(i % 256)).bit(0))
      on_chain.push_back(i);
  std::vector<Hash32> included_hashes;
  bool hash_inputs = true;
  std::set<Address> chain_set;
  for (std::size_t i : on_chain) {
    if (i >= members.size()) {
      hash_inputs = false;
      continue;
    }
    chain_set.insert(members[i]);
    const auto it = by_node.find(members[i]);
    if (it == by_node.end()) {
      v.fail("included " + members[i].to_checksum(),
             "marked included on chain but its update is not in the set");
      hash_inputs = false;
    } else {
      included_hashes.push_back(it->second->update_hash);
    }
  }
  if (hash_inputs) {
    const Hash32 got = included_hash(included_hashes);
    v.expect(got == info.included_hash, "included hash",
             "the " + std::to_string(included_hashes.size()) +
                 " included updates' hashes in participant order hash to includedHash",
             "the included updates' hashes give " + to_hex(got) + ", includedHash is " +
                 to_hex(info.included_hash));
  }
  if (agg) {
    std::set<Address> rule_set;
    std::ostringstream diffs;
    for (const auto& u : agg->updates) {
      std::cout << "       " << u.address.to_checksum() << ": " << u.verdict
                << (u.flag.empty() ? "" : ", flagged " + u.flag) << "\n";
      if (u.flag.empty()) rule_set.insert(u.address);
      if (u.flag.empty() && !chain_set.count(u.address))
        diffs << " " << u.address.to_checksum() << " was kept by the rule but is not included;";
      if (!u.flag.empty() && chain_set.count(u.address))
        diffs << " " << u.address.to_checksum() << " is included but the rule flagged it " << u.flag
              << ";";
    }
    v.expect(rule_set == chain_set, "included bitmap",
             std::to_string(chain_set.size()) + " of " + std::to_string(agg->updates.size()) +
                 " updates included, exactly those the rule left unflagged",
             "the posted bitmap is not the rule's selection:" + diffs.str());
  }
  return {v.failed(), v.checks()};
}

}  // namespace

void add_verify_command(CLI::App& app) {
  auto a = std::make_shared<VerifyArgs>();
  auto* cmd = app.add_subcommand(
      "verify",
      "Recompute a round of an AllianceTaskV2 task from its signed updates and check the posted "
      "model hash, included bitmap and includedHash (exit 1 on any mismatch)");
  cmd->add_option("--round", a->round, "the round to verify")->required();
  cmd->add_option("--task", a->task, "the task id")->required();
  cmd->add_option("--rpc", a->rpc, "JSON-RPC endpoint")->capture_default_str();
  cmd->add_option("--deployment", a->deployment, "deployment JSON naming allianceTaskV2")
      ->capture_default_str();
  cmd->add_option("--contract", a->contract, "AllianceTaskV2's address (instead of --deployment)");
  cmd->add_option("--data-dir", a->data_dir, "murmurd's data directory (state.db, spool, models)");
  cmd->add_option("--updates", a->updates_dir, "a round directory written by --export");
  cmd->add_option("--from", a->from,
                  "a running murmurd's registration endpoint ([server] register_endpoint, e.g. "
                  "tcp://127.0.0.1:7771): it serves anyone a round whose uploads are closed");
  cmd->add_option("--server-key", a->server_key,
                  "murmurd's CurveZMQ public key (Z85) for --from; omit only for a murmurd "
                  "with curve = false");
  cmd->add_option("--timeout-ms", a->timeout_ms, "--from: per reply, before a retry")
      ->capture_default_str();
  cmd->add_option("--export", a->export_dir,
                  "also write the round's signed updates and base model to this directory");
  cmd->add_option("--rule", a->rule,
                  "the rule text the task's ruleHash commits to (default: murmurd's record)");
  cmd->add_option("--flag-ratio", a->flag_ratio,
                  "flag threshold of coordinate-wise and clipping rules (murmurd's "
                  "[aggregation] flag_ratio)")
      ->capture_default_str();
  cmd->add_option("--backend", a->backend, "kernel backend: cpu or cuda")->capture_default_str();
  cmd->callback([a] {
    const Tally t = verify(*a);
    if (t.failed == 0) {
      std::cout << "round " << a->round << " VERIFIED: all " << t.checks << " checks passed\n";
      return;
    }
    std::cout << "round " << a->round << " NOT VERIFIED: " << t.failed << " of " << t.checks
              << " checks failed\n";
    throw CLI::RuntimeError(1);
  });
}

}  // namespace murmur::cli
