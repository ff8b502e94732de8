// Batched MLP evaluation: the shape's flat layout, input checks, the non-finite-parameter
// screen, dispatch to a backend, and sums turned into scores.
#include "murmur/kernels/batched_mlp.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "../cpu/batched_mlp.hpp"
#include "dispatch.hpp"
#if MURMUR_HAVE_CUDA
#include "../cuda/batched_mlp.hpp"
#endif

namespace murmur::kernels {

std::size_t MlpShape::weight_offset(std::size_t l) const {
  std::size_t offset = 0;
  for (std::size_t i = 0; i < l; ++i) offset += out(i) * in(i) + out(i);
  return offset;
}

std::string MlpShape::describe() const {
  std::string s;
  for (std::size_t w : widths) {
    if (!s.empty()) s.push_back('-');
    s.append(std::to_string(w));
  }
  return s.empty() ? "(empty)" : s;
}

void MlpShape::check() const {
  if (widths.size() < 2)
    throw std::invalid_argument("MLP shape '" + describe() +
                                "': needs at least an input width and a class count");
  for (std::size_t w : widths)
    if (w == 0) throw std::invalid_argument("MLP shape '" + describe() + "': a width is 0");
  if (classes() < 2)
    throw std::invalid_argument("MLP shape '" + describe() + "': a classifier needs >= 2 classes");
}

const char* to_string(CandidateStatus status) {
  switch (status) {
    case CandidateStatus::kScored: return "scored";
    case CandidateStatus::kNonFiniteParameters: return "non-finite parameters";
    case CandidateStatus::kNonFiniteLoss: return "non-finite loss";
  }
  return "unknown";
}

std::vector<CandidateScore> evaluate_mlp(Backend& backend, const MlpShape& shape,
                                         CandidateRows candidates, LabelledRows data) {
  shape.check();
  const std::size_t p = shape.parameters();
  const std::string where = "evaluate_mlp(" + shape.describe() + "): ";
  if (data.cols != shape.inputs())
    throw std::invalid_argument(where + "the data has " + std::to_string(data.cols) +
                                " features per example, the model takes " +
                                std::to_string(shape.inputs()));
  if (data.rows == 0) throw std::invalid_argument(where + "the labelled set is empty");
  if (candidates.count > 0 && candidates.ld < p)
    throw std::invalid_argument(where + "candidates are " + std::to_string(candidates.ld) +
                                " floats apart, each needs " + std::to_string(p));
  for (std::size_t i = 0; i < data.rows; ++i)
    if (data.labels[i] < 0 || static_cast<std::size_t>(data.labels[i]) >= shape.classes())
      throw std::invalid_argument(where + "label " + std::to_string(data.labels[i]) +
                                  " of example " + std::to_string(i) + " is outside [0, " +
                                  std::to_string(shape.classes()) + ")");

  // A candidate with a non-finite parameter is not evaluated at all: it would poison only its
  // own outputs, but there is nothing to learn from them.
  std::vector<CandidateScore> scores(candidates.count);
  std::vector<std::uint8_t> evaluate(candidates.count, 1);
  for (std::size_t k = 0; k < candidates.count; ++k) {
    const float* v = candidates.data + k * candidates.ld;
    for (std::size_t j = 0; j < p; ++j)
      if (!std::isfinite(v[j])) {
        evaluate[k] = 0;
        break;
      }
  }
  std::vector<detail::XentTotals> totals(candidates.count);
  if (candidates.count > 0) {
    if (backend.kind() == BackendKind::kCpu)
      cpu::evaluate_mlp(cpu::as_cpu(backend), shape, candidates, data, evaluate, totals);
    else
      MURMUR_ON_CUDA(cuda::evaluate_mlp(backend, shape, candidates, data, evaluate, totals));
  }

  const double rows = static_cast<double>(data.rows);
  for (std::size_t k = 0; k < candidates.count; ++k) {
    CandidateScore& s = scores[k];
    s.rows = data.rows;
    if (!evaluate[k]) {
      s.status = CandidateStatus::kNonFiniteParameters;
      s.mean_loss = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    s.mean_loss = totals[k].loss_sum / rows;
    s.correct = totals[k].correct;
    s.accuracy = static_cast<double>(s.correct) / rows;
    if (!std::isfinite(s.mean_loss)) s.status = CandidateStatus::kNonFiniteLoss;
  }
  return scores;
}

}  // namespace murmur::kernels
