// murmur._murmur's node half: client::NodeClient (register, round info, model download,
// upload, vote, status) and client::run_node with Python callbacks for training and judging.
// Every network call releases the GIL; callbacks take it back.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "murmur/client/curve_keys.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_loop.hpp"

namespace murmur::python {

namespace cl = client;

namespace {

/// "STAGE_UPLOADING" -> "uploading", "ROLE_VOTER" -> "voter".
std::string short_name(const std::string& name) {
  std::string s = name.substr(name.find('_') + 1);
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

py::object hash_or_none(const std::string& bytes) {
  if (bytes.size() != 32) return py::none();
  return py::bytes(bytes);
}

py::dict round_info_dict(const wire::RoundInfo& info) {
  py::dict d;
  d["task_id"] = info.task_id();
  d["round"] = info.round();
  d["stage"] = short_name(wire::Stage_Name(info.stage()));
  d["role"] = short_name(wire::Role_Name(info.role()));
  d["stage_deadline_unix_ms"] = info.stage_deadline_unix_ms();
  d["global_model_hash"] = hash_or_none(info.global_model_hash());
  d["parameters"] = info.parameters();
  d["chunk_bytes"] = info.chunk_bytes();
  d["candidate_model_hash"] = hash_or_none(info.candidate_model_hash());
  d["rule"] = info.rule();
  d["secagg"] = info.has_secagg();
  return d;
}

/// A numpy array that owns `values` (moved, not copied).
py::array_t<float> to_numpy(std::vector<float>&& values) {
  auto* heap = new std::vector<float>(std::move(values));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  return py::array_t<float>({static_cast<py::ssize_t>(heap->size())}, heap->data(), owner);
}

py::array_t<float> copy_to_numpy(std::span<const float> values) {
  return to_numpy(std::vector<float>(values.begin(), values.end()));
}

wire::DType dtype_of(const std::string& name) {
  if (name == "f32") return wire::DTYPE_F32;
  if (name == "f16") return wire::DTYPE_F16;
  if (name == "bf16") return wire::DTYPE_BF16;
  throw py::value_error("dtype must be 'f32', 'f16' or 'bf16', got '" + name + "'");
}

cl::ClientOptions client_options(std::string endpoint, std::string register_endpoint,
                                 std::string server_key, std::optional<std::string> curve_key_file,
                                 double timeout_s, int retries) {
  cl::ClientOptions o;
  o.endpoint = std::move(endpoint);
  o.register_endpoint = std::move(register_endpoint);
  o.server_public_key = std::move(server_key);
  if (curve_key_file) o.curve = cl::load_or_create_curve_keys(*curve_key_file);
  if (!(timeout_s > 0)) throw py::value_error("timeout must be positive seconds");
  o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  o.retries = retries;
  return o;
}

/// A Python callback raised: the loop ends, and the binding re-raises the Python exception.
class CallbackFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

py::dict run(cl::NodeClient& client, const chain::PrivateKey& key,
             const chain::Eip712Domain& domain, std::uint64_t chain_id, py::object trainer,
             py::object judge, double max_rms_step, const std::string& dtype, double poll_s,
             std::uint64_t max_rounds, double idle_timeout_s, bool register_first, bool verbose) {
  cl::NodeLoopOptions o;
  o.chain_id = chain_id;
  o.domain = domain;
  o.dtype = dtype_of(dtype);
  o.poll = std::chrono::milliseconds(static_cast<std::int64_t>(poll_s * 1000));
  o.max_rounds = max_rounds;
  o.idle_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(idle_timeout_s * 1000));
  o.register_first = register_first;

  std::optional<py::error_already_set> failure;  // set and read with the GIL held
  // Calls a Python callback with the GIL; a Python exception is kept and ends the loop.
  const auto call = [&failure](const py::object& f, auto&&... args) -> py::object {
    try {
      return f(std::forward<decltype(args)>(args)...);
    } catch (py::error_already_set& e) {
      failure = std::move(e);
      throw CallbackFailed("a Python callback raised");
    }
  };
  const cl::Trainer train = [&](cl::RoundContext& ctx) -> std::optional<cl::TrainedUpdate> {
    const std::vector<float>& global = ctx.global_model();  // network: without the GIL
    py::gil_scoped_acquire gil;
    py::object r = call(trainer, round_info_dict(ctx.info()), copy_to_numpy(global));
    if (r.is_none()) return std::nullopt;
    auto pair = r.cast<py::tuple>();  // (float32 vector, num_samples), made by murmur/node.py
    const std::span<const float> values = float_vector(pair[0], "the update");
    if (values.size() != ctx.info().parameters())
      throw py::value_error("the update has " + std::to_string(values.size()) +
                            " values; the task's model has " +
                            std::to_string(ctx.info().parameters()) + " parameters");
    return cl::TrainedUpdate{std::vector<float>(values.begin(), values.end()),
                             pair[1].cast<std::uint64_t>()};
  };
  cl::VoteRule vote = cl::rms_step_rule(max_rms_step);
  if (!judge.is_none())
    vote = [&](cl::RoundContext& ctx, std::span<const float> candidate) -> cl::Verdict {
      const std::vector<float>& global = ctx.global_model();
      py::gil_scoped_acquire gil;
      py::object r =
          call(judge, round_info_dict(ctx.info()), copy_to_numpy(global), copy_to_numpy(candidate));
      auto pair = r.cast<py::tuple>();  // (score +1/-1, loss), made by murmur/node.py
      return cl::Verdict{pair[0].cast<int>(), pair[1].cast<double>()};
    };

  cl::NodeLoopReport report;
  try {
    py::gil_scoped_release release;
    report = cl::run_node(client, key, o, train, vote, verbose ? &std::cerr : nullptr);
  } catch (const CallbackFailed&) {
    if (failure) throw *failure;
    throw;
  }
  py::dict d;
  d["rounds_seen"] = report.rounds_seen;
  d["uploads"] = report.uploads;
  d["votes"] = report.votes;
  d["skipped"] = report.skipped;
  d["closed"] = report.closed;
  return d;
}

}  // namespace

void bind_node(py::module_& m) {
  py::class_<cl::NodeClient>(m, "NodeClient", "one node's connection to murmurd (node_client.hpp)")
      .def(py::init([](std::string endpoint, std::string register_endpoint, std::string server_key,
                       std::optional<std::string> curve_key_file, double timeout_s, int retries) {
             return std::make_unique<cl::NodeClient>(client_options(
                 std::move(endpoint), std::move(register_endpoint), std::move(server_key),
                 std::move(curve_key_file), timeout_s, retries));
           }),
           py::arg("endpoint"), py::arg("register_endpoint"), py::arg("server_key"),
           py::arg("curve_key_file") = py::none(), py::arg("timeout") = 10.0,
           py::arg("retries") = 4)
      .def_property_readonly("curve_public_key", &cl::NodeClient::curve_public_key)
      .def(
          "register_node",
          [](cl::NodeClient& c, const chain::PrivateKey& key, std::uint64_t chain_id) {
            py::gil_scoped_release release;
            return c.register_node(key, chain_id).to_checksum();
          },
          py::arg("key"), py::arg("chain_id"))
      .def("round_info",
           [](cl::NodeClient& c) {
             wire::RoundInfo info;
             {
               py::gil_scoped_release release;
               info = c.round_info();
             }
             return round_info_dict(info);
           })
      .def(
          "fetch_model",
          [](cl::NodeClient& c, py::handle hash) {
            const chain::Hash32 h = hash32(hash, "hash");
            std::vector<float> model;
            {
              py::gil_scoped_release release;
              model = c.fetch_model(h);
            }
            return to_numpy(std::move(model));
          },
          py::arg("hash"))
      .def(
          "upload_update",
          [](cl::NodeClient& c, std::uint64_t task_id, std::uint64_t round, py::handle values,
             const std::string& dtype, std::uint64_t num_samples, const chain::PrivateKey& key,
             const chain::Eip712Domain& domain) {
            const std::span<const float> v = float_vector(values, "update");  // sent in place
            const wire::DType t = dtype_of(dtype);
            cl::UploadResult r;
            {
              py::gil_scoped_release release;
              r = c.upload_update(task_id, round, v, t, num_samples, cl::Signer{&key, domain});
            }
            py::dict d;
            d["update_hash"] = to_bytes(r.update_hash);
            d["upload_id"] = r.upload_id;
            d["total_bytes"] = r.total_bytes;
            d["bytes_sent"] = r.bytes_sent;
            d["restarts"] = r.restarts;
            d["already_committed"] = r.already_committed;
            return d;
          },
          py::arg("task_id"), py::arg("round"), py::arg("values"), py::arg("dtype"),
          py::arg("num_samples"), py::arg("key"), py::arg("domain"))
      .def(
          "vote",
          [](cl::NodeClient& c, std::uint64_t task_id, std::uint64_t round, py::handle model_hash,
             int score, double loss, const chain::PrivateKey& key,
             const chain::Eip712Domain& domain) {
            if (score != 1 && score != -1)
              throw py::value_error("score must be +1 or -1, got " + std::to_string(score));
            const chain::Hash32 h = hash32(model_hash, "model_hash");
            py::gil_scoped_release release;
            c.vote(task_id, round, h, score, loss, cl::Signer{&key, domain});
          },
          py::arg("task_id"), py::arg("round"), py::arg("model_hash"), py::arg("score"),
          py::arg("loss"), py::arg("key"), py::arg("domain"))
      .def("status",
           [](cl::NodeClient& c) {
             wire::Status s;
             {
               py::gil_scoped_release release;
               s = c.status();
             }
             py::dict d;
             d["round"] = s.round();
             d["stage"] = short_name(wire::Stage_Name(s.stage()));
             d["committed_updates"] = s.committed_updates();
             d["votes"] = s.votes();
             d["backend"] = s.backend();
             return d;
           })
      .def("run", &run, py::arg("key"), py::arg("domain"), py::arg("chain_id"), py::arg("trainer"),
           py::arg("judge"), py::arg("max_rms_step"), py::arg("dtype"), py::arg("poll"),
           py::arg("max_rounds"), py::arg("idle_timeout"), py::arg("register_first"),
           py::arg("verbose"), "client::run_node with Python callbacks (see murmur.Node.run).");
}

}  // namespace murmur::python
