// murmur._murmur: the extension module behind the `murmur` package (python/murmur/*.py holds
// the Python-facing API). C++ errors keep their message and get a Python type of their own.
#include <pybind11/pybind11.h>

#include "bindings.hpp"
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
  mp::bind_node(m);
}
