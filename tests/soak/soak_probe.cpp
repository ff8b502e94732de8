// soak_probe: what tests/soak/soak.py checks after each round, read the way an operator would:
// murmurd's state.db read-only (its round records through server::StateView, its committed
// uploads), the spool files' bytes, and the task's rounds on chain (AllianceTask.getRound).
// Prints one JSON object:
//   {"stage":..,"round":..,"rounds":[{"round":r,"outcome":..,"reason":..,"posting":..,
//     "posting_error":..,"seed_source":..,"faults":{..},"chain_state":0-3,"chain_accepted":b,
//     "committed":[{"address":..,"hash":..,"spool_present":b,"spool_ok":b}]}],"data_bytes":N,
//     "spool_bytes":N,"spool_rounds":[r,...]}
// chain_state: IAllianceTask.RoundState (0 none, 1 open, 2 finalized, 3 abandoned); -1 when
// the chain cannot be read (it is down).
//   soak_probe --data-dir D [--rpc URL --contract A --task T] [--from-round R]
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "murmur/chain/alliance.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/rpc.hpp"
#include "murmur/chain/sqlite.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/server/state_view.hpp"
#include "round_record.hpp"

namespace {

using namespace murmur;
using nlohmann::json;

/// The update hash (protocol::update_hash, BLAKE3) of a spool file's bytes.
chain::Hash32 file_hash(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  return protocol::update_hash(bytes);
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path data_dir;
  std::string rpc_url, contract, task;
  std::uint64_t from_round = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--data-dir")
      data_dir = v;
    else if (k == "--rpc")
      rpc_url = v;
    else if (k == "--contract")
      contract = v;
    else if (k == "--task")
      task = v;
    else if (k == "--from-round")
      from_round = std::stoull(v);
  }
  if (data_dir.empty()) {
    std::cerr << "usage: soak_probe --data-dir D [--rpc URL --contract A --task T]\n";
    return 2;
  }
  json out;
  std::unique_ptr<chain::RpcClient> rpc;
  std::unique_ptr<chain::EthClient> eth;
  std::unique_ptr<chain::AllianceTaskContract> alliance;
  if (!rpc_url.empty()) {
    chain::RpcOptions ro;
    rpc = std::make_unique<chain::RpcClient>(rpc_url, ro);
    eth = std::make_unique<chain::EthClient>(*rpc);
    alliance =
        std::make_unique<chain::AllianceTaskContract>(*eth, chain::Address::from_hex(contract));
  }
  const auto task_id = task.empty() ? chain::U256(0) : chain::U256::from_string(task);
  try {
    chain::sqlite::Database db(data_dir / "state.db", chain::sqlite::Mode::kReadOnly, "probe");
    db.busy_timeout(5000);
    {
      chain::sqlite::Statement s(db, "SELECT round, stage FROM round_state");
      if (s.step()) {
        out["round"] = s.integer(0);
        out["stage"] = s.integer(1);
      }
    }
    const server::StateView view(data_dir);
    json rounds = json::array();
    for (const std::uint64_t r : view.recorded_rounds()) {
      if (r < from_round) continue;
      const auto rec = view.round_record(r);
      if (!rec) continue;
      json j = {{"round", r}};
      j["outcome"] = rec->decision ? server::to_string(rec->decision->outcome) : "";
      j["reason"] = rec->decision ? rec->decision->reason : "";
      j["posting"] = rec->posting ? rec->posting->state : "";
      j["posting_error"] = rec->posting ? rec->posting->error : "";
      j["seed_source"] = rec->seed ? rec->seed->source : "";
      j["seed_error"] = rec->seed ? rec->seed->error : "";
      j["faults"] = rec->faults.empty() ? json::object() : json::parse(rec->faults, nullptr, false);
      j["validation_error"] = rec->validation_error;
      j["chain_state"] = -1;
      if (alliance) {
        try {
          const auto on_chain = alliance->get_round(task_id, chain::U256(r));
          j["chain_state"] = on_chain.state;
          j["chain_accepted"] = on_chain.accepted;
        } catch (const std::exception& e) {
          j["chain_error"] = e.what();
        }
      }
      json committed = json::array();
      chain::sqlite::Statement u(
          db,
          "SELECT address, upload_id, update_hash, parameters FROM uploads WHERE round = ? AND "
          "state = 1 ORDER BY address");
      u.bind(1, static_cast<std::int64_t>(r));
      while (u.step()) {
        const std::string address = u.text(0);
        // Spool::file's name (built by appending: g++ 12 warns on a + b + c of temporaries).
        std::string dir = "r", name = address;
        dir += std::to_string(r);
        name += '-';
        name += std::to_string(u.integer(1));
        name += ".bin";
        const auto file = data_dir / "spool" / dir / name;
        json c = {{"address", address}, {"hash", u.text(2)}};
        c["spool_present"] = std::filesystem::exists(file);
        c["spool_ok"] =
            c["spool_present"].get<bool>() && chain::to_hex(file_hash(file), false) == u.text(2);
        committed.push_back(c);
      }
      j["committed"] = committed;
      rounds.push_back(j);
    }
    out["rounds"] = rounds;
    // The whole data_dir, and of it the spool (update files, pruned by server.spool_keep_rounds)
    // with the rounds it holds. A file removed while it is listed (murmurd prunes) is skipped.
    std::uint64_t data_bytes = 0, spool_bytes = 0;
    const auto spool_dir = data_dir / "spool";
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(data_dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code size_ec;
      const auto size = it->is_regular_file(size_ec) ? it->file_size(size_ec) : 0;
      if (size_ec) continue;
      data_bytes += size;
      if (it->path().string().starts_with(spool_dir.string() + "/")) spool_bytes += size;
    }
    json spooled = json::array();
    std::error_code dir_ec;
    for (const auto& e : std::filesystem::directory_iterator(spool_dir, dir_ec)) {
      const std::string name = e.path().filename().string();
      if (name.size() > 1 && name[0] == 'r') spooled.push_back(std::stoull(name.substr(1)));
    }
    std::sort(spooled.begin(), spooled.end());
    out["data_bytes"] = data_bytes;
    out["spool_bytes"] = spool_bytes;
    out["spool_rounds"] = spooled;
  } catch (const std::exception& e) {
    out["error"] = e.what();
  }
  std::cout << out.dump() << "\n";
  return 0;
}
