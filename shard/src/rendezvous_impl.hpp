#pragma once
// Rendezvous's insides: libtorch's TCPStore. Included by rendezvous.cpp and
// gloo_collective.cpp only (the Gloo process group rendezvouses through the same store).
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "murmur/shard/rendezvous.hpp"

namespace murmur::shard {

struct Rendezvous::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  std::chrono::milliseconds timeout{0};
};

}  // namespace murmur::shard
