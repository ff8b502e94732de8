// soak_nodes: a group of light nodes in one process for tests/soak (soak.py starts several and
// SIGKILLs them at random). Node i has the chain key derive_node_key(--seed, i); each round a
// proposer uploads a small synthetic update of its own (values depend on node and round) and a
// voter votes +1 on the candidate; in a SecAgg+ round a proposer sends it masked through the
// five stages (SecAggNode). Every acknowledgement the node received is appended, one JSON
// object a line, to --journal before the node goes on, so that the harness can check that
// nothing murmurd acknowledged is ever lost:
//   {"event":"committed","node":3,"address":"0x..","round":7,"hash":"<update hash of the bytes>"}
//   {"event":"voted","node":4,"address":"0x..","round":7,"model":"0x.."}
// A node that loses murmurd (restart, partition, reset connection) makes a new connection and
// goes on; it stops when the task closes or --until-file exists.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "murmur/chain/bytes.hpp"
#include "murmur/client/curve_keys.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/secagg_node.hpp"

namespace {

using namespace murmur;
using namespace std::chrono_literals;

struct Options {
  std::string endpoint, register_endpoint, server_key, journal, until_file;
  std::uint64_t seed = 1, first = 0, count = 1, chain_id = 31337;
  chain::Address contract;
  int poll_ms = 400;
};

class Journal {
 public:
  explicit Journal(const std::string& path) : out_(path, std::ios::app) {}
  void write(const std::string& line) {
    std::lock_guard lock(mutex_);
    out_ << line << '\n';
    out_.flush();
  }

 private:
  std::mutex mutex_;
  std::ofstream out_;
};

std::vector<float> update_of(std::uint64_t seed, std::uint64_t node, std::uint64_t round,
                             std::size_t parameters) {
  std::mt19937_64 rng(seed * 1'000'003 + node * 10'007 + round);
  std::uniform_real_distribution<float> step(-1e-3f, 1e-3f);
  std::vector<float> v(parameters);
  for (auto& x : v) x = step(rng);
  return v;
}

void run_node(const Options& o, std::uint64_t index, Journal& journal,
              const std::atomic<bool>& stop) {
  const chain::PrivateKey key = client::derive_node_key(o.seed, index);
  const std::string address = key.address().to_checksum();
  chain::Eip712Domain domain;
  domain.chain_id = o.chain_id;
  domain.verifying_contract = o.contract;
  client::ClientOptions co;
  co.endpoint = o.endpoint;
  co.register_endpoint = o.register_endpoint;
  co.server_public_key = o.server_key;
  co.timeout = 5s;
  co.retries = 2;
  co.busy_patience = 30s;
  co.curve = client::CurveKeyPair::generate();  // one Curve key for every connection it makes
  std::mt19937 jitter(static_cast<unsigned>(index));
  std::uint64_t uploaded = 0, voted = 0;
  bool registered = false;
  auto client = std::make_unique<client::NodeClient>(co);
  while (!stop) {
    try {
      if (!registered) {
        client->register_node(key, o.chain_id);
        registered = true;
      }
      const wire::RoundInfo info = client->round_info();
      if (info.stage() == wire::STAGE_CLOSED) return;
      const std::uint64_t round = info.round();
      if (info.stage() == wire::STAGE_UPLOADING && info.role() == wire::ROLE_PROPOSER &&
          round > uploaded) {
        const auto values = update_of(o.seed, index, round, info.parameters());
        const auto r = client->upload_update(info.task_id(), round, values, wire::DTYPE_F32, 1,
                                             {&key, domain});
        journal.write("{\"event\":\"committed\",\"node\":" + std::to_string(index) +
                      ",\"address\":\"" + address + "\",\"round\":" + std::to_string(round) +
                      ",\"hash\":\"" + chain::to_hex(r.update_hash, false) + "\"}");
        uploaded = round;
      } else if (info.stage() == wire::STAGE_SECAGG_ADVERTISE && info.has_secagg() &&
                 round > uploaded) {
        // A SecAgg+ round: the masked update goes through the five stages; murmurd learns only
        // its group's sum, so the journal records the round, not a hash.
        uploaded = round;
        client::SecAggNode n(*client, info.task_id(), round, {30s, 100ms});
        n.advertise();
        n.share_keys();
        n.check_shares();
        n.send_masked_input(update_of(o.seed, index, round, info.parameters()));
        n.unmask();
        journal.write("{\"event\":\"masked\",\"node\":" + std::to_string(index) +
                      ",\"address\":\"" + address + "\",\"round\":" + std::to_string(round) + "}");
      } else if (info.stage() == wire::STAGE_VOTING && info.role() == wire::ROLE_VOTER &&
                 round > voted && info.candidate_model_hash().size() == 32) {
        chain::Hash32 model{};
        std::copy(info.candidate_model_hash().begin(), info.candidate_model_hash().end(),
                  model.begin());
        client->vote(info.task_id(), round, model, 1, 0.0, {&key, domain});
        journal.write("{\"event\":\"voted\",\"node\":" + std::to_string(index) + ",\"address\":\"" +
                      address + "\",\"round\":" + std::to_string(round) + ",\"model\":\"" +
                      chain::to_hex(model) + "\"}");
        voted = round;
      }
    } catch (const client::ServerError& e) {
      const std::string what = e.what();
      // Already committed / voted (an acknowledgement lost on the way): the server has it.
      if (what.find("DUPLICATE") != std::string::npos ||
          what.find("already") != std::string::npos) {
        std::cerr << "node " << index << ": " << what << "\n";
      }
    } catch (const std::exception& e) {
      // murmurd restarting, a partition, a reset connection: a new connection, then go on.
      std::cerr << "node " << index << ": " << e.what() << "\n";
      client = std::make_unique<client::NodeClient>(co);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms + jitter() % o.poll_ms));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string server_key_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--endpoint")
      o.endpoint = v;
    else if (k == "--register-endpoint")
      o.register_endpoint = v;
    else if (k == "--server-key-file")
      server_key_file = v;
    else if (k == "--journal")
      o.journal = v;
    else if (k == "--until-file")
      o.until_file = v;
    else if (k == "--seed")
      o.seed = std::stoull(v);
    else if (k == "--first")
      o.first = std::stoull(v);
    else if (k == "--count")
      o.count = std::stoull(v);
    else if (k == "--chain-id")
      o.chain_id = std::stoull(v);
    else if (k == "--contract")
      o.contract = chain::Address::from_hex(v);
    else if (k == "--poll-ms")
      o.poll_ms = std::stoi(v);
    else {
      std::cerr << "soak_nodes: unknown option " << k << "\n";
      return 2;
    }
  }
  if (o.endpoint.empty() || server_key_file.empty() || o.journal.empty()) {
    std::cerr << "usage: soak_nodes --endpoint E --register-endpoint R --server-key-file F "
                 "--journal J [--seed S --first I --count N --chain-id C --contract A "
                 "--until-file F --poll-ms MS]\n";
    return 2;
  }
  std::ifstream key_in(server_key_file);
  std::getline(key_in, o.server_key);
  Journal journal(o.journal);
  std::atomic<bool> stop{false};
  std::vector<std::thread> nodes;
  for (std::uint64_t i = 0; i < o.count; ++i)
    nodes.emplace_back(run_node, std::cref(o), o.first + i, std::ref(journal), std::cref(stop));
  while (!stop) {
    std::this_thread::sleep_for(500ms);
    if (!o.until_file.empty() && std::filesystem::exists(o.until_file)) stop = true;
  }
  for (auto& t : nodes) t.join();
  return 0;
}
