// Where a signing key comes from: a key file or the environment, never the command line (which
// other users can read in /proc and shell history keeps).
#pragma once

#include <filesystem>
#include <optional>

#include "murmur/chain/secp256k1.hpp"

namespace murmur::chain {

/// The environment variable holding a hex private key when no key file is given.
inline constexpr const char* kKeyEnvVar = "MURMUR_CHAIN_KEY";

/// Loads the key from `key_file` when given (64 hex digits, optional 0x, surrounding whitespace;
/// the file must not be readable by group or others: chmod 600), else from $MURMUR_CHAIN_KEY.
/// Throws std::runtime_error saying which source was tried and how to fix it.
PrivateKey load_key(const std::optional<std::filesystem::path>& key_file);

/// Writes `key` as hex to `file` with mode 0600 (for `murmur chain` tests and tooling).
void write_key_file(const std::filesystem::path& file, const PrivateKey& key);

}  // namespace murmur::chain
