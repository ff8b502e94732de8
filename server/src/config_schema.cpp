#include "murmur/server/config_schema.hpp"

// Length (~680 lines): most of it is the declared table itself, one row per key with its doc;
// it stays one file so that the table is the one place a key is declared.
// GCC 12 misreports std::string concatenation with a literal as overlapping memcpy under -O3
// (-Wrestrict false positive, GCC bug 105651); this file builds text and nothing else.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <toml++/toml.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "config_check.hpp"
#include "murmur/kernels/rule_registry.hpp"

namespace murmur::server {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Bound at_least(double lo) {
  return {lo, kInf, false, false};
}
Bound above(double lo) {
  return {lo, kInf, true, false};
}
Bound between(double lo, double hi) {
  return {lo, hi, false, false};
}

/// A real as TOML writes it: whole numbers as "60.0", others with the fewest digits that read
/// back ("0.2", "1e-06").
std::string real(double v) {
  char buf[64];
  if (std::abs(v) < 1e15 && v == std::floor(v)) {
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}
template <typename T>
std::string integer(T v) {
  return std::to_string(v);
}
double seconds(std::chrono::milliseconds ms) {
  return static_cast<double>(ms.count()) / 1000;
}

using K = ConfigKey;
using T = ValueType;

}  // namespace

const char* to_string(ValueType type) {
  switch (type) {
    case T::kString: return "string";
    case T::kPath: return "path";
    case T::kInteger: return "integer";
    case T::kReal: return "real";
    case T::kBool: return "boolean";
    case T::kIntegerList: return "list of integers";
  }
  return "?";
}

bool Bound::holds(double v) const {
  return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
}

std::string Bound::text() const {
  // (Built in a stream: GCC 12's -Wrestrict misfires on literal + std::string here.)
  std::ostringstream s;
  const bool has_lo = lo != -kInf, has_hi = hi != kInf;
  if (has_lo && has_hi)
    s << (lo_open ? '(' : '[') << lo << ", " << hi << (hi_open ? ')' : ']');
  else if (has_lo)
    s << (lo_open ? "> " : ">= ") << lo;
  else if (has_hi)
    s << (hi_open ? "< " : "<= ") << hi;
  return s.str();
}

const std::vector<ConfigTable>& config_tables() {
  static const std::vector<ConfigTable> tables = {
      {"server", "The endpoints, the spool and ingest's flow control.", false},
      {"task", "The FL task murmurd serves: its id, chain, contract, model size and nodes.", false},
      {"round", "Each round's windows and quorums.", false},
      {"aggregation",
       "The rule by name with its parameters as keys (each rule reads the keys it has; a key no "
       "rule has is refused), or a whole spec such as \"nnm(f=1) + trimmed-mean(beta=0.2)\" "
       "with no parameter keys (kernels/README.md, \"The rule registry\").",
       false},
      {"validation",
       "Optional: score each round's candidates after aggregation and record each update's "
       "contribution (loss of the new model without it minus with it).",
       true},
      {"chain",
       "Optional: murmurd opens each round on chain (startRound) and settles it (finalizeRound "
       "or abandonRound) itself. task.contract is the AllianceTask; task.task_id its task.",
       true},
      {"secagg",
       "SecAgg+ with bucketing instead of plaintext uploads (secagg/README.md): proposers in "
       "groups drawn from the round seed; the server learns only each group's sum.",
       false},
      {"shard",
       "Optional: this murmurd is one shard of a shard set, holding one coordinate range of every "
       "update and of the model, or the set's coordinator (docs/sharding.md).",
       true},
  };
  return tables;
}

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = {
      // [server]
      {"server",
       "endpoint",
       T::kString,
       "\"tcp://127.0.0.1:7770\"",
       {},
       "",
       "round endpoint (ZAP domain \"round\")",
       "",
       false,
       [](const Config& c) { return quoted(c.endpoint); }},
      {"server",
       "register_endpoint",
       T::kString,
       "\"tcp://127.0.0.1:7771\"",
       {},
       "",
       "registration endpoint (ZAP domain \"register\")",
       "",
       false,
       [](const Config& c) { return quoted(c.register_endpoint); }},
      {"server",
       "metrics_address",
       T::kString,
       "\"127.0.0.1\"",
       {},
       "",
       "address of the metrics server",
       "",
       false,
       [](const Config& c) { return quoted(c.metrics_address); }},
      {"server", "metrics_port", T::kInteger, "0", between(0, 65535), "",
       "Prometheus text at /metrics; 0 disables", "9464", false,
       [](const Config& c) { return integer(c.metrics_port); }},
      {"server",
       "data_dir",
       T::kPath,
       "\"murmur-data\"",
       {},
       "",
       "spool, models, state.db (SQLite, WAL)",
       "",
       false,
       [](const Config& c) { return quoted(c.data_dir.string()); }},
      {"server",
       "curve",
       T::kBool,
       "true",
       {},
       "",
       "CurveZMQ on both endpoints",
       "",
       false,
       [](const Config& c) { return std::string(c.curve ? "true" : "false"); }},
      {"server",
       "curve_secret_key",
       T::kString,
       "",
       {},
       "",
       "the server's Z85 secret key (40 characters), or curve_secret_key_file",
       "\"<40 Z85 characters>\"",
       true},
      {"server",
       "curve_secret_key_file",
       T::kPath,
       "",
       {},
       "",
       "`murmurd keygen server.key` writes it (+ .pub)",
       "\"server.key\"",
       false},
      {"server", "chunk_bytes", T::kInteger, "4194304", at_least(1024), "",
       "upload chunk size, a multiple of 4 (4 MiB)", "", false,
       [](const Config& c) { return integer(c.chunk_bytes); }},
      {"server", "inflight_budget_bytes", T::kInteger, "268435456", at_least(1024), "",
       "chunk credits granted to all peers together (at least one chunk)", "", false,
       [](const Config& c) { return integer(c.inflight_budget_bytes); }},
      {"server", "peer_credits", T::kInteger, "8", at_least(1), "",
       "chunks one node may have unacknowledged", "", false,
       [](const Config& c) { return integer(c.peer_credits); }},
      {"server", "busy_wait_ms", T::kInteger, "2000", at_least(0), "",
       "a begin finding the budget spent waits this long for credits, then ERR_BUSY", "", false,
       [](const Config& c) { return integer(c.busy_wait.count()); }},
      {"server", "fault_limit_ms", T::kInteger, "60000", at_least(0), "",
       "a round-engine fault failing this long ends the round as failed (0: never)", "", false,
       [](const Config& c) { return integer(c.fault_limit.count()); }},
      {"server", "spool_keep_rounds", T::kInteger, "16", at_least(0), "",
       "spooled updates of the last this many ended rounds are kept, older ones deleted "
       "(murmur verify needs a round's; 0: keep all)",
       "", false, [](const Config& c) { return integer(c.spool_keep_rounds); }},
      {"server", "peer_messages_per_second", T::kReal, "2000.0", above(0), "",
       "token bucket per peer", "", false,
       [](const Config& c) { return real(c.peer_messages_per_second); }},
      {"server",
       "insecure_plaintext",
       T::kBool,
       "false",
       {},
       "",
       "required with curve = false: plain ZeroMQ is for tests on a trusted host",
       "",
       false,
       [](const Config& c) { return std::string(c.insecure_plaintext ? "true" : "false"); }},
      {"server", "register_max_connections", T::kInteger, "256", at_least(1), "",
       "live connections to the registration endpoint, all peers together", "", false,
       [](const Config& c) { return integer(c.register_max_connections); }},
      {"server", "register_connections_per_address", T::kInteger, "128", at_least(1), "",
       "live connections to the registration endpoint from one IP address", "", false,
       [](const Config& c) { return integer(c.register_connections_per_address); }},
      {"server", "register_messages_per_second", T::kReal, "200.0", above(0), "",
       "Register messages per IP address (token bucket, before the signature check)", "", false,
       [](const Config& c) { return real(c.register_messages_per_second); }},
      {"server", "credit_grace_ms", T::kInteger, "10000", at_least(0), "",
       "an upload's credits are free of the rate check this long after they are granted", "", false,
       [](const Config& c) { return integer(c.credit_grace.count()); }},
      {"server", "min_upload_bytes_per_second", T::kInteger, "65536", at_least(0), "",
       "after the grace, slower uploads lose their credits (ERR_BUSY); 0: no bound", "", false,
       [](const Config& c) { return integer(c.min_upload_bytes_per_second); }},
      {"server",
       "backend",
       T::kString,
       "\"auto\"",
       {},
       "auto|cpu|cuda",
       "auto: CUDA when a device answers, else the CPU",
       "",
       false,
       [](const Config& c) { return quoted(c.backend); }},
      // [task]
      {"task", "task_id", T::kInteger, "1", at_least(0), "", "the task's id", "", false,
       [](const Config& c) { return integer(c.task_id); }},
      {"task", "chain_id", T::kInteger, "31337", at_least(0), "",
       "EIP-712 domain: the chain the nodes sign for", "", false,
       [](const Config& c) { return integer(c.chain_id); }},
      {"task",
       "contract",
       T::kString,
       "",
       {},
       "",
       "EIP-712 verifying contract (the task's AllianceTask)",
       "\"0x5FbDB2315678afecb367f032d93F642f64180aa3\"",
       false},
      {"task", "parameters", T::kInteger, "", at_least(1), "",
       "the model's parameter count (required)", "1000000", false},
      {"task", "rounds", T::kInteger, "1", at_least(0), "", "rounds before the task closes", "10",
       false, [](const Config& c) { return integer(c.rounds); }},
      {"task", "proposer_bps", T::kInteger, "5000", between(0, 10000), "",
       "share of nodes that propose, in basis points", "", false,
       [](const Config& c) { return integer(c.proposer_bps); }},
      {"task",
       "participants",
       T::kPath,
       "",
       {},
       "",
       "\"address,stake\" lines (optional with [chain]: the contract's participants)",
       "\"participants.csv\"",
       false},
      {"task",
       "initial_model",
       T::kPath,
       "",
       {},
       "",
       "raw little-endian f32; zeros when absent",
       "\"initial.f32\"",
       true},
      // [round]
      {"round", "upload_seconds", T::kReal, "60.0", above(0), "", "the upload window", "", false,
       [](const Config& c) { return real(seconds(c.upload_window)); }},
      {"round", "vote_seconds", T::kReal, "30.0", above(0), "", "the vote window", "", false,
       [](const Config& c) { return real(seconds(c.vote_window)); }},
      {"round", "quorum", T::kInteger, "1", at_least(0), "",
       "committed updates needed to aggregate", "3", false,
       [](const Config& c) { return integer(c.quorum); }},
      {"round", "vote_quorum", T::kInteger, "0", at_least(0), "",
       "votes needed to decide; fewer: the round is rejected", "1", false,
       [](const Config& c) { return integer(c.vote_quorum); }},
      // [aggregation] (the rules' parameters come from the rule registry)
      {"aggregation",
       "rule",
       T::kString,
       "\"fedavg\"",
       {},
       "",
       "a rule's name (or a whole spec)",
       "\"trimmed-mean\"",
       false},
      {"aggregation",
       "nnm",
       T::kBool,
       "false",
       {},
       "",
       "nearest-neighbour mixing (with f) before bucketing and the rule",
       "",
       true},
      {"aggregation", "bucket", T::kInteger, "1", at_least(0), "",
       "> 1: bucketing into buckets of this many rows before the rule", "", false},
      {"aggregation", "bucket_seed", T::kInteger, "0", at_least(0), "",
       "the bucketing shuffle's seed", "", true},
      {"aggregation", "flag_ratio", T::kReal, "2.0", above(1), "",
       "round record flags: rows beyond flag_ratio x the median distance (coordinate-wise "
       "rules), rows scaled below 1 / flag_ratio (clipping rules)",
       "", false, [](const Config& c) { return real(c.flag_ratio); }},
      // [validation]
      {"validation",
       "mlp",
       T::kIntegerList,
       "",
       {},
       "",
       "the task's model as layer widths (its parameters must be task.parameters)",
       "[784, 128, 10]",
       false},
      {"validation",
       "torchscript",
       T::kPath,
       "",
       {},
       "",
       "or a TorchScript module, scored one candidate at a time",
       "\"model.pt\"",
       true},
      {"validation",
       "fashion_mnist",
       T::kString,
       "",
       {},
       "test|train",
       "Debian's dataset-fashion-mnist split; or images + labels, or labelled_tensors",
       "\"test\"",
       false},
      {"validation",
       "fashion_mnist_dir",
       T::kPath,
       "",
       {},
       "",
       "where the dataset is (default /usr/share/datasets/fashion-mnist)",
       "\"/usr/share/datasets/fashion-mnist\"",
       true},
      {"validation",
       "images",
       T::kPath,
       "",
       {},
       "",
       "IDX images (gzip or plain), with labels",
       "\"x.idx3.gz\"",
       true},
      {"validation",
       "labels",
       T::kPath,
       "",
       {},
       "",
       "IDX labels, with images",
       "\"y.idx1.gz\"",
       true},
      {"validation",
       "labelled_tensors",
       T::kPath,
       "",
       {},
       "",
       "a labelled-tensor file (model/labelled_tensor_file.hpp)",
       "\"validation.mlt\"",
       true},
      {"validation", "max_rows", T::kInteger, "0", at_least(0), "",
       "the first max_rows examples; 0: every example", "10000", false,
       [](const Config&) { return integer(ValidationConfig{}.max_rows); }},
      {"validation",
       "feature_mean",
       T::kReal,
       "0.0",
       {},
       "",
       "x -> (x - mean) / std, the nodes' preprocessing",
       "",
       false,
       [](const Config&) { return real(ValidationConfig{}.feature_mean); }},
      {"validation", "feature_std", T::kReal, "1.0", above(0), "", "see feature_mean", "", false,
       [](const Config&) { return real(ValidationConfig{}.feature_std); }},
      {"validation", "max_batch", T::kInteger, "32", at_least(1), "", "candidates per batched pass",
       "", false, [](const Config&) { return integer(ValidationConfig{}.max_batch); }},
      // [chain]
      {"chain",
       "rpc_url",
       T::kString,
       "",
       {},
       "",
       "the JSON-RPC endpoint (required)",
       "\"http://127.0.0.1:8545\"",
       false},
      {"chain",
       "key_file",
       T::kPath,
       "",
       {},
       "",
       "the task's aggregator key (64 hex digits, chmod 600; required)",
       "\"aggregator.key\"",
       false},
      {"chain",
       "outbox",
       T::kPath,
       "",
       {},
       "",
       "the posting outbox; default <data_dir>/outbox.db",
       "\"outbox.db\"",
       true},
      {"chain", "receipt_timeout_seconds", T::kReal, "120.0", above(0), "",
       "how long a posting waits for its receipt", "", false,
       [](const Config&) { return real(seconds(ChainConfig{}.receipt_timeout)); }},
      // [secagg]
      {"secagg",
       "enabled",
       T::kBool,
       "false",
       {},
       "",
       "true: rounds run SecAgg+ with bucketing instead of plaintext uploads",
       "",
       false,
       [](const Config& c) { return std::string(c.secagg.enabled ? "true" : "false"); }},
      {"secagg", "group_size", T::kInteger, "5", at_least(1), "",
       "s: 1 is plain robust aggregation, >= the proposers one group (secure FedAvg)", "", false,
       [](const Config& c) { return integer(c.secagg.group_size); }},
      {"secagg", "degree", T::kInteger, "0", at_least(0), "",
       "neighbours per node inside a group; 0: complete graph", "", false,
       [](const Config& c) { return integer(c.secagg.degree); }},
      {"secagg", "threshold", T::kInteger, "0", at_least(0), "",
       "shares that rebuild a secret; 0: a majority of a node's neighbours", "", false,
       [](const Config& c) { return integer(c.secagg.threshold); }},
      {"secagg", "clip", T::kReal, "1.0", above(0), "",
       "update coordinates are clipped to [-clip, clip] before quantisation", "", false,
       [](const Config& c) { return real(c.secagg.clip); }},
      {"secagg", "advertise_seconds", T::kReal, "30.0", above(0), "",
       "each stage's deadline; a stage ends early once every node answered", "", false,
       [](const Config& c) { return real(seconds(c.secagg.advertise_window)); }},
      {"secagg", "share_seconds", T::kReal, "30.0", above(0), "", "the share stage's deadline", "",
       false, [](const Config& c) { return real(seconds(c.secagg.share_window)); }},
      {"secagg", "check_seconds", T::kReal, "30.0", above(0), "", "the check stage's deadline", "",
       false, [](const Config& c) { return real(seconds(c.secagg.check_window)); }},
      {"secagg", "masked_seconds", T::kReal, "60.0", above(0), "",
       "the masked-input stage's deadline", "", false,
       [](const Config& c) { return real(seconds(c.secagg.masked_window)); }},
      {"secagg", "unmask_seconds", T::kReal, "30.0", above(0), "", "the unmask stage's deadline",
       "", false, [](const Config& c) { return real(seconds(c.secagg.unmask_window)); }},
      // [shard]
      {"shard",
       "role",
       T::kString,
       "\"shard\"",
       {},
       "shard|coordinator",
       "a shard of the set, or its coordinator (serves the store the shards meet at)",
       "",
       false,
       [](const Config&) { return quoted("shard"); }},
      {"shard", "index", T::kInteger, "", at_least(0), "",
       "a shard's place in the set, 0 .. count-1 (required for a shard)", "0", false},
      {"shard", "count", T::kInteger, "1", at_least(1), "",
       "S, the shards in the set; each holds the range shard::partition(parameters, S)[index]", "4",
       false, [](const Config&) { return integer(ShardConfig{}.count); }},
      {"shard",
       "coordinator",
       T::kString,
       "",
       {},
       "",
       "the coordinator's store, host:port (the coordinator listens there; required)",
       "\"127.0.0.1:29500\"",
       false},
      {"shard",
       "host",
       T::kString,
       "\"127.0.0.1\"",
       {},
       "",
       "the address this shard's peers reach its collective transport (Gloo) at",
       "",
       false,
       [](const Config&) { return quoted(ShardConfig{}.host); }},
      {"shard",
       "coordinator_key",
       T::kString,
       "",
       {},
       "",
       "a shard: the coordinator's Curve public key (Z85, 40 characters; the public half of its "
       "curve_secret_key), admitted on the round endpoint to read candidate parts for its "
       "[validation]",
       "",
       false},
      {"shard", "timeout_seconds", T::kReal, "30.0", above(0), "",
       "how long a shard waits for the others at each step of a round before the round fails", "",
       false, [](const Config&) { return real(seconds(ShardConfig{}.timeout)); }},
  };
  return keys;
}

void check_config_shape(const std::filesystem::path& file, const toml::table& root) {
  std::string table_names;
  for (const auto& t : config_tables()) {
    if (!table_names.empty()) table_names += ", ";
    table_names += t.name;
  }
  for (const auto& [name, node] : root) {
    const std::string table(name.str());
    bool known = false;
    for (const auto& t : config_tables()) known = known || t.name == table;
    if (!known) throw ConfigError(file, table, "unknown table (tables: " + table_names + ")");
    const toml::table* body = node.as_table();
    if (body == nullptr) throw ConfigError(file, table, "must be a table, [" + table + "]");
    std::string key_names;
    for (const auto& k : config_keys()) {
      if (k.table != table) continue;
      if (!key_names.empty()) key_names += ", ";
      key_names += k.key;
    }
    for (const auto& [k, value] : *body) {
      const std::string key(k.str()), full = table + "." + key;
      const ConfigKey* declared = nullptr;
      for (const auto& ck : config_keys())
        if (ck.table == table && ck.key == key) declared = &ck;
      if (declared == nullptr) {
        // [aggregation] also takes every rule parameter of the registry (load_aggregation).
        if (table == "aggregation" && kernels::is_parameter(key)) continue;
        throw ConfigError(file, full,
                          "unknown key (keys: " + key_names +
                              (table == "aggregation" ? ", and the rules' parameters" : "") + ")");
      }
      const std::string bound = declared->bound.text();
      const std::string want = std::string("must be ") +
                               (declared->type == T::kInteger ? "an " : "a ") +
                               to_string(declared->type) + (bound.empty() ? "" : " " + bound);
      double number = 0;
      switch (declared->type) {
        case T::kString:
        case T::kPath:
          if (!value.is_string()) throw ConfigError(file, full, want);
          if (!declared->choices.empty()) {
            const std::string v = *value.value<std::string>();
            std::string choices(declared->choices);
            bool ok = false;
            for (std::size_t b = 0, e; b <= choices.size(); b = e + 1) {
              e = choices.find('|', b);
              if (e == std::string::npos) e = choices.size();
              ok = ok || choices.substr(b, e - b) == v;
            }
            if (!ok) throw ConfigError(file, full, "one of " + choices + ", not \"" + v + "\"");
          }
          continue;
        case T::kBool:
          if (!value.is_boolean()) throw ConfigError(file, full, "must be true or false");
          continue;
        case T::kIntegerList:
          if (!value.is_array()) throw ConfigError(file, full, "must be a list of integers");
          continue;  // the elements are checked where they are read
        case T::kInteger:
          if (!value.is_integer()) throw ConfigError(file, full, want);
          number = static_cast<double>(*value.value<std::int64_t>());
          break;
        case T::kReal:
          if (!value.is_number()) throw ConfigError(file, full, want);
          number = *value.value<double>();
          if (!std::isfinite(number)) throw ConfigError(file, full, want + " (finite)");
          break;
      }
      if (!declared->bound.holds(number)) throw ConfigError(file, full, want);
    }
  }
}

namespace {

/// Aligns "key = value" lines and their "# doc" comments in one column, as the example does.
struct Lines {
  std::vector<std::pair<std::string, std::string>> rows;  // code, comment
  void add(std::string code, std::string comment) {
    rows.emplace_back(std::move(code), std::move(comment));
  }
  void write(std::ostringstream& out) const {
    std::size_t width = 0;
    for (const auto& [code, comment] : rows) width = std::max(width, code.size());
    for (const auto& [code, comment] : rows) {
      out << code;
      // The comment in one column, wrapped at 100 columns onto lines of its own.
      std::size_t column = code.size();
      std::istringstream words(comment);
      std::string word;
      bool first = true;
      while (words >> word) {
        if (first || column + 1 + word.size() > 100) {
          if (!first) out << "\n" << std::string(width, ' ');
          const std::size_t at = first ? code.size() : width;
          out << std::string(width - at + 2, ' ') << "#";
          column = width + 3;
          first = false;
        }
        out << ' ' << word;
        column += 1 + word.size();
      }
      out << "\n";
    }
  }
};

/// The registry's parameters as [aggregation] keys: name, the default and doc of each rule that
/// has it (one line per distinct doc), in catalog order.
struct RegistryParameter {
  std::string name, fallback, bound, doc;
  std::vector<std::string> steps;
};
std::vector<RegistryParameter> registry_parameters() {
  std::vector<RegistryParameter> out;
  const auto add = [&](const kernels::StepInfo& step) {
    for (const auto& p : step.parameters) {
      RegistryParameter* same = nullptr;
      for (auto& r : out)
        if (r.name == p.name && r.doc.rfind(p.doc, 0) == 0) same = &r;
      if (same == nullptr) {
        std::string fallback = p.type == kernels::ParameterType::kWord
                                   ? "\"" + p.default_value + "\""
                                   : p.default_value;
        std::string doc = p.doc;
        if (step.name == "centered-clipping" && p.name == "iters") {
          fallback = "10";  // kernels::AggregationTable's count when the table has none
          doc += " (10 when this table has none)";
        }
        out.push_back({p.name, fallback, p.bound, doc, {}});
        same = &out.back();
      }
      same->steps.push_back(step.name);
    }
  };
  for (const auto& s : kernels::rule_catalog()) add(s);  // nnm and bucket are keys of their own
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += sep;
    s += x;
  }
  return s;
}

}  // namespace

std::string example_config() {
  std::ostringstream out;
  out << "# murmurd configuration (generated by `murmurd config example` from the declared table\n"
         "# in server/src/config_schema.cpp; docs/configuration.md has every key). Relative paths\n"
         "# resolve against this file's folder.\n";
  for (const auto& t : config_tables()) {
    out << "\n";
    std::string doc(t.doc);
    std::istringstream words(doc);
    std::string line = "#", word;
    while (words >> word) {
      if (line.size() + 1 + word.size() > 98) {
        out << line << "\n";
        line.assign(1, '#');
      }
      line += ' ';
      line += word;
    }
    out << line << "\n";
    const std::string lead = t.optional ? "# " : "";
    out << lead << "[" << t.name << "]\n";
    Lines lines;
    for (const auto& k : config_keys()) {
      if (k.table != t.name) continue;
      const std::string value(k.example.empty() ? k.fallback : k.example);
      std::string comment(k.doc);
      if (!k.choices.empty()) comment += " (" + std::string(k.choices) + ")";
      std::string code = lead;
      if (k.commented) code += "# ";
      code += k.key;
      code += " = ";
      code += value;
      lines.add(code, comment);
    }
    if (t.name == "aggregation") {
      for (const auto& p : registry_parameters()) {
        const std::string value = p.name == "beta" ? "0.2" : p.fallback;
        const bool shown = p.name == "beta";
        std::string code = shown ? "" : "# ";
        code += p.name;
        code += " = ";
        code += value;
        std::string comment = join(p.steps, ", ") + ": " + p.doc;
        if (!p.bound.empty()) comment += ", " + p.bound;
        lines.add(code, comment);
      }
    }
    lines.write(out);
  }
  return out.str();
}

std::string config_reference() {
  std::ostringstream out;
  out << "# murmurd configuration reference\n\n"
         "Generated by `murmurd config reference` from the declared table in\n"
         "`server/src/config_schema.cpp` (a test fails when this file drifts from it); the "
         "example\n"
         "file is `server/murmurd.example.toml` (`murmurd config example`). murmurd refuses an\n"
         "unknown table or key, a value of the wrong type and a value out of bound with an error\n"
         "naming the key (`ConfigError`). Relative paths resolve against the file's folder.\n";
  for (const auto& t : config_tables()) {
    out << "\n## [" << t.name << "]" << (t.optional ? " (optional)" : "") << "\n\n"
        << t.doc << "\n\n"
        << "| key | type | default | bound | what |\n| --- | --- | --- | --- | --- |\n";
    for (const auto& k : config_keys()) {
      if (k.table != t.name) continue;
      std::string bound = k.bound.text();
      if (!k.choices.empty()) bound = std::string(k.choices);
      out << "| `" << k.key << "` | " << to_string(k.type) << " | "
          << (k.fallback.empty() ? "—" : "`" + std::string(k.fallback) + "`") << " | "
          << (bound.empty() ? "—" : bound) << " | " << k.doc << " |\n";
    }
    if (t.name == "aggregation") {
      out << "\nThe rules' parameters, from the rule registry (`kernels/README.md`); a rule reads\n"
             "the keys it has and ignores the others:\n\n"
             "| key | rules | default | bound | what |\n| --- | --- | --- | --- | --- |\n";
      for (const auto& p : registry_parameters())
        out << "| `" << p.name << "` | " << join(p.steps, ", ") << " | `" << p.fallback << "` | "
            << (p.bound.empty() ? "—" : p.bound) << " | " << p.doc << " |\n";
    }
  }
  return out.str();
}

}  // namespace murmur::server
