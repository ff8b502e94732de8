#include "murmur/server/config.hpp"

#include <toml++/toml.h>

#include "config_check.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/server/config_schema.hpp"
#include "shard_config.hpp"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace murmur::server {
namespace {

[[noreturn]] void bad(const std::filesystem::path& file, const std::string& key,
                      const std::string& why) {
  throw ConfigError(file, key, why);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

template <typename Resolve>
ValidationConfig load_validation(const std::filesystem::path& path, const toml::table& t,
                                 const Resolve& resolve) {
  ValidationConfig v;
  if (const auto* mlp = t["mlp"].as_array()) {
    for (const auto& width : *mlp) {
      const auto w = width.value<std::int64_t>();
      if (!w || *w <= 0)
        bad(path, "validation.mlp", "layer widths are positive integers, e.g. [784, 128, 10]");
      v.mlp.push_back(static_cast<std::size_t>(*w));
    }
    if (v.mlp.size() < 2)
      bad(path, "validation.mlp", "needs the input width and the classes at least, e.g. [784, 10]");
  }
  if (const auto f = t["torchscript"].value<std::string>()) v.torchscript = resolve(*f);
  if (v.mlp.empty() == v.torchscript.empty())
    bad(path, "validation",
        "name the task's model: either mlp = [784, 128, 10] or torchscript = \"model.pt\"");

  v.fashion_mnist = t["fashion_mnist"].value_or(std::string());
  if (const auto d = t["fashion_mnist_dir"].value<std::string>()) v.fashion_mnist_dir = resolve(*d);
  if (const auto f = t["images"].value<std::string>()) v.images = resolve(*f);
  if (const auto f = t["labels"].value<std::string>()) v.labels = resolve(*f);
  if (const auto f = t["labelled_tensors"].value<std::string>()) v.labelled_tensors = resolve(*f);
  if (!v.fashion_mnist.empty() && v.fashion_mnist != "test" && v.fashion_mnist != "train")
    bad(path, "validation.fashion_mnist", "\"test\" or \"train\", not \"" + v.fashion_mnist + "\"");
  if (v.images.empty() != v.labels.empty())
    bad(path, "validation.images", "IDX images and labels go together");
  const int sets = !v.fashion_mnist.empty() + !v.images.empty() + !v.labelled_tensors.empty();
  if (sets != 1)
    bad(path, "validation",
        "name exactly one validation set: fashion_mnist = \"test\", "
        "images + labels (IDX files), or labelled_tensors = \"set.mlt\"");
  const auto max_rows = t["max_rows"].value_or(std::int64_t{0});
  if (max_rows < 0) bad(path, "validation.max_rows", "must be >= 0 (0: every example)");
  v.max_rows = static_cast<std::size_t>(max_rows);
  v.feature_mean = t["feature_mean"].value_or(v.feature_mean);
  v.feature_std = t["feature_std"].value_or(v.feature_std);
  if (!std::isfinite(v.feature_mean) || !(v.feature_std > 0) || !std::isfinite(v.feature_std))
    bad(path, "validation.feature_std",
        "feature_mean must be finite and feature_std finite and > 0");
  const auto max_batch = t["max_batch"].value_or(std::int64_t{32});
  if (max_batch < 1) bad(path, "validation.max_batch", "must be at least 1");
  v.max_batch = static_cast<std::size_t>(max_batch);
  return v;
}

template <typename Resolve>
ChainConfig load_chain(const std::filesystem::path& path, const toml::table& t,
                       const Resolve& resolve, const Config& c) {
  ChainConfig ch;
  ch.rpc_url = t["rpc_url"].value_or(std::string());
  if (ch.rpc_url.empty())
    bad(path, "chain.rpc_url", "the JSON-RPC endpoint is required, e.g. \"http://127.0.0.1:8545\"");
  // The contract and chain are task.contract and task.chain_id: those the nodes sign for.
  if (c.contract.is_zero())
    bad(path, "task.contract", "posting on chain needs the AllianceTask contract's address");
  const auto key = t["key_file"].value<std::string>();
  if (!key)
    bad(path, "chain.key_file", "the aggregator's key file is required (64 hex digits, chmod 600)");
  ch.key_file = resolve(*key);
  if (const auto o = t["outbox"].value<std::string>()) ch.outbox = resolve(*o);
  const double timeout = t["receipt_timeout_seconds"].value_or(120.0);
  if (!(timeout > 0)) bad(path, "chain.receipt_timeout_seconds", "must be positive");
  ch.receipt_timeout = std::chrono::milliseconds(static_cast<long>(timeout * 1000));
  return ch;
}

/// [aggregation]: `rule` and the rule's parameters by name through the rule registry (one table
/// for every rule: a key the rule does not read is ignored, a key no rule has is refused),
/// `nnm`, `bucket`, `bucket_seed`; `flag_ratio` is read by load_config.
kernels::AggregationSpec load_aggregation(const std::filesystem::path& path, const toml::table& t) {
  kernels::AggregationTable table;
  table.rule = "fedavg";
  std::set<std::string> parameters;  // of every rule: one table serves them all
  for (const auto& r : kernels::rule_catalog())
    for (const auto& p : r.parameters) parameters.insert(p.name);
  std::string keys = "rule";
  for (const auto& p : parameters) keys += ", " + p;
  keys += ", nnm, bucket, bucket_seed, flag_ratio";
  const auto count = [&](const std::string& key, const toml::node& node) {
    const auto v = node.value<std::int64_t>();
    if (!node.is_integer() || *v < 0) bad(path, "aggregation." + key, "must be an integer >= 0");
    return static_cast<std::uint64_t>(*v);
  };
  for (const auto& [k, node] : t) {
    const std::string key(k.str());
    if (key == "flag_ratio") continue;
    if (key == "rule") {
      if (!node.is_string())
        bad(path, "aggregation.rule", "must be a string: a rule's name or a spec");
      table.rule = *node.value<std::string>();
    } else if (key == "nnm") {
      if (!node.is_boolean()) bad(path, "aggregation.nnm", "must be true or false");
      table.nnm = *node.value<bool>();
    } else if (key == "bucket") {
      table.bucket = count(key, node);
    } else if (key == "bucket_seed") {
      table.bucket_seed = count(key, node);
    } else if (!parameters.contains(key)) {
      bad(path, "aggregation." + key, "unknown key (keys: " + keys + ")");
    } else if (node.is_integer()) {
      table.parameters[key] = *node.value<std::int64_t>();
    } else if (node.is_floating_point()) {
      table.parameters[key] = *node.value<double>();
    } else if (node.is_string()) {
      table.parameters[key] = *node.value<std::string>();
    } else {
      bad(path, "aggregation." + key, "must be a number or a string");
    }
  }
  try {
    return kernels::make_aggregation(table);
  } catch (const kernels::SpecError& e) {
    // A key of the table when it is one; a parameter inside a full spec is the rule's fault.
    const bool in_spec = table.rule.find_first_of("(+") != std::string::npos;
    const std::string& p = e.parameter();
    bad(path, "aggregation." + (p.empty() || (in_spec && !t.contains(p)) ? "rule" : p), e.what());
  }
}

}  // namespace

std::vector<Participant> load_participants(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read participants file " + path.string());
  std::vector<Participant> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto comma = line.find(',');
    if (comma == std::string::npos)
      throw std::runtime_error(path.string() + ":" + std::to_string(n) +
                               ": expected 'address,stake'");
    try {
      std::string addr = line.substr(0, comma), stake = line.substr(comma + 1);
      const auto trim = [](std::string& s) {
        s.erase(0, s.find_first_not_of(" \t"));
        s.erase(s.find_last_not_of(" \t\r") + 1);
      };
      trim(addr);
      trim(stake);
      out.push_back({chain::Address::from_hex(addr), chain::U256::from_string(stake)});
    } catch (const std::exception& e) {
      throw std::runtime_error(path.string() + ":" + std::to_string(n) + ": " + e.what());
    }
  }
  return out;
}

Config load_config(const std::filesystem::path& path) {
  toml::table t;
  try {
    t = toml::parse(read_text(path), path.string());
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(path.string() + ": " + std::string(e.description()));
  }
  check_config_shape(path, t);
  const auto dir = path.parent_path();
  const auto resolve = [&](const std::string& p) {
    const std::filesystem::path fp(p);
    return fp.is_absolute() ? fp : dir / fp;
  };
  Config c;
  const auto srv = t["server"], task = t["task"], round = t["round"], agg = t["aggregation"];
  c.endpoint = srv["endpoint"].value_or(c.endpoint);
  c.register_endpoint = srv["register_endpoint"].value_or(c.register_endpoint);
  c.metrics_address = srv["metrics_address"].value_or(c.metrics_address);
  c.metrics_port = srv["metrics_port"].value_or(c.metrics_port);
  c.data_dir = resolve(srv["data_dir"].value_or(c.data_dir.string()));
  c.curve = srv["curve"].value_or(c.curve);
  c.insecure_plaintext = srv["insecure_plaintext"].value_or(c.insecure_plaintext);
  if (!c.curve && !c.insecure_plaintext)
    bad(path, "server.insecure_plaintext",
        "curve = false runs plain ZeroMQ (nothing encrypted, anyone on the path can read and "
        "inject); it is for tests on a trusted host only: set insecure_plaintext = true to run "
        "it anyway, or keep curve = true");
  c.curve_secret_key = srv["curve_secret_key"].value_or(std::string());
  if (const auto file = srv["curve_secret_key_file"].value<std::string>()) {
    std::string key = read_text(resolve(*file));
    key.erase(key.find_last_not_of(" \t\r\n") + 1);
    c.curve_secret_key = key;
  }
  if (c.curve && c.curve_secret_key.size() != 40)
    bad(path, "server.curve_secret_key",
        "CurveZMQ needs a 40-character Z85 secret key (murmurd keygen writes one)");
  c.chunk_bytes = srv["chunk_bytes"].value_or(c.chunk_bytes);
  c.inflight_budget_bytes = srv["inflight_budget_bytes"].value_or(c.inflight_budget_bytes);
  c.peer_credits = srv["peer_credits"].value_or(c.peer_credits);
  c.busy_wait = std::chrono::milliseconds(srv["busy_wait_ms"].value_or(c.busy_wait.count()));
  c.fault_limit = std::chrono::milliseconds(srv["fault_limit_ms"].value_or(c.fault_limit.count()));
  c.spool_keep_rounds = srv["spool_keep_rounds"].value_or(c.spool_keep_rounds);
  c.peer_messages_per_second = srv["peer_messages_per_second"].value_or(c.peer_messages_per_second);
  c.register_max_connections = srv["register_max_connections"].value_or(c.register_max_connections);
  c.register_connections_per_address =
      srv["register_connections_per_address"].value_or(c.register_connections_per_address);
  c.register_messages_per_second =
      srv["register_messages_per_second"].value_or(c.register_messages_per_second);
  c.credit_grace =
      std::chrono::milliseconds(srv["credit_grace_ms"].value_or(c.credit_grace.count()));
  c.min_upload_bytes_per_second =
      srv["min_upload_bytes_per_second"].value_or(c.min_upload_bytes_per_second);
  c.backend = srv["backend"].value_or(c.backend);
  if (c.chunk_bytes < 1024 || c.chunk_bytes % 4 != 0)
    bad(path, "server.chunk_bytes", "must be a multiple of 4, at least 1024");
  if (c.inflight_budget_bytes < c.chunk_bytes)
    bad(path, "server.inflight_budget_bytes", "must hold at least one chunk");
  if (c.peer_credits == 0) bad(path, "server.peer_credits", "must be at least 1");
  if (c.busy_wait.count() < 0) bad(path, "server.busy_wait_ms", "must not be negative");
  if (c.fault_limit.count() < 0) bad(path, "server.fault_limit_ms", "must not be negative");

  c.task_id = task["task_id"].value_or(c.task_id);
  c.chain_id = task["chain_id"].value_or(c.chain_id);
  if (const auto contract = task["contract"].value<std::string>()) {
    try {
      c.contract = chain::Address::from_hex(*contract);
    } catch (const std::invalid_argument& e) {
      bad(path, "task.contract", e.what());  // a ConfigError, as every other key's
    }
  }
  c.parameters = task["parameters"].value_or(c.parameters);
  if (c.parameters == 0) bad(path, "task.parameters", "the model's parameter count is required");
  c.rounds = task["rounds"].value_or(c.rounds);
  c.proposer_bps = task["proposer_bps"].value_or(c.proposer_bps);
  if (c.proposer_bps > 10000) bad(path, "task.proposer_bps", "at most 10000");
  if (const auto m = task["initial_model"].value<std::string>()) c.initial_model = resolve(*m);
  if (const auto p = task["participants"].value<std::string>())
    c.participants = load_participants(resolve(*p));

  c.upload_window =
      std::chrono::milliseconds(static_cast<long>(round["upload_seconds"].value_or(60.0) * 1000));
  c.vote_window =
      std::chrono::milliseconds(static_cast<long>(round["vote_seconds"].value_or(30.0) * 1000));
  c.quorum = round["quorum"].value_or(c.quorum);
  c.vote_quorum = round["vote_quorum"].value_or(c.vote_quorum);

  if (const auto* a = t["aggregation"].as_table()) c.aggregation = load_aggregation(path, *a);
  c.flag_ratio = agg["flag_ratio"].value_or(c.flag_ratio);
  if (!(c.flag_ratio > 1)) bad(path, "aggregation.flag_ratio", "must be greater than 1");

  if (const auto* v = t["validation"].as_table()) c.validation = load_validation(path, *v, resolve);
  if (const auto* ch = t["chain"].as_table()) c.chain = load_chain(path, *ch, resolve, c);
  // With [chain] the contract is the list of participants and their stakes (read when each
  // round opens); without it, a file of them is required.
  if (c.participants.empty() && !c.chain)
    bad(path, "task.participants",
        "a participants file with at least one 'address,stake' line is required (or a [chain] "
        "table, whose contract lists them)");

  const auto sa = t["secagg"];
  c.secagg.enabled = sa["enabled"].value_or(false);
  c.secagg.group_size = sa["group_size"].value_or(c.secagg.group_size);
  c.secagg.degree = sa["degree"].value_or(c.secagg.degree);
  c.secagg.threshold = sa["threshold"].value_or(c.secagg.threshold);
  c.secagg.clip = sa["clip"].value_or(c.secagg.clip);
  if (c.secagg.group_size == 0) bad(path, "secagg.group_size", "must be at least 1");
  if (!(c.secagg.clip > 0)) bad(path, "secagg.clip", "must be positive");
  const auto window = [&](const char* key, std::chrono::milliseconds fallback) {
    const double seconds = sa[key].value_or(static_cast<double>(fallback.count()) / 1000);
    if (!(seconds > 0)) bad(path, std::string("secagg.") + key, "must be positive");
    return std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  };
  c.secagg.advertise_window = window("advertise_seconds", c.secagg.advertise_window);
  c.secagg.share_window = window("share_seconds", c.secagg.share_window);
  c.secagg.check_window = window("check_seconds", c.secagg.check_window);
  c.secagg.masked_window = window("masked_seconds", c.secagg.masked_window);
  c.secagg.unmask_window = window("unmask_seconds", c.secagg.unmask_window);
  if (const auto* sh = t["shard"].as_table()) load_shard(path, *sh, c);
  return c;
}

}  // namespace murmur::server
