// The Gloo transport of a shard set: libtorch's c10d::ProcessGroupGloo over TCP, rendezvousing
// through the coordinator's TCPStore. The one source of murmur::shard with ATen and Gloo headers.
#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "murmur/shard/collective.hpp"
#include "rendezvous_impl.hpp"

namespace murmur::shard {
namespace {

class GlooCollective final : public Collective {
 public:
  GlooCollective(Rendezvous& rendezvous, std::size_t rank, std::size_t size,
                 const std::string& host, std::chrono::milliseconds timeout,
                 const std::string& prefix)
      : rank_(rank), size_(size), timeout_(timeout) {
    try {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
      options->threads = 1;
      auto store = c10::make_intrusive<c10d::PrefixStore>(prefix, rendezvous.impl().store);
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(rank),
                                                           static_cast<int>(size), options);
    } catch (const std::exception& e) {
      throw CollectiveError("shard " + std::to_string(rank) + " of " + std::to_string(size) +
                            ": the Gloo process group did not form within " +
                            std::to_string(timeout.count()) + " ms: " + reason(e));
    }
  }

  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }
  std::string backend() const override { return "gloo"; }

  void allgather(std::span<const double> mine, std::span<double> all) override {
    const auto len = static_cast<std::int64_t>(mine.size());
    if (all.size() != mine.size() * size_)
      throw CollectiveError("allgather: output of " + std::to_string(all.size()) + " doubles for " +
                            std::to_string(size_) + " x " + std::to_string(mine.size()));
    const auto dbl = at::TensorOptions().dtype(at::kDouble);
    std::vector<at::Tensor> input{
        at::from_blob(const_cast<double*>(mine.data()), {len}, dbl)};  // read only
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (std::size_t r = 0; r < size_; ++r)
      outputs[0].push_back(at::from_blob(all.data() + r * mine.size(), {len}, dbl));
    try {
      auto work = group_->allgather(outputs, input);
      work->wait(timeout_);
    } catch (const std::exception& e) {
      throw CollectiveError("shard " + std::to_string(rank_) + " of " + std::to_string(size_) +
                            ": Gloo allgather of " + std::to_string(len) +
                            " doubles failed: " + reason(e));
    }
  }

 private:
  std::size_t rank_, size_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

}  // namespace

std::unique_ptr<Collective> make_gloo_collective(Rendezvous& rendezvous, std::size_t rank,
                                                 std::size_t size, const std::string& host,
                                                 std::chrono::milliseconds timeout,
                                                 const std::string& prefix) {
  if (size == 0 || rank >= size)
    throw CollectiveError("gloo: shard " + std::to_string(rank) + " of " + std::to_string(size));
  return std::make_unique<GlooCollective>(rendezvous, rank, size, host, timeout, prefix);
}

}  // namespace murmur::shard
