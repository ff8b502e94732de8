#include "rows.hpp"

#include <pybind11/numpy.h>

#include <cstring>
#include <string>

#include "bindings.hpp"

namespace murmur::python {

namespace {

std::string type_name(py::handle h) {
  return py::str(py::type::handle_of(h).attr("__name__"));
}

std::string dtype_name(const py::array& a) {
  return py::str(a.dtype());
}

/// The array behind `h` when it is a float32 numpy array; TypeError naming `what` otherwise.
py::array float32_array(py::handle h, const std::string& what) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(what + " must be a numpy.ndarray or a torch.Tensor of float32, got " +
                         type_name(h));
  auto a = py::reinterpret_borrow<py::array>(h);
  if (!py::array_t<float>::check_(h))
    throw py::type_error(what + " must be float32, got " + dtype_name(a) +
                         ": convert it first (x.astype(numpy.float32) or t.float()); the rows are "
                         "read in place, never converted silently");
  return a;
}

void require_contiguous(const py::array& a, const std::string& what) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(what +
                          " is not C-contiguous (a transposed or strided view): pass "
                          "numpy.ascontiguousarray(x) or t.contiguous()");
}

}  // namespace

void ScatteredRowSource::read_row(std::size_t i, std::size_t begin, std::size_t end,
                                  float* dst) const {
  std::memcpy(dst, rows_[i] + begin, (end - begin) * sizeof(float));
}

PyRows::PyRows(py::handle rows) {
  if (py::isinstance<py::list>(rows) || py::isinstance<py::tuple>(rows)) {
    const auto items = py::reinterpret_borrow<py::sequence>(rows);
    const std::size_t n = py::len(items);
    if (n == 0) throw py::value_error("rows is an empty list: give at least one row");
    std::vector<const float*> pointers;
    pointers.reserve(n);
    std::size_t d = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::string what = "row " + std::to_string(i);
      py::object item = items[i];
      // torch tensors are turned into numpy views by murmur._inputs before they get here.
      py::array a = float32_array(item, what);
      if (a.ndim() != 1)
        throw py::value_error(what + " has " + std::to_string(a.ndim()) +
                              " dimensions; a list of rows holds 1-D arrays");
      require_contiguous(a, what);
      const auto len = static_cast<std::size_t>(a.shape(0));
      if (i == 0) d = len;
      if (len != d)
        throw py::value_error(what + " has " + std::to_string(len) + " values, row 0 has " +
                              std::to_string(d) + ": every row must have the same length");
      pointers.push_back(static_cast<const float*>(a.data()));
      keep_.push_back(std::move(a));
    }
    if (d == 0) throw py::value_error("rows have no values: give rows of at least one value");
    source_ = std::make_unique<ScatteredRowSource>(std::move(pointers), d);
    return;
  }
  py::array a = float32_array(rows, "rows");
  if (a.ndim() != 2)
    throw py::value_error("rows must be 2-D (N rows x D values) or a list of 1-D rows, got " +
                          std::to_string(a.ndim()) + " dimensions");
  const auto n = static_cast<std::size_t>(a.shape(0)), d = static_cast<std::size_t>(a.shape(1));
  if (n == 0 || d == 0)
    throw py::value_error("rows has shape (" + std::to_string(n) + ", " + std::to_string(d) +
                          "): give at least one row of at least one value");
  require_contiguous(a, "rows");
  source_ = std::make_unique<kernels::MemoryRowSource>(
      kernels::RowsView{static_cast<const float*>(a.data()), n, d, d});
  keep_.push_back(std::move(a));
}

std::span<const float> float_vector(py::handle array, const char* what) {
  py::array a = float32_array(array, what);
  if (a.ndim() != 1)
    throw py::value_error(std::string(what) + " must be 1-D (a flat vector), got " +
                          std::to_string(a.ndim()) + " dimensions");
  require_contiguous(a, what);
  return {static_cast<const float*>(a.data()), static_cast<std::size_t>(a.shape(0))};
}

}  // namespace murmur::python
