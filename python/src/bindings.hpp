#pragma once
// What the extension murmur._murmur is made of: one bind_* per room it exposes, and the
// argument conversions they share. Python-facing errors: TypeError for a wrong type or dtype,
// ValueError for a wrong shape, layout or value; C++ errors are translated in module.cpp.
#include <pybind11/pybind11.h>

#include <span>
#include <string>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::python {

namespace py = pybind11;

void bind_aggregate(py::module_& m);
void bind_chain(py::module_& m);
/// The read-only views of a deployed AllianceTask over JSON-RPC (alliance_binding.cpp).
void bind_alliance(py::module_& m);
void bind_node(py::module_& m);
/// Registers the exception types (murmur.AggregationError, ...) and their translator.
void bind_errors(py::module_& m);

/// A 1-D, C-contiguous float32 numpy array as a span over its memory (no copy). The array must
/// outlive the span. Throws TypeError (not a numpy array, not float32) or ValueError (not 1-D,
/// not contiguous), naming `what`.
std::span<const float> float_vector(py::handle array, const char* what);

/// 32 bytes from `bytes` of length 32 or hex text ("0x" + 64 digits). ValueError otherwise.
chain::Hash32 hash32(py::handle value, const char* what);
/// A non-negative Python int below 2^256. TypeError / ValueError naming `what`.
chain::U256 u256(py::handle value, const char* what);
/// An address from its hex text (EIP-55 checked when mixed-case).
chain::Address address(const std::string& text);
py::bytes to_bytes(std::span<const std::uint8_t> data);

}  // namespace murmur::python
