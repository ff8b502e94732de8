#pragma once
// murmurd's configuration as a declared table: every table and key with its type, default,
// bound and doc. load_config checks a file against it (unknown tables and keys, wrong types,
// values out of bound: a ConfigError naming the key), and server/murmurd.example.toml and
// docs/configuration.md are generated from it (`murmurd config example|reference`; a test fails
// when the checked-in files drift from the table).
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "murmur/server/config.hpp"

namespace murmur::server {

/// A configuration file that does not read: what() is "FILE: KEY: why"; key() is "table.key"
/// (or "table" when the whole table is at fault).
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::filesystem::path file, std::string key, const std::string& why)
      : std::runtime_error(file.string() + ": " + key + ": " + why),
        file_(std::move(file)),
        key_(std::move(key)) {}
  const std::filesystem::path& file() const { return file_; }
  const std::string& key() const { return key_; }

 private:
  std::filesystem::path file_;
  std::string key_;
};

enum class ValueType { kString, kPath, kInteger, kReal, kBool, kIntegerList };
const char* to_string(ValueType type);

/// A numeric key's admissible range (inclusive unless open); the default admits every value.
struct Bound {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  bool holds(double v) const;
  std::string text() const;  ///< e.g. ">= 1", "(0, 10000]", "" for any
};

/// One key of the configuration.
struct ConfigKey {
  std::string_view table;
  std::string_view key;
  ValueType type;
  /// The default as TOML text ("" when the key has none: required, or absent means unset).
  std::string_view fallback;
  Bound bound;
  std::string_view choices;  ///< strings only: "a|b|c", "" for any
  std::string_view doc;      ///< one line
  /// What the example file shows: "" the default; a value to show instead; and whether the line
  /// is commented out (an optional key the example leaves unset).
  std::string_view example = {};
  bool commented = false;
  /// The value Config{} holds, as TOML text (nullptr when the key has no default there): the
  /// drift test checks it against `fallback`.
  std::string (*current)(const Config&) = nullptr;
};

/// One table of the configuration file.
struct ConfigTable {
  std::string_view name;
  std::string_view doc;   ///< a paragraph, for the example's comment and the reference
  bool optional = false;  ///< present or not as a whole (the example shows it commented out)
};

const std::vector<ConfigTable>& config_tables();
const std::vector<ConfigKey>& config_keys();

/// server/murmurd.example.toml, as generated from the table.
std::string example_config();
/// docs/configuration.md, as generated from the table.
std::string config_reference();

}  // namespace murmur::server
