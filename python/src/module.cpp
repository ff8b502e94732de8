// murmur._murmur: the extension module behind the `murmur` package (python/murmur/*.py holds
// the Python-facing API). C++ errors keep their message and get a Python type of their own.
#include <pybind11/pybind11.h>

#include "bindings.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/protocol/wire.hpp"

namespace murmur::python {

namespace {

/// The Python exception types, created once at import (static: they live as long as the module).
struct ErrorTypes {
  py::object aggregation, backend_unavailable, spec, protocol, server, timeout;
  py::object chain, transport, rpc, revert;
};
ErrorTypes& error_types() {
  static ErrorTypes* types = new ErrorTypes();  // never destroyed: outlives interpreter teardown
  return *types;
}

py::object new_error(py::module_& m, const char* name, py::handle base, const char* doc) {
  py::object type = py::reinterpret_steal<py::object>(
      PyErr_NewExceptionWithDoc((std::string("murmur.") + name).c_str(), doc, base.ptr(), nullptr));
  if (!type) throw py::error_already_set();
  m.attr(name) = type;
  return type;
}

void raise_with_code(const py::object& type, const protocol::ProtocolError& e) {
  py::object error = type(e.what());
  error.attr("code") = protocol::code_name(e.code());
  PyErr_SetObject(type.ptr(), error.ptr());
}

}  // namespace

void bind_errors(py::module_& m) {
  ErrorTypes& t = error_types();
  t.aggregation = new_error(m, "AggregationError", PyExc_ValueError,
                            "A rule's preconditions do not hold for these rows (C++ "
                            "kernels::AggregationError); the message says which and why.");
  t.backend_unavailable = new_error(m, "BackendUnavailable", PyExc_RuntimeError,
                                    "The backend asked for is not in this build or machine.");
  t.spec = new_error(m, "SpecError", PyExc_ValueError,
                     "A rule spec or parameter that does not read (kernels::SpecError).");
  t.protocol = new_error(m, "ProtocolError", PyExc_RuntimeError,
                         "A wire-level error; .code is its ErrorCode name, e.g. 'ERR_MALFORMED'.");
  t.server = new_error(m, "ServerError", t.protocol,
                       "murmurd refused a request (client::ServerError); .code is the ErrorCode.");
  t.timeout = new_error(m, "TimeoutError", PyExc_TimeoutError,
                        "No reply from murmurd after every retry (client::TimeoutError).");
  t.chain = new_error(m, "ChainError", PyExc_RuntimeError,
                      "A chain call failed (chain::ChainError); the message says what and what to "
                      "do about it.");
  t.transport = new_error(m, "TransportError", t.chain,
                          "The JSON-RPC endpoint could not be reached or answered garbage, after "
                          "the retries (chain::TransportError).");
  t.rpc = new_error(m, "RpcError", t.chain,
                    "The endpoint answered a JSON-RPC error (chain::RpcError); .code is its "
                    "number, .rpc_message the node's text.");
  t.revert = new_error(m, "RevertError", t.chain,
                       "A call reverted (chain::RevertError); .error_name is 'Error', 'Panic' or "
                       "the custom error's name (e.g. 'UnknownTask'), .reason the decoded text "
                       "('UnknownTask(taskId=9)'), .data the raw revert bytes.");
  py::register_exception_translator([](std::exception_ptr p) {
    const ErrorTypes& types = error_types();
    try {
      if (p) std::rethrow_exception(p);
    } catch (const client::ServerError& e) {
      raise_with_code(types.server, e);
    } catch (const protocol::ProtocolError& e) {
      raise_with_code(types.protocol, e);
    } catch (const client::TimeoutError& e) {
      PyErr_SetString(types.timeout.ptr(), e.what());
    } catch (const kernels::AggregationError& e) {
      PyErr_SetString(types.aggregation.ptr(), e.what());
    } catch (const kernels::BackendUnavailable& e) {
      PyErr_SetString(types.backend_unavailable.ptr(), e.what());
    } catch (const kernels::SpecError& e) {
      PyErr_SetString(types.spec.ptr(), e.what());
    } catch (const chain::RevertError& e) {
      py::object error = types.revert(e.what());
      error.attr("error_name") = e.error_name();
      error.attr("reason") = e.reason();
      error.attr("data") = to_bytes(e.revert_data());
      PyErr_SetObject(types.revert.ptr(), error.ptr());
    } catch (const chain::RpcError& e) {
      py::object error = types.rpc(e.what());
      error.attr("code") = e.code();
      error.attr("rpc_message") = e.rpc_message();
      PyErr_SetObject(types.rpc.ptr(), error.ptr());
    } catch (const chain::TransportError& e) {
      PyErr_SetString(types.transport.ptr(), e.what());
    } catch (const chain::ChainError& e) {
      PyErr_SetString(types.chain.ptr(), e.what());
    }
    // Anything else falls through to pybind11's own translation (std::invalid_argument ->
    // ValueError, std::runtime_error -> RuntimeError, ...), message unchanged.
  });
}

}  // namespace murmur::python

PYBIND11_MODULE(_murmur, m) {
  namespace mp = murmur::python;
  m.doc() = "Murmuration's C++ libraries (kernels, chain signer, node client); use `murmur`.";
  m.attr("__version__") = MURMUR_VERSION;
  mp::bind_errors(m);
  mp::bind_aggregate(m);
  mp::bind_chain(m);
  mp::bind_alliance(m);
  mp::bind_node(m);
}
