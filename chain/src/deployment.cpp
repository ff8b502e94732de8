#include "murmur/chain/deployment.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace murmur::chain {

Deployment load_deployment(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in)
    throw std::runtime_error("cannot read deployment file " + file.string() +
                             ": deploy with `scripts/chain.sh deploy` "
                             "(contracts/scripts/deploy.js) or pass --deployment");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw std::runtime_error("deployment file " + file.string() + " is not a JSON object");
  auto field = [&](const char* name) -> const nlohmann::json& {
    if (!j.contains(name) || j[name].is_null())
      throw std::runtime_error("deployment file " + file.string() + " lacks \"" + name + "\"");
    return j[name];
  };
  try {
    Deployment d;
    d.chain_id = field("chainId").get<std::uint64_t>();
    d.network = j.value("network", "");
    d.token = Address::from_hex(field("token").get<std::string>());
    d.alliance_task = Address::from_hex(field("allianceTask").get<std::string>());
    if (j.contains("allianceTaskV2") && !j["allianceTaskV2"].is_null())
      d.alliance_task_v2 = Address::from_hex(j["allianceTaskV2"].get<std::string>());
    if (j.contains("deployer") && j["deployer"].is_string())
      d.deployer = Address::from_hex(j["deployer"].get<std::string>());
    d.block_number = j.value("blockNumber", std::uint64_t{0});
    return d;
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("deployment file " + file.string() + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("deployment file " + file.string() +
                             " has a field of the wrong type: " + e.what());
  }
}

void save_deployment(const std::filesystem::path& file, const Deployment& d) {
  nlohmann::json j = {{"chainId", d.chain_id},
                      {"network", d.network},
                      {"token", d.token.to_checksum()},
                      {"allianceTask", d.alliance_task.to_checksum()},
                      {"deployer", d.deployer.to_checksum()},
                      {"blockNumber", d.block_number}};
  if (d.alliance_task_v2) j["allianceTaskV2"] = d.alliance_task_v2->to_checksum();
  std::filesystem::path tmp = file;
  tmp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, file);
}

}  // namespace murmur::chain
