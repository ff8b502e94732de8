#pragma once
// [shard] of murmurd's configuration (docs/sharding.md): a shard's place in its set and the
// coordinate range it holds, or the coordinator's store.
#include <toml++/toml.h>

#include <filesystem>

#include "murmur/server/config.hpp"

namespace murmur::server {

/// Reads [shard] into c.shard. For a shard: its range is shard::partition(c.parameters, count)
/// [index], kept with the whole D in c.shard, and c.parameters becomes the range's size (what
/// the shard's uploads and model hold). Refuses, naming the key, what a shard does not run
/// here: [validation] and [chain] (the coordinator's), [secagg] enabled. Throws ConfigError.
void load_shard(const std::filesystem::path& file, const toml::table& t, Config& c);

}  // namespace murmur::server
