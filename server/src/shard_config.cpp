#include "shard_config.hpp"

#include <string>

#include "murmur/server/config_schema.hpp"
#include "murmur/shard/partition.hpp"

namespace murmur::server {

void load_shard(const std::filesystem::path& file, const toml::table& t, Config& c) {
  ShardConfig s;
  const std::string role = t["role"].value_or(std::string("shard"));
  s.coordinator = role == "coordinator";
  s.count = t["count"].value_or(s.count);
  if (s.count == 0) throw ConfigError(file, "shard.count", "must be at least 1");
  const std::string endpoint = t["coordinator"].value_or(std::string());
  const auto colon = endpoint.rfind(':');
  if (endpoint.empty() || colon == std::string::npos || colon == 0)
    throw ConfigError(file, "shard.coordinator",
                      "the coordinator's store as \"host:port\", e.g. \"127.0.0.1:29500\"");
  s.coordinator_host = endpoint.substr(0, colon);
  try {
    const unsigned long port = std::stoul(endpoint.substr(colon + 1));
    if (port == 0 || port > 65535) throw std::out_of_range("port");
    s.coordinator_port = static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    throw ConfigError(file, "shard.coordinator",
                      "\"" + endpoint + "\" has no port in 1..65535 after its last ':'");
  }
  s.host = t["host"].value_or(s.host);
  const double seconds = t["timeout_seconds"].value_or(30.0);
  if (!(seconds > 0)) throw ConfigError(file, "shard.timeout_seconds", "must be positive");
  s.timeout = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  s.total_parameters = c.parameters;
  if (s.coordinator && c.secagg.enabled)
    throw ConfigError(file, "secagg.enabled", "a shard set runs plaintext rounds only");
  if (!s.coordinator) {
    const auto index = t["index"].value<std::int64_t>();
    if (!index || *index < 0 || static_cast<std::size_t>(*index) >= s.count)
      throw ConfigError(
          file, "shard.index",
          "a shard's place in the set, 0 .. count-1 (count = " + std::to_string(s.count) + ")");
    s.index = static_cast<std::size_t>(*index);
    s.coordinator_key = t["coordinator_key"].value_or(std::string());
    if (!s.coordinator_key.empty() && s.coordinator_key.size() != 40)
      throw ConfigError(file, "shard.coordinator_key",
                        "the coordinator's Curve public key, 40 Z85 characters");
    std::vector<shard::CoordinateRange> ranges;
    try {
      ranges = shard::partition(c.parameters, s.count);
    } catch (const shard::PartitionError& e) {
      throw ConfigError(file, "shard.count", e.what());
    }
    s.range_begin = ranges[s.index].begin;
    s.range_end = ranges[s.index].end;
    c.parameters = ranges[s.index].size();
    if (c.validation)
      throw ConfigError(file, "validation",
                        "a shard set's candidates are scored by its coordinator: set [validation] "
                        "there");
    if (c.chain)
      throw ConfigError(file, "chain",
                        "a shard set's rounds go on chain through its coordinator: set [chain] "
                        "there");
    if (c.secagg.enabled)
      throw ConfigError(file, "secagg.enabled", "a shard set runs plaintext rounds only");
  }
  c.shard = s;
}

}  // namespace murmur::server
