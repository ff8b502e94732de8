// The adapter store of an AI Arena task (issue 17): a training node hashes its adapter directory
// and publishes it to a directory store; a validator fetches it by the URI on chain and checks
// the hash before scoring it.
#pragma once

#include <filesystem>
#include <string>

#include "murmur/chain/bytes.hpp"

namespace murmur::chain {

/// keccak256("murmur.adapter.v1" ‖ for each regular file, in byte order of its relative path
/// ('/'-separated): keccak256(path) ‖ keccak256(contents)). Names the directory's contents, not
/// its location or timestamps. Throws std::runtime_error on a missing or empty directory, a file
/// that cannot be read, or anything other than directories and regular files (a symlink, a
/// device): an adapter is plain files. O(total bytes).
Hash32 adapter_directory_hash(const std::filesystem::path& dir);

/// A published adapter: its hash and where it lies.
struct PublishedAdapter {
  Hash32 hash{};
  std::filesystem::path path;  ///< <store>/<hash hex without 0x>
  std::string uri;             ///< file://<absolute path>
  bool already_there = false;  ///< the store had it (same hash) before
};

/// Copies `dir` into `store` under its hash: into a temporary directory inside the store first,
/// then renamed into place, so a reader never sees a partial adapter. An entry already there is
/// kept if it hashes the same, and refused (std::runtime_error) if it does not.
PublishedAdapter publish_adapter(const std::filesystem::path& dir,
                                 const std::filesystem::path& store);

/// The local directory a file:// URI names; throws std::runtime_error for other schemes.
std::filesystem::path adapter_path_from_uri(const std::string& uri);

}  // namespace murmur::chain
