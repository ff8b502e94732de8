#pragma once
// load_config's first step: a parsed file checked against the declared table (config_schema.hpp).
#include <toml++/toml.h>

#include <filesystem>

namespace murmur::server {

/// Every table known, every key known (for [aggregation]: its own keys and the rule registry's
/// parameters), types, bounds and choices. Throws ConfigError naming the first key at fault.
void check_config_shape(const std::filesystem::path& file, const toml::table& root);

}  // namespace murmur::server
