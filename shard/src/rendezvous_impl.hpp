#pragma once
// Rendezvous's insides: libtorch's TCPStore. Included by rendezvous.cpp and
// gloo_collective.cpp only (the Gloo process group rendezvouses through the same store).
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "murmur/shard/rendezvous.hpp"

namespace murmur::shard {

/// An exception's text without the C++ backtrace c10::Error appends.
inline std::string reason(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

struct Rendezvous::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  std::chrono::milliseconds timeout{0};
};

}  // namespace murmur::shard
