#pragma once
// Where a shard set meets: a c10d::TCPStore served by the round's coordinator. Shards join it,
// the process group (Gloo) and the NCCL communicator find one another through it, and the
// coordinator learns which shards arrived. libtorch's types stay inside rendezvous.cpp and
// gloo_collective.cpp.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace murmur::shard {

/// A collective or the rendezvous failed: a peer is gone, a key never came, the shards disagree
/// on the round's shape. The message names the shard and the step; nothing hangs past the
/// timeout the object was made with.
class CollectiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A key-value store shared by the coordinator and the shards (TCPStore).
class Rendezvous {
 public:
  /// The coordinator's side: serves the store on host:port (port 0: a free port, see port()).
  static std::unique_ptr<Rendezvous> serve(const std::string& host, std::uint16_t port,
                                           std::chrono::milliseconds timeout);
  /// A shard's side: connects to the coordinator's store, retrying until `timeout`.
  static std::unique_ptr<Rendezvous> connect(const std::string& host, std::uint16_t port,
                                             std::chrono::milliseconds timeout);

  ~Rendezvous();
  Rendezvous(const Rendezvous&) = delete;
  Rendezvous& operator=(const Rendezvous&) = delete;

  /// The port the store listens on (the coordinator's, or the one connected to).
  std::uint16_t port() const;
  std::chrono::milliseconds timeout() const;

  void set(const std::string& key, std::span<const std::uint8_t> value);
  /// The value of `key`, waiting up to the timeout for it to be set; CollectiveError after.
  std::vector<std::uint8_t> get(const std::string& key);
  /// Waits up to `timeout` for every key; CollectiveError naming the missing ones after.
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout);
  /// Whether `key` is set now (no wait).
  bool has(const std::string& key);
  /// Removes `key` (nothing when it is not set).
  void erase(const std::string& key);

  /// Value bytes this object set into the store and read from it (set, get), since it was made:
  /// what a caller moved through the store, Gloo's own keys aside. Thread-safe.
  std::uint64_t bytes_set() const { return bytes_set_; }
  std::uint64_t bytes_got() const { return bytes_got_; }

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Rendezvous(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::atomic<std::uint64_t> bytes_set_{0}, bytes_got_{0};
};

}  // namespace murmur::shard
