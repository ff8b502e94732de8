#pragma once
// ZeroMQ Authentication Protocol (RFC 27) handler, on its own thread: the registration endpoint
// admits any Curve key; the round endpoint admits only keys bound to a participant at
// registration, and tags the connection with the participant's address (the messages'
// "User-Id").
#include <zmq.hpp>

#include <atomic>

#include "state_store.hpp"

namespace murmur::server {

/// Answers ZAP requests on `zap` (a REP bound to inproc://zeromq.zap.01) until `stopping`,
/// reading the key bindings from `store` (thread-safe).
void run_zap(zmq::socket_t& zap, const StateStore& store, const std::atomic<bool>& stopping);

}  // namespace murmur::server
