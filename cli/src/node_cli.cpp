#include "node_cli.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>

#include "murmur/chain/key_source.hpp"
#include "murmur/client/curve_keys.hpp"
#include "murmur/client/load.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/node_loop.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/labelled_tensor_file.hpp"

namespace murmur::cli {
namespace {

/// Options that `node` and `load` share: where murmurd is and how to talk to it.
struct Connection {
  std::string endpoint, register_endpoint, server_key, server_key_file;
  std::string contract;  ///< empty: `load` takes the server's domain, `node` the zero address
  std::uint64_t chain_id = 31337;
  std::string dtype = "f32";
  long timeout_ms = 10'000;
  int retries = 4;
  long busy_patience_s = 120;
};

void add_connection_options(CLI::App* cmd, Connection& c) {
  cmd->add_option("--endpoint", c.endpoint, "murmurd's round endpoint, e.g. tcp://127.0.0.1:7700");
  cmd->add_option("--register-endpoint", c.register_endpoint, "murmurd's registration endpoint");
  cmd->add_option("--server-key", c.server_key,
                  "murmurd's CurveZMQ public key (Z85, 40 characters)");
  cmd->add_option("--server-key-file", c.server_key_file,
                  "file whose first line is murmurd's public key (Z85)");
  cmd->add_option("--chain-id", c.chain_id,
                  "chain id of the task contract (EIP-712 domain and registration)")
      ->capture_default_str();
  cmd->add_option("--contract", c.contract,
                  "the task contract's address (EIP-712 verifyingContract); load: default the "
                  "server's (its RoundInfo), node: default the zero address");
  cmd->add_option("--dtype", c.dtype, "how updates travel: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--timeout-ms", c.timeout_ms, "wait for each reply at most this long")
      ->capture_default_str();
  cmd->add_option("--retries", c.retries, "retries after a lost reply")->capture_default_str();
  cmd->add_option("--busy-patience-s", c.busy_patience_s,
                  "how long a request keeps retrying ERR_BUSY / ERR_RATE_LIMITED")
      ->capture_default_str();
}

/// A key file's first line, trailing spaces and CR dropped; `error` is thrown when it cannot be
/// read.
std::string key_file_line(const std::string& path, const std::string& error) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) throw std::runtime_error(error);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

std::string server_key(const Connection& c) {
  if (!c.server_key.empty()) return c.server_key;
  if (c.server_key_file.empty())
    throw std::runtime_error(
        "murmurd's public key is needed: pass --server-key or --server-key-file");
  return key_file_line(c.server_key_file, "cannot read --server-key-file " + c.server_key_file);
}

/// One `--shard ROUND_ENDPOINT,REGISTER_ENDPOINT,KEY` (KEY: the shard's Curve public key in Z85,
/// or @FILE whose first line is it; a key that starts with '@' is still a key unless that file
/// exists): `base` with that shard's endpoints and key.
client::ClientOptions shard_options(const std::string& spec, std::size_t k,
                                    client::ClientOptions base) {
  std::vector<std::string> f;
  for (std::size_t at = 0;;) {
    const std::size_t comma = spec.find(',', at);
    f.push_back(spec.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  const std::string which =
      "--shard #" + std::to_string(k) + " (shard " + std::to_string(k) + ") '" + spec + "'";
  if (f.size() != 3 || f[0].empty() || f[1].empty() || f[2].empty())
    throw std::runtime_error(
        which +
        ": expected ROUND_ENDPOINT,REGISTER_ENDPOINT,KEY (the shard's "
        "[server] endpoint and register_endpoint, its Curve public key in "
        "Z85 or @FILE), e.g. tcp://10.0.0.10:7700,tcp://10.0.0.10:7701,@shard0.key");
  base.endpoint = f[0];
  base.register_endpoint = f[1];
  // '@' is a Z85 character too: one key in 85 starts with it. So 40 valid Z85 characters are
  // the key itself unless a file by the name after the '@' exists.
  const auto is_key = [](const std::string& v) {
    try {
      client::z85_key_bytes(v);
      return true;
    } catch (const std::invalid_argument&) {
      return false;
    }
  };
  if (f[2][0] == '@' && !(is_key(f[2]) && !std::filesystem::exists(f[2].substr(1))))
    f[2] = key_file_line(f[2].substr(1), which + ": cannot read the key file " + f[2].substr(1));
  if (f[2].size() != 40)
    throw std::runtime_error(which + ": the shard's Curve public key must be 40 Z85 characters, " +
                             "got " + std::to_string(f[2].size()));
  base.server_public_key = f[2];
  return base;
}

client::ClientOptions client_options(const Connection& c) {
  if (c.endpoint.empty() || c.register_endpoint.empty())
    throw std::runtime_error(
        "pass murmurd's --endpoint and --register-endpoint (its config's endpoint and "
        "register_endpoint)");
  client::ClientOptions o;
  o.endpoint = c.endpoint;
  o.register_endpoint = c.register_endpoint;
  o.server_public_key = server_key(c);
  o.timeout = std::chrono::milliseconds(c.timeout_ms);
  o.retries = c.retries;
  o.busy_patience = std::chrono::seconds(c.busy_patience_s);
  return o;
}

chain::Eip712Domain domain(const Connection& c) {
  chain::Eip712Domain d;
  d.chain_id = c.chain_id;
  d.verifying_contract = chain::Address::from_hex(
      c.contract.empty() ? "0x0000000000000000000000000000000000000000" : c.contract);
  return d;
}

wire::DType dtype(const Connection& c) {
  return c.dtype == "f16"    ? wire::DTYPE_F16
         : c.dtype == "bf16" ? wire::DTYPE_BF16
                             : wire::DTYPE_F32;
}

/// Held-out rows for an AllianceTaskV2 voter: an MLP (--mlp) scored on a labelled-tensor file or
/// a slice of Fashion-MNIST, on the CPU backend.
struct HeldOut {
  std::string mlp, file, fashion_mnist;
  std::size_t rows = 1000, offset = 0;
};

client::Evaluator held_out_evaluator(const HeldOut& h) {
  if (h.mlp.empty() || (h.file.empty() == h.fashion_mnist.empty()))
    throw std::runtime_error(
        "an AllianceTaskV2 voter evaluates the candidate on its own held-out rows: pass --mlp "
        "(the task's model, e.g. 784-128-10) and one of --held-out FILE.mlt or "
        "--held-out-fashion-mnist test|train");
  struct State {
    std::unique_ptr<kernels::Backend> backend = kernels::make_cpu_backend();
    model::LabelledSet data;
    std::unique_ptr<model::BatchedMlpEvaluator> evaluator;
  };
  auto st = std::make_shared<State>();
  model::LabelledSet all =
      !h.file.empty()
          ? model::read_labelled_tensors(h.file)
          : model::load_fashion_mnist(h.fashion_mnist == "train" ? model::FashionMnistSplit::kTrain
                                                                 : model::FashionMnistSplit::kTest);
  const std::size_t begin = std::min(h.offset, all.rows());
  const std::size_t end = std::min(all.rows(), begin + h.rows);
  if (begin == end) throw std::runtime_error("--held-out-offset is past the held-out set's rows");
  st->data.example_dims = all.example_dims;
  st->data.classes = all.classes;
  st->data.features.assign(all.features.begin() + static_cast<std::ptrdiff_t>(begin * all.cols()),
                           all.features.begin() + static_cast<std::ptrdiff_t>(end * all.cols()));
  st->data.labels.assign(all.labels.begin() + static_cast<std::ptrdiff_t>(begin),
                         all.labels.begin() + static_cast<std::ptrdiff_t>(end));
  st->evaluator = std::make_unique<model::BatchedMlpEvaluator>(
      *st->backend, model::parse_mlp_shape(h.mlp), st->data, 1);
  std::cout << "held-out rows: " << st->data.describe() << ", " << st->evaluator->describe()
            << "\n";
  return [st](client::RoundContext&, std::span<const float> model) {
    const auto s = st->evaluator->evaluate(model).at(0);
    return s.valid() ? s.mean_loss : std::numeric_limits<double>::infinity();
  };
}

}  // namespace

void add_node_command(CLI::App& app) {
  struct Args {
    Connection c;
    std::string key_file, curve_key_file = "murmur-node.curve", updates;
    std::optional<std::uint64_t> seed;
    std::uint64_t index = 0, num_samples = 1, rounds = 0;
    long poll_ms = 250, idle_timeout_s = 600;
    double max_rms_step = 1.0;
    bool no_register = false;
    std::string rpc, state_dir = "murmur-node-state";
    long finalize_after_ms = 5000;
    HeldOut held_out;
    client::ObjectionRule objections;
    bool no_objections = false;
    std::vector<std::string> shards;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("node",
                                     "Run a node: register with murmurd, then each round upload an "
                                     "update as a proposer and vote as a voter");
  add_connection_options(cmd, a->c);
  cmd->add_option("--key-file", a->key_file,
                  "chain key file (hex, chmod 600); default: $MURMUR_CHAIN_KEY");
  cmd->add_option("--seed", a->seed,
                  "test networks only: use the deterministic key derive_node_key(seed, --index) "
                  "instead of a key file");
  cmd->add_option("--index", a->index, "node index under --seed")->capture_default_str();
  cmd->add_option("--curve-key-file", a->curve_key_file,
                  "this node's CurveZMQ key pair, created (chmod 600) if missing")
      ->capture_default_str();
  cmd->add_option("--updates", a->updates,
                  "raw f32 little-endian update: one file for every round, or a directory of files "
                  "used in name "
                  "order, one per round; without it the node only votes");
  cmd->add_option("--num-samples", a->num_samples, "samples behind each update (FedAvg weight)")
      ->capture_default_str();
  cmd->add_option("--rounds", a->rounds,
                  "stop after this many rounds have ended (0: until the task closes)")
      ->capture_default_str();
  cmd->add_option("--max-rms-step", a->max_rms_step,
                  "vote +1 when the candidate is finite and its RMS step from the global model is "
                  "at most this")
      ->capture_default_str();
  cmd->add_option("--poll-ms", a->poll_ms, "round polling interval")->capture_default_str();
  cmd->add_option("--idle-timeout-s", a->idle_timeout_s,
                  "give up when the round does not move for this long")
      ->capture_default_str();
  cmd->add_flag("--no-register", a->no_register, "skip Register (the Curve key is already bound)");
  cmd->add_option("--rpc", a->rpc,
                  "AllianceTaskV2 (--contract): the JSON-RPC endpoint for this node's own chain "
                  "calls (commitUpdate, commitVote, revealVote); the key must hold gas");
  cmd->add_option("--state-dir", a->state_dir,
                  "AllianceTaskV2: where committed updates and vote salts are kept across restarts")
      ->capture_default_str();
  cmd->add_option(
         "--finalize-after-ms", a->finalize_after_ms,
         "AllianceTaskV2: close a closable round nobody closed after this long (-1: never)")
      ->capture_default_str();
  cmd->add_option("--mlp", a->held_out.mlp,
                  "AllianceTaskV2 voter: the task's MLP, e.g. 784-128-10");
  cmd->add_option("--held-out", a->held_out.file,
                  "AllianceTaskV2 voter: held-out rows as a labelled-tensor file (.mlt)");
  cmd->add_option("--held-out-fashion-mnist", a->held_out.fashion_mnist,
                  "AllianceTaskV2 voter: held-out rows from Fashion-MNIST's test or train split")
      ->check(CLI::IsMember({"test", "train"}));
  cmd->add_option("--held-out-rows", a->held_out.rows, "held-out rows used")->capture_default_str();
  cmd->add_option("--objection-bps", a->objections.objection_bps,
                  "AllianceTaskV2 voter: object to an update scoring this far below the voter's "
                  "median update (each judged at --objection-scale / P of its size)")
      ->capture_default_str();
  cmd->add_option("--objection-scale", a->objections.scale,
                  "AllianceTaskV2 voter: judge update j as global + scale / P x update_j")
      ->capture_default_str();
  cmd->add_flag("--no-objections", a->no_objections,
                "AllianceTaskV2 voter: do not fetch and judge the round's updates (the vote "
                "carries its score only)");
  cmd->add_option("--held-out-offset", a->held_out.offset, "first held-out row used")
      ->capture_default_str();
  cmd->add_option("--shard", a->shards,
                  "a murmurd shard set: one shard as ROUND_ENDPOINT,REGISTER_ENDPOINT,KEY (its "
                  "Curve public key in Z85, or @FILE), repeated for every shard in shard order "
                  "(shard 0 first); --endpoint, --register-endpoint and the server key then name "
                  "the set's coordinator");
  cmd->callback([a] {
    const chain::PrivateKey key =
        a->seed ? client::derive_node_key(*a->seed, a->index)
                : chain::load_key(a->key_file.empty()
                                      ? std::nullopt
                                      : std::optional<std::filesystem::path>(a->key_file));
    client::ClientOptions co = client_options(a->c);
    co.curve = client::load_or_create_curve_keys(a->curve_key_file);
    std::vector<std::unique_ptr<client::NodeClient>> shard_clients;
    std::vector<std::string> shard_names;
    for (std::size_t k = 0; k < a->shards.size(); ++k) {
      client::ClientOptions so = shard_options(a->shards[k], k, co);
      shard_names.push_back(so.endpoint);
      shard_clients.push_back(std::make_unique<client::NodeClient>(std::move(so)));
    }
    client::NodeClient client(std::move(co));
    client::NodeLoopOptions lo;
    lo.chain_id = a->c.chain_id;
    lo.domain = domain(a->c);
    lo.dtype = dtype(a->c);
    lo.poll = std::chrono::milliseconds(a->poll_ms);
    lo.max_rounds = a->rounds;
    lo.idle_timeout = std::chrono::seconds(a->idle_timeout_s);
    lo.register_first = !a->no_register;
    for (auto& s : shard_clients) lo.shards.push_back(s.get());
    lo.shard_names = shard_names;
    if (!a->rpc.empty()) {
      client::ChainCalls calls;
      calls.rpc_url = a->rpc;
      calls.state_dir = a->state_dir;
      calls.finalize_after = std::chrono::milliseconds(a->finalize_after_ms);
      calls.evaluator = held_out_evaluator(a->held_out);
      calls.object = !a->no_objections;
      calls.objections = a->objections;
      lo.chain = calls;
    }
    const client::Trainer trainer = a->updates.empty()
                                        ? client::Trainer([](client::RoundContext&) {
                                            return std::optional<client::TrainedUpdate>();
                                          })
                                        : client::updates_from_files(a->updates, a->num_samples);
    const auto r = client::run_node(client, key, lo, trainer,
                                    client::rms_step_rule(a->max_rms_step), &std::cout);
    std::cout << "node " << key.address().to_checksum() << ": " << r.rounds_seen << " rounds, "
              << r.uploads << " uploads, " << r.votes << " votes"
              << (lo.chain ? ", " + std::to_string(r.reveals) + " reveals, " +
                                 std::to_string(r.objections) + " objections, " +
                                 std::to_string(r.finalized) + " rounds closed"
                           : std::string())
              << (r.closed ? ", task closed" : "") << "\n";
  });
}

void add_load_command(CLI::App& app) {
  struct Args {
    Connection c;
    client::LoadOptions o;
    long wait_s = 60;
    bool json = false, print_addresses = false, no_register = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("load",
                                     "Load test: N synthetic nodes (keys derive_node_key(seed, i)) "
                                     "upload one update each at once");
  add_connection_options(cmd, a->c);
  cmd->add_option("--nodes", a->o.nodes, "synthetic nodes")->capture_default_str();
  cmd->add_option("--parameters", a->o.parameters, "expected model size (0: the round's)")
      ->capture_default_str();
  cmd->add_option("--seed", a->o.seed, "key and data seed")->capture_default_str();
  cmd->add_option("--first-index", a->o.first_index, "index of the first node under --seed")
      ->capture_default_str();
  cmd->add_option("--threads", a->o.threads, "concurrent uploads (0: one per node, at most 256)")
      ->capture_default_str();
  cmd->add_option("--io-threads", a->o.io_threads,
                  "ZeroMQ I/O threads (CurveZMQ encryption runs there)")
      ->capture_default_str();
  cmd->add_option("--num-samples", a->o.num_samples, "samples claimed per update")
      ->capture_default_str();
  cmd->add_option("--wait-s", a->wait_s, "wait this long for the round to be uploading")
      ->capture_default_str();
  cmd->add_flag("--no-register", a->no_register, "skip Register (keys already bound)");
  cmd->add_flag("--fetch-model", a->o.fetch_model,
                "each node downloads the global model before the uploads start");
  cmd->add_flag("--json", a->json, "print the report as one JSON object");
  cmd->add_flag("--print-addresses", a->print_addresses,
                "print the nodes' addresses (one per line, for the participants file) and exit");
  cmd->callback([a] {
    client::LoadOptions o = a->o;
    if (a->print_addresses) {
      for (std::uint64_t i = 0; i < o.nodes; ++i)
        std::cout << client::derive_node_key(o.seed, o.first_index + i).address().to_checksum()
                  << "\n";
      return;
    }
    o.client = client_options(a->c);
    o.chain_id = a->c.chain_id;
    // Without --contract the nodes sign under the server's domain (RoundInfo).
    if (!a->c.contract.empty()) o.domain = domain(a->c);
    o.dtype = dtype(a->c);
    o.register_nodes = !a->no_register;
    o.wait_for_uploading = std::chrono::seconds(a->wait_s);
    const client::LoadReport r = client::run_load(o, &std::cerr);
    print_load_report(std::cout, r, a->json);
    if (r.committed != r.nodes - r.not_proposers)
      throw std::runtime_error("some uploads failed (see above)");
  });
}

}  // namespace murmur::cli
