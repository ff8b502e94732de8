// murmur._murmur's chain reader: the read-only views of a deployed AllianceTask
// (chain::AllianceTaskContract) over a JSON-RPC endpoint, as `murmur.chain.AllianceTask` uses
// them. Results are dicts of Python values (U256 -> int, int256 -> signed int, addresses ->
// EIP-55 checksum text, bytes32 -> 32 bytes); chain.py turns them into dataclasses. The GIL is
// released for every RPC call; a mutex makes one object's calls take turns (RpcClient is
// single-threaded). Errors (ChainError, RpcError, RevertError, TransportError) are translated in
// module.cpp with their C++ message.
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "murmur/chain/alliance.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/rpc.hpp"

namespace murmur::python {

namespace c = chain;

namespace {

py::int_ to_int(const c::U256& v) {
  // Decimal text is the one exact road from 256 bits to a Python int (O(limbs²), at most 78
  // digits).
  PyObject* o = PyLong_FromString(v.to_dec().c_str(), nullptr, 10);
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::int_>(o);
}

/// An int256 held as its two's complement.
py::int_ to_signed_int(const c::U256& v) {
  PyObject* o = PyLong_FromString(c::to_signed_dec(v).c_str(), nullptr, 10);
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::int_>(o);
}

py::str checksum(const c::Address& a) {
  return py::str(a.to_checksum());
}

py::list checksums(const std::vector<c::Address>& list) {
  py::list out;
  for (const auto& a : list) out.append(checksum(a));
  return out;
}

c::RpcOptions rpc_options(double timeout_s, int attempts) {
  if (!(timeout_s > 0) || !std::isfinite(timeout_s))
    throw py::value_error("timeout must be a positive number of seconds, got " +
                          std::to_string(timeout_s));
  if (attempts < 1)
    throw py::value_error("attempts must be at least 1, got " + std::to_string(attempts));
  c::RpcOptions o;
  o.request_timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  o.connect_timeout = std::min(o.connect_timeout, o.request_timeout);
  o.max_attempts = attempts;
  return o;
}

/// One endpoint, one contract. Not copyable (the clients hold references to each other).
class AllianceReader {
 public:
  AllianceReader(std::string url, const c::Address& contract, const c::RpcOptions& options)
      : rpc_(std::move(url), options),
        eth_(rpc_, &c::alliance::errors()),
        contract_(eth_, contract) {}

  const std::string& url() const { return rpc_.url(); }
  const c::Address& address() const { return contract_.address(); }

  /// f(contract, eth) with the GIL released and this object's calls serialized. The GIL is
  /// released before the mutex is taken, so a thread waiting here never blocks Python.
  template <class F>
  auto call(F&& f) {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    return f(contract_, eth_);
  }

 private:
  std::mutex mutex_;
  c::RpcClient rpc_;
  c::EthClient eth_;
  c::AllianceTaskContract contract_;
};

py::dict task_dict(const c::U256& id, const c::TaskInfo& t) {
  py::dict d;
  d["task_id"] = to_int(id);
  d["creator"] = checksum(t.creator);
  d["total_rounds"] = t.total_rounds;
  d["finalized_rounds"] = t.finalized_rounds;
  d["current_round"] = t.current_round;
  d["token"] = checksum(t.token);
  d["proposer_bps"] = t.proposer_bps;
  d["slash_bps"] = t.slash_bps;
  d["round_open"] = t.round_open;
  d["participant_count"] = t.participant_count;
  d["aggregator"] = checksum(t.aggregator);
  d["min_stake"] = to_int(t.min_stake);
  d["pool"] = to_int(t.pool);
  d["creator_balance"] = to_int(t.creator_balance);
  d["model_spec_hash"] = to_bytes(t.model_spec_hash);
  d["model_hash"] = to_bytes(t.model_hash);
  return d;
}

py::dict round_dict(const c::U256& id, const c::U256& round, const c::RoundInfo& r) {
  py::dict d;
  d["task_id"] = to_int(id);
  d["round"] = to_int(round);
  d["seed"] = to_bytes(r.seed);
  d["model_hash"] = to_bytes(r.model_hash);
  d["started_at"] = r.started_at;
  d["participant_count"] = r.participant_count;
  d["state"] = r.state;
  d["accepted"] = r.accepted;
  d["vote_sum"] = to_signed_int(r.vote_sum);
  d["reward_paid"] = to_int(r.reward_paid);
  d["slashed"] = to_int(r.slashed);
  return d;
}

py::dict node_dict(const c::U256& id, const c::Address& node, const c::NodeInfo& n) {
  py::dict d;
  d["task_id"] = to_int(id);
  d["address"] = checksum(node);
  d["stake"] = to_int(n.stake);
  d["reward"] = to_int(n.reward);
  d["joined"] = n.joined;
  d["bound"] = n.bound;
  return d;
}

}  // namespace

void bind_alliance(py::module_& m) {
  using R = AllianceReader;
  py::class_<R>(m, "AllianceReader",
                "Read-only views of an AllianceTask contract over JSON-RPC (chain::"
                "AllianceTaskContract); use murmur.chain.AllianceTask.")
      .def(py::init([](std::string url, const std::string& contract, double timeout, int attempts) {
             return std::make_unique<R>(std::move(url), address(contract),
                                        rpc_options(timeout, attempts));
           }),
           py::arg("rpc_url"), py::arg("contract"), py::arg("timeout") = 15.0,
           py::arg("attempts") = 4)
      .def_property_readonly("rpc_url", &R::url)
      .def_property_readonly("address", [](const R& r) { return r.address().to_checksum(); })
      .def("chain_id",
           [](R& r) {
             return r.call([](c::AllianceTaskContract&, c::EthClient& e) { return e.chain_id(); });
           })
      .def("block_number",
           [](R& r) {
             return r.call(
                 [](c::AllianceTaskContract&, c::EthClient& e) { return e.block_number(); });
           })
      .def("task_count",
           [](R& r) {
             return to_int(r.call(
                 [](c::AllianceTaskContract& ct, c::EthClient&) { return ct.task_count(); }));
           })
      .def(
          "get_task",
          [](R& r, py::handle task) {
            const c::U256 id = u256(task, "task_id");
            const c::TaskInfo t =
                r.call([&](c::AllianceTaskContract& ct, c::EthClient&) { return ct.get_task(id); });
            return task_dict(id, t);
          },
          py::arg("task_id"))
      .def(
          "get_round",
          [](R& r, py::handle task, py::handle round) {
            const c::U256 id = u256(task, "task_id"), n = u256(round, "round");
            const c::RoundInfo info = r.call(
                [&](c::AllianceTaskContract& ct, c::EthClient&) { return ct.get_round(id, n); });
            return round_dict(id, n, info);
          },
          py::arg("task_id"), py::arg("round"))
      .def(
          "node_info",
          [](R& r, py::handle task, const std::string& node) {
            const c::U256 id = u256(task, "task_id");
            const c::Address a = address(node);
            const c::NodeInfo n = r.call(
                [&](c::AllianceTaskContract& ct, c::EthClient&) { return ct.node_info(id, a); });
            return node_dict(id, a, n);
          },
          py::arg("task_id"), py::arg("node"))
      .def(
          "role_of",
          [](R& r, py::handle task, py::handle round, const std::string& node) {
            const c::U256 id = u256(task, "task_id"), n = u256(round, "round");
            const c::Address a = address(node);
            return static_cast<int>(r.call(
                [&](c::AllianceTaskContract& ct, c::EthClient&) { return ct.role_of(id, n, a); }));
          },
          py::arg("task_id"), py::arg("round"), py::arg("node"))
      .def(
          "participants",
          [](R& r, py::handle task) {
            const c::U256 id = u256(task, "task_id");
            return checksums(r.call(
                [&](c::AllianceTaskContract& ct, c::EthClient&) { return ct.participants(id); }));
          },
          py::arg("task_id"))
      .def(
          "members",
          [](R& r, py::handle task) {
            const c::U256 id = u256(task, "task_id");
            return checksums(
                r.call([&](c::AllianceTaskContract& ct, c::EthClient&) { return ct.members(id); }));
          },
          py::arg("task_id"))
      .def(
          "round_reward",
          [](R& r, py::handle task) {
            const c::U256 id = u256(task, "task_id");
            return to_int(r.call(
                [&](c::AllianceTaskContract& ct, c::EthClient&) { return ct.round_reward(id); }));
          },
          py::arg("task_id"))
      .def("domain_separator", [](R& r) {
        return to_bytes(r.call(
            [](c::AllianceTaskContract& ct, c::EthClient&) { return ct.domain_separator(); }));
      });
}

}  // namespace murmur::python
