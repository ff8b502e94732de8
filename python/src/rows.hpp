#pragma once
// Rows handed over by Python, read in place: a 2-D C-contiguous float32 array becomes a
// kernels::MemoryRowSource over its buffer, a list of 1-D float32 arrays a RowSource over their
// buffers. Nothing is copied; the Python objects are referenced for as long as the rows are.
#include <pybind11/pybind11.h>

#include <memory>
#include <vector>

#include "murmur/kernels/row_source.hpp"

namespace murmur::python {

namespace py = pybind11;

/// Rows that live in separate buffers of `d` floats each (a list of 1-D arrays). Resident, so
/// the kernels read their tiles in place.
class ScatteredRowSource final : public kernels::RowSource {
 public:
  ScatteredRowSource(std::vector<const float*> rows, std::size_t d)
      : rows_(std::move(rows)), d_(d) {}
  std::size_t rows() const override { return rows_.size(); }
  std::size_t cols() const override { return d_; }
  void read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const override;
  const float* resident_row(std::size_t i) const override { return rows_[i]; }

 private:
  std::vector<const float*> rows_;
  std::size_t d_;
};

/// The rows of a Python object, as a RowSource over its memory. Holds references to the
/// arrays, so it must be destroyed with the GIL held (it is, as a local of a bound function).
class PyRows {
 public:
  /// `rows`: a 2-D numpy array (N x D, float32, C-contiguous, N >= 1, D >= 1) or a list/tuple
  /// of N 1-D float32 contiguous arrays of one length D. Throws TypeError / ValueError saying
  /// what is wrong and how to fix it.
  explicit PyRows(py::handle rows);
  const kernels::RowSource& source() const { return *source_; }

 private:
  std::vector<py::object> keep_;
  std::unique_ptr<kernels::RowSource> source_;
};

}  // namespace murmur::python
