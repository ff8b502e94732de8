#include "murmur/shard/rendezvous.hpp"

#include "rendezvous_impl.hpp"

namespace murmur::shard {
namespace {

std::unique_ptr<Rendezvous::Impl> open_store(const std::string& host, std::uint16_t port,
                                             bool server, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = port;
  options.isServer = server;
  options.waitWorkers = false;
  options.timeout = timeout;
  auto impl = std::make_unique<Rendezvous::Impl>();
  impl->timeout = timeout;
  try {
    impl->store = c10::make_intrusive<c10d::TCPStore>(host, options);
  } catch (const std::exception& e) {
    throw CollectiveError(std::string("rendezvous: ") +
                          (server ? "cannot serve the store on " : "cannot reach the store at ") +
                          host + ":" + std::to_string(port) + ": " + reason(e));
  }
  return impl;
}

}  // namespace

Rendezvous::Rendezvous(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Rendezvous::~Rendezvous() = default;

std::unique_ptr<Rendezvous> Rendezvous::serve(const std::string& host, std::uint16_t port,
                                              std::chrono::milliseconds timeout) {
  return std::unique_ptr<Rendezvous>(new Rendezvous(open_store(host, port, true, timeout)));
}

std::unique_ptr<Rendezvous> Rendezvous::connect(const std::string& host, std::uint16_t port,
                                                std::chrono::milliseconds timeout) {
  return std::unique_ptr<Rendezvous>(new Rendezvous(open_store(host, port, false, timeout)));
}

std::uint16_t Rendezvous::port() const {
  return impl_->store->getPort();
}

std::chrono::milliseconds Rendezvous::timeout() const {
  return impl_->timeout;
}

void Rendezvous::set(const std::string& key, std::span<const std::uint8_t> value) {
  try {
    impl_->store->set(key, std::vector<std::uint8_t>(value.begin(), value.end()));
    bytes_set_ += value.size();
  } catch (const std::exception& e) {
    throw CollectiveError("rendezvous: cannot set '" + key + "': " + reason(e));
  }
}

std::vector<std::uint8_t> Rendezvous::get(const std::string& key) {
  try {
    std::vector<std::uint8_t> v = impl_->store->get(key);
    bytes_got_ += v.size();
    return v;
  } catch (const std::exception& e) {
    throw CollectiveError("rendezvous: '" + key + "' not set within " +
                          std::to_string(impl_->timeout.count()) + " ms: " + reason(e));
  }
}

void Rendezvous::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  try {
    impl_->store->wait(keys, timeout);
  } catch (const std::exception& e) {
    std::string missing;
    for (const std::string& k : keys)
      if (!has(k)) missing += (missing.empty() ? "" : ", ") + k;
    throw CollectiveError("rendezvous: not set within " + std::to_string(timeout.count()) +
                          " ms: " + missing);
  }
}

bool Rendezvous::has(const std::string& key) {
  try {
    return impl_->store->check({key});
  } catch (const std::exception& e) {
    throw CollectiveError("rendezvous: cannot read the store: " + std::string(reason(e)));
  }
}

void Rendezvous::erase(const std::string& key) {
  try {
    impl_->store->deleteKey(key);
  } catch (const std::exception& e) {
    throw CollectiveError("rendezvous: cannot delete '" + key + "': " + std::string(reason(e)));
  }
}

}  // namespace murmur::shard
