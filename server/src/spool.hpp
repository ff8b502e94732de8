#pragma once
// The bytes murmurd keeps on disk: one spool file per upload (O_DIRECT where it can, fdatasync
// before a chunk is acknowledged) and every model under its keccak-256 hash. The rows that say
// what each file holds (the durable offset, the commit) are the state store's (state_store.hpp);
// after kill -9 and a restart nothing acknowledged is lost.
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "murmur/chain/bytes.hpp"
#include "state_store.hpp"

namespace murmur::server {

class Spool {
 public:
  explicit Spool(const std::filesystem::path& dir);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  /// A chunk in three steps, for murmurd's ingest and its sync threads: ingest opens the
  /// upload's file (`open_upload`, descriptors kept until `discard`); a sync thread
  /// `write_synced`s the chunk: writes it at `offset` and fdatasyncs the file (and, for a new
  /// file, the directory that names it), throwing when the disk refuses — thread-safe, and
  /// chunks of one upload may be written side by side; once every byte below `end` is synced,
  /// ingest records `end` with StateStore::mark_durable (never lowering it). Block-aligned runs go
  /// through O_DIRECT, sparing the CPU the page cache (a copy, page allocation and writeback for
  /// every byte); the rest, and file systems without O_DIRECT, through ordinary writes.
  struct Descriptors {
    int buffered = -1;
    int direct = -1;  ///< O_DIRECT, or -1 where the file system has none
  };
  Descriptors open_upload(const Upload& upload);
  void write_synced(const Upload& upload, Descriptors fds, std::uint64_t offset,
                    std::span<const std::uint8_t> bytes);
  /// The update hash of the spooled bytes (read back from disk).
  chain::Hash32 hash_of(const Upload& upload) const;
  /// Closes the upload's file and removes it (a failed upload begins again from nothing).
  void discard(const Upload& upload);
  /// Closes the descriptors of the upload files of rounds before `round` (their files stay):
  /// open_upload keeps each file's two descriptors for its chunks, and without this every
  /// upload ever received held them until murmurd exited (found by tests/soak: 2 per update,
  /// EMFILE after ~10,000 updates). Loop thread only; no sync job of those rounds may be queued.
  void close_rounds_before(std::uint64_t round);
  /// Retention (server.spool_keep_rounds): deletes the spool folders (spool/r<N>) of rounds
  /// before `round` for which `keep(N)` is false, closing any descriptor still open on their
  /// files, and syncs the spool directory; returns the rounds deleted, ascending. Models are
  /// not touched. Loop thread only; no sync job of those rounds may be queued (the caller
  /// passes rounds at least two back, as for close_rounds_before).
  std::vector<std::uint64_t> prune_rounds_before(std::uint64_t round,
                                                 const std::function<bool(std::uint64_t)>& keep);
  /// The rounds that have a spool folder, ascending.
  std::vector<std::uint64_t> spooled_rounds() const;
  std::filesystem::path file(const Upload& upload) const;

  /// Stores `values` as little-endian f32 under their keccak-256; returns the hash.
  chain::Hash32 store_model(std::span<const float> values);
  bool has_model(const chain::Hash32& hash) const;
  /// Where the model stored under `hash` is (it may not exist).
  std::filesystem::path model_file(const chain::Hash32& hash) const;
  std::uint64_t model_bytes(const chain::Hash32& hash) const;
  std::vector<std::uint8_t> read_model(const chain::Hash32& hash, std::uint64_t offset,
                                       std::uint64_t length) const;
  std::vector<float> load_model(const chain::Hash32& hash) const;
  /// The whole model file, shared: ModelChunk replies reference a range of it instead of a
  /// copy each, so that N nodes downloading at once (and replies queued to slow peers) hold one
  /// copy of the model, not N. The two models read last (the global model and the candidate)
  /// stay cached. Thread-safe.
  std::shared_ptr<const std::vector<std::uint8_t>> shared_model(const chain::Hash32& hash) const;

 private:
  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  std::map<std::string, Descriptors> fds_;  // open spool files by path
  /// shared_model's cache, most recent last (at most two); guarded by mutex_.
  mutable std::deque<std::pair<chain::Hash32, std::shared_ptr<const std::vector<std::uint8_t>>>>
      models_;
  std::set<int>
      unnamed_;  // of those (by buffered descriptor), files whose directory entry is not yet synced
};

}  // namespace murmur::server
