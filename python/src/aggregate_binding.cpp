// murmur._murmur's kernels half: the rule structs of rules.hpp as classes with their C++ field
// names, AggregationSpec, a Backend handle, and aggregate() over rows read in place (rows.hpp)
// with the GIL released while the kernels run.
#include <pybind11/numpy.h>
#include <pybind11/operators.h>
#include <pybind11/stl.h>

#include <mutex>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/kernels/rules.hpp"
#include "rows.hpp"

namespace murmur::python {

namespace k = kernels;

namespace {

/// A Backend and the lock that keeps two Python threads from using it at once (a Backend is
/// not thread-safe; aggregate() takes the lock after releasing the GIL).
struct PyBackend {
  std::unique_ptr<k::Backend> backend;
  std::mutex mutex;
};

std::unique_ptr<PyBackend> hold(std::unique_ptr<k::Backend> backend) {
  auto b = std::make_unique<PyBackend>();
  b->backend = std::move(backend);
  return b;
}

std::vector<double> sample_counts(py::handle weights, std::size_t n) {
  if (weights.is_none()) return std::vector<double>(n, 1.0);
  auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(weights);
  if (!a)
    throw py::type_error("weights must be a sequence of numbers (sample counts), got " +
                         std::string(py::str(py::type::handle_of(weights).attr("__name__"))));
  if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != n)
    throw py::value_error("weights must hold one sample count per row: " + std::to_string(n) +
                          " rows, weights of shape " + std::string(py::str(a.attr("shape"))));
  return std::vector<double>(a.data(), a.data() + n);
}

template <class T>
py::array_t<T> to_array(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

/// (aggregate, report) for rows read in place; the report as a dict of numpy arrays.
py::tuple aggregate(PyBackend& backend, py::handle rows_object, py::handle weights,
                    const k::AggregationSpec& spec) {
  const PyRows rows(rows_object);
  const k::RowSource& source = rows.source();
  const std::vector<double> counts = sample_counts(weights, source.rows());
  py::array_t<float> out(static_cast<py::ssize_t>(source.cols()));
  float* out_data = out.mutable_data();
  k::AggregationReport report;
  {
    py::gil_scoped_release release;
    std::lock_guard lock(backend.mutex);
    report = k::aggregate(*backend.backend, source, counts, spec,
                          std::span<float>(out_data, source.cols()));
  }
  const std::size_t n = report.rows.size();
  std::vector<std::int8_t> verdicts(n);
  std::vector<double> weights_out(n), scores(n), distances(n);
  for (std::size_t i = 0; i < n; ++i) {
    verdicts[i] = static_cast<std::int8_t>(report.rows[i].verdict);
    weights_out[i] = report.rows[i].weight;
    scores[i] = report.rows[i].score;
    distances[i] = report.rows[i].distance;
  }
  py::dict r;
  r["rule"] = report.rule;
  r["verdicts"] = to_array(verdicts);
  r["weights"] = to_array(weights_out);
  r["scores"] = to_array(scores);
  r["distances"] = to_array(distances);
  r["passes"] = report.passes;
  r["finite_rows"] = report.finite_rows;
  return py::make_tuple(std::move(out), std::move(r));
}

/// A registry parameter table from Python keyword values: bool is refused, int -> a count (or
/// a negative integer, which the registry refuses naming its bound), float -> real, str -> word.
k::Parameters parameters(const py::dict& params) {
  k::Parameters out;
  for (const auto& [key, value] : params) {
    const std::string name = py::str(key);
    if (py::isinstance<py::bool_>(value))
      throw py::type_error("parameter " + name + " must be a number or a word, got a bool");
    if (py::isinstance<py::int_>(value)) {
      const auto i = value.cast<py::int_>();
      if (i < py::int_(0))
        out.emplace(name, value.cast<std::int64_t>());
      else
        out.emplace(name, value.cast<std::uint64_t>());
    } else if (py::isinstance<py::float_>(value)) {
      out.emplace(name, value.cast<double>());
    } else if (py::isinstance<py::str>(value)) {
      out.emplace(name, value.cast<std::string>());
    } else {
      throw py::type_error("parameter " + name + " must be an int, a float or a str, got " +
                           std::string(py::str(py::type::handle_of(value).attr("__name__"))));
    }
  }
  return out;
}

template <class S>
py::class_<S> step_class(py::module_& m, const char* name, const char* doc) {
  py::class_<S> c(m, name, doc);
  c.def(py::init<>());
  c.def(py::self == py::self);
  return c;
}

}  // namespace

void bind_aggregate(py::module_& m) {
  py::enum_<k::Clipping>(m, "Clipping")
      .value("none", k::Clipping::kNone)
      .value("fixed", k::Clipping::kFixed)
      .value("adaptive", k::Clipping::kAdaptive);
  step_class<k::WeightedMean>(m, "WeightedMean", "FedAvg, optionally clipped (rules.hpp)")
      .def_readwrite("clipping", &k::WeightedMean::clipping)
      .def_readwrite("bound", &k::WeightedMean::bound)
      .def_readwrite("f", &k::WeightedMean::f);
  step_class<k::CoordinateMedian>(m, "CoordinateMedian", "per-coordinate median");
  step_class<k::TrimmedMean>(m, "TrimmedMean", "per-coordinate trimmed mean")
      .def_readwrite("beta", &k::TrimmedMean::beta);
  step_class<k::MeaMed>(m, "MeaMed", "mean of the n - f values nearest the median")
      .def_readwrite("f", &k::MeaMed::f);
  step_class<k::Krum>(m, "Krum", "Krum").def_readwrite("f", &k::Krum::f);
  step_class<k::MultiKrum>(m, "MultiKrum", "Multi-Krum")
      .def_readwrite("f", &k::MultiKrum::f)
      .def_readwrite("m", &k::MultiKrum::m);
  step_class<k::Bulyan>(m, "Bulyan", "Bulyan").def_readwrite("f", &k::Bulyan::f);
  step_class<k::GeometricMedian>(m, "GeometricMedian", "smoothed Weiszfeld")
      .def_readwrite("nu", &k::GeometricMedian::nu)
      .def_readwrite("max_iterations", &k::GeometricMedian::max_iterations)
      .def_readwrite("tolerance", &k::GeometricMedian::tolerance);
  step_class<k::CenteredClipping>(m, "CenteredClipping", "centered clipping from v = 0")
      .def_readwrite("tau", &k::CenteredClipping::tau)
      .def_readwrite("iterations", &k::CenteredClipping::iterations);
  step_class<k::NearestNeighborMixing>(m, "NearestNeighborMixing", "NNM pre-aggregation")
      .def_readwrite("f", &k::NearestNeighborMixing::f);
  step_class<k::Bucketing>(m, "Bucketing", "bucketing pre-aggregation")
      .def_readwrite("s", &k::Bucketing::s)
      .def_readwrite("seed", &k::Bucketing::seed);

  py::class_<k::AggregationSpec>(m, "AggregationSpec", "a rule and its pre-aggregation steps")
      .def(py::init<>())
      .def(py::init([](std::vector<k::PreAggregation> pre, k::Rule rule, bool distances) {
             return k::AggregationSpec{std::move(pre), std::move(rule), distances};
           }),
           py::arg("pre"), py::arg("rule"), py::arg("distances") = true)
      .def_readwrite("pre", &k::AggregationSpec::pre)
      .def_readwrite("rule", &k::AggregationSpec::rule)
      .def_readwrite("distances", &k::AggregationSpec::distances)
      .def(py::self == py::self)
      .def("__str__", [](const k::AggregationSpec& s) { return k::describe(s); });
  m.def(
      "describe", [](const k::AggregationSpec& s) { return k::describe(s); },
      "The spec as text, e.g. 'multi-krum(f=2, m=5)'.");

  // The rule registry (rule_registry.hpp): one vocabulary with murmurd's configuration.
  m.def(
      "parse_aggregation", [](const std::string& text) { return k::parse_aggregation(text); },
      py::arg("text"), "Reads a spec such as 'nnm(f=1) + trimmed-mean(beta=0.2)'.");
  m.def(
      "make_rule",
      [](const std::string& name, const py::dict& params) {
        return k::make_rule(name, parameters(params));
      },
      py::arg("name"), py::arg("params"), "The rule `name` (or an alias) with these parameters.");
  m.def(
      "make_pre_aggregation",
      [](const std::string& name, const py::dict& params) {
        return k::make_pre_aggregation(name, parameters(params));
      },
      py::arg("name"), py::arg("params"));
  m.def(
      "describe_step", [](const k::Rule& r) { return k::describe(r); }, py::arg("rule"));
  m.def(
      "describe_step", [](const k::PreAggregation& p) { return k::describe(p); }, py::arg("step"));
  m.def(
      "catalog", [] { return k::catalog_text(); }, "Every rule and step with its parameters.");
  m.def("rule_names", [] {
    std::vector<std::string> names;
    for (const auto& s : k::rule_catalog()) names.push_back(s.name);
    return names;
  });
  m.def("pre_aggregation_names", [] {
    std::vector<std::string> names;
    for (const auto& s : k::pre_aggregation_catalog()) names.push_back(s.name);
    return names;
  });

  py::class_<PyBackend>(m, "Backend", "where the kernels run: a CPU thread pool or a CUDA device")
      .def_static(
          "cpu", [](unsigned threads) { return hold(k::make_cpu_backend(threads)); },
          py::arg("threads") = 0)
      .def_static(
          "cuda", [](int device) { return hold(k::make_cuda_backend(device)); },
          py::arg("device") = 0)
      .def_static("default", [] { return hold(k::make_default_backend()); })
      .def_property_readonly("kind",
                             [](const PyBackend& b) { return k::to_string(b.backend->kind()); })
      .def("__repr__",
           [](const PyBackend& b) { return "<murmur.Backend " + b.backend->describe() + ">"; });
  m.def("cuda_compiled", &k::cuda_compiled);

  m.def("aggregate", &aggregate, py::arg("backend"), py::arg("rows"), py::arg("weights"),
        py::arg("spec"),
        "Runs spec over rows (read in place; GIL released) -> (aggregate, report dict).");
}

}  // namespace murmur::python
