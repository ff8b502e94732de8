#include "murmur/client/load.hpp"

#include <algorithm>
#include <atomic>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "murmur/client/node_keys.hpp"
#include "murmur/protocol/tensor.hpp"

namespace murmur::client {

namespace {

using Clock = std::chrono::steady_clock;

/// One synthetic node: its keys, its client, what happened to it.
struct Node {
  std::uint64_t index = 0;
  std::optional<chain::PrivateKey> key;
  std::unique_ptr<NodeClient> client;
  wire::RoundInfo info;
  bool ready = false;  ///< registered, round uploading, role proposer
  bool committed = false;
  double seconds = 0;
  std::uint32_t restarts = 0;
  std::string error;  ///< error code name when it failed
};

std::string failure_name(const std::exception& e) {
  if (const auto* s = dynamic_cast<const ServerError*>(&e)) return protocol::code_name(s->code());
  if (dynamic_cast<const TimeoutError*>(&e)) return "timeout";
  return "error";
}

/// Register (optionally) and wait for this node to be a proposer in an uploading round.
void prepare(Node& n, const LoadOptions& o, const std::shared_ptr<zmq::context_t>& context) {
  ClientOptions co = o.client;
  co.context = context;
  co.curve = CurveKeyPair::generate();
  n.key.emplace(derive_node_key(o.seed, n.index));
  n.client = std::make_unique<NodeClient>(std::move(co));
  if (o.register_nodes) n.client->register_node(*n.key, o.chain_id);
  const auto give_up = Clock::now() + o.wait_for_uploading;
  for (;;) {
    n.info = n.client->round_info();
    if (n.info.stage() == wire::STAGE_UPLOADING) break;
    if (n.info.stage() == wire::STAGE_CLOSED || Clock::now() > give_up)
      throw TimeoutError("round " + std::to_string(n.info.round()) + " is in " +
                         wire::Stage_Name(n.info.stage()) + ", not uploading, after waiting " +
                         std::to_string(o.wait_for_uploading.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (o.parameters != 0 && o.parameters != n.info.parameters())
    throw std::runtime_error("--parameters " + std::to_string(o.parameters) +
                             " but the round's model has " + std::to_string(n.info.parameters()));
  n.ready = n.info.role() == wire::ROLE_PROPOSER;
  if (o.fetch_model && n.info.global_model_hash().size() == 32) {
    chain::Hash32 hash;
    std::copy_n(n.info.global_model_hash().begin(), 32, hash.begin());
    n.client->fetch_model(hash);  // ranged, checked against the hash; then dropped
  }
}

/// The domain to sign under: the one given, else the server's from its RoundInfo.
chain::Eip712Domain signing_domain(const Node& n, const LoadOptions& o) {
  if (o.domain) return *o.domain;
  if (n.info.verifying_contract().size() != 20)
    throw std::runtime_error(
        "the server's RoundInfo carries no EIP-712 domain (an older murmurd): pass --chain-id "
        "and --contract");
  chain::Eip712Domain d;
  d.chain_id = n.info.chain_id();
  std::copy_n(n.info.verifying_contract().begin(), 20, d.verifying_contract.bytes.begin());
  return d;
}

void upload(Node& n, const LoadOptions& o) {
  const SyntheticUpdate update(o.seed, n.index, n.info.parameters(), o.dtype);
  const Signer signer{&*n.key, signing_domain(n, o)};
  const auto start = Clock::now();
  const UploadResult r =
      n.client->upload_update(n.info.task_id(), n.info.round(), update, o.num_samples, signer);
  n.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  n.restarts = r.restarts;
  n.committed = true;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

}  // namespace

LoadReport run_load(const LoadOptions& o, std::ostream* log) {
  if (o.nodes == 0) throw std::invalid_argument("murmur load: --nodes must be at least 1");
  const unsigned threads = static_cast<unsigned>(std::min<std::uint64_t>(
      o.threads != 0 ? o.threads : std::min<std::uint64_t>(o.nodes, 256), o.nodes));
  auto context = std::make_shared<zmq::context_t>(
      std::max(o.io_threads, 1), static_cast<int>(std::max<std::uint64_t>(1024, 2 * o.nodes + 64)));
  std::vector<Node> nodes(o.nodes);
  for (std::uint64_t i = 0; i < o.nodes; ++i) nodes[i].index = o.first_index + i;

  std::mutex log_mutex;
  auto say = [&](const std::string& line) {
    if (!log) return;
    std::lock_guard lock(log_mutex);
    *log << "murmur load: " << line << std::endl;
  };

  // Worker t owns nodes t, t + threads, ...: prepares them all, waits for every worker, then
  // uploads them one after another, so that `threads` uploads run at once.
  std::latch prepared(threads);
  std::atomic<std::int64_t> start_ns{0};
  std::atomic<std::int64_t> end_ns{0};
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (std::size_t i = t; i < nodes.size(); i += threads) try {
          prepare(nodes[i], o, context);
        } catch (const std::exception& e) {
          nodes[i].error = failure_name(e);
          say("node " + std::to_string(nodes[i].index) + " not ready: " + e.what());
        }
      prepared.arrive_and_wait();
      std::int64_t zero = 0;
      start_ns.compare_exchange_strong(zero, Clock::now().time_since_epoch().count());
      for (std::size_t i = t; i < nodes.size(); i += threads) {
        Node& n = nodes[i];
        if (!n.ready) continue;
        try {
          upload(n, o);
          const std::int64_t now = Clock::now().time_since_epoch().count();
          for (std::int64_t seen = end_ns.load();
               now > seen && !end_ns.compare_exchange_weak(seen, now);) {
          }
        } catch (const std::exception& e) {
          n.error = failure_name(e);
          say("node " + std::to_string(n.index) + " upload failed: " + e.what());
        }
        n.client.reset();  // close its sockets as soon as it is done
      }
    });
  for (auto& w : workers) w.join();
  if (o.domain)
    for (const Node& n : nodes)
      if (n.info.verifying_contract().size() == 20) {
        chain::Eip712Domain server;
        server.chain_id = n.info.chain_id();
        std::copy_n(n.info.verifying_contract().begin(), 20,
                    server.verifying_contract.bytes.begin());
        if (server.chain_id != o.domain->chain_id ||
            server.verifying_contract != o.domain->verifying_contract)
          say("signed under chain id " + std::to_string(o.domain->chain_id) + ", contract " +
              o.domain->verifying_contract.to_checksum() + "; the server checks chain id " +
              std::to_string(server.chain_id) + ", contract " +
              server.verifying_contract.to_checksum() +
              " (leave --contract out to take the server's)");
        break;
      }

  LoadReport r;
  r.nodes = o.nodes;
  std::vector<double> latencies;
  for (const Node& n : nodes) {
    if (n.committed) {
      ++r.committed;
      r.bytes += n.info.parameters() * protocol::element_bytes(o.dtype);
      r.restarts += n.restarts;
      latencies.push_back(n.seconds);
      r.task_id = n.info.task_id();
      r.round = n.info.round();
    } else if (!n.error.empty()) {
      ++r.failed;
      ++r.errors[n.error];
    } else {
      ++r.not_proposers;
    }
  }
  if (r.committed > 0) {
    r.seconds = static_cast<double>(end_ns.load() - start_ns.load()) * 1e-9;
    r.mib_per_s = static_cast<double>(r.bytes) / (1 << 20) / r.seconds;
    r.updates_per_s = static_cast<double>(r.committed) / r.seconds;
    r.p50_s = quantile(latencies, 0.5);
    r.p99_s = quantile(latencies, 0.99);
    r.max_s = quantile(latencies, 1.0);
  }
  return r;
}

void print_load_report(std::ostream& out, const LoadReport& r, bool json) {
  if (json) {
    nlohmann::json j = {{"nodes", r.nodes},     {"committed", r.committed},
                        {"failed", r.failed},   {"notProposers", r.not_proposers},
                        {"taskId", r.task_id},  {"round", r.round},
                        {"bytes", r.bytes},     {"seconds", r.seconds},
                        {"MiBps", r.mib_per_s}, {"updatesPerSecond", r.updates_per_s},
                        {"p50", r.p50_s},       {"p99", r.p99_s},
                        {"max", r.max_s},       {"restarts", r.restarts},
                        {"errors", r.errors}};
    out << j.dump() << "\n";
    return;
  }
  out << r.committed << " of " << r.nodes << " updates committed (task " << r.task_id << ", round "
      << r.round << "): " << r.bytes << " bytes in " << r.seconds << " s = " << r.mib_per_s
      << " MiB/s, " << r.updates_per_s << " updates/s; latency p50 " << r.p50_s << " s, p99 "
      << r.p99_s << " s, max " << r.max_s << " s; " << r.restarts << " restarts";
  if (r.not_proposers) out << "; " << r.not_proposers << " nodes were not proposers";
  for (const auto& [code, count] : r.errors) out << "; " << count << " failed with " << code;
  out << "\n";
}

}  // namespace murmur::client
