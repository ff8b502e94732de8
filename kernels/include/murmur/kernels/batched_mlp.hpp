#pragma once
// Batched validation of K candidate parameter vectors of one MLP classifier on one labelled
// set: the FL round's "score every candidate" step (docs/ARCHITECTURE.md §2, step 5) in one
// pass over the data.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "murmur/kernels/backend.hpp"

namespace murmur::kernels {

/// The shape of a dense classifier: `widths[0]` inputs, `widths.back()` classes, and
/// L = widths.size() - 1 dense layers; layer l maps widths[l] -> widths[l+1], every layer but
/// the last is followed by ReLU (L = 1 is logistic regression).
///
/// Flat parameter layout (libtorch's named_parameters() order for the equivalent
/// torch::nn::Sequential of Linear/ReLU): for l = 0..L-1, the weight W_l [out, in] row-major,
/// then the bias b_l [out]. One candidate is one such vector of parameters() floats.
struct MlpShape {
  std::vector<std::size_t> widths;

  std::size_t layers() const noexcept { return widths.empty() ? 0 : widths.size() - 1; }
  std::size_t inputs() const noexcept { return widths.empty() ? 0 : widths.front(); }
  std::size_t classes() const noexcept { return widths.empty() ? 0 : widths.back(); }
  /// in_l = widths[l], out_l = widths[l+1].
  std::size_t in(std::size_t l) const { return widths[l]; }
  std::size_t out(std::size_t l) const { return widths[l + 1]; }
  /// Offset of W_l in the flat vector: sum over earlier layers of out*in + out.
  std::size_t weight_offset(std::size_t l) const;
  /// Offset of b_l: weight_offset(l) + out_l * in_l.
  std::size_t bias_offset(std::size_t l) const { return weight_offset(l) + out(l) * in(l); }
  /// Length of the flat vector: sum_l (out_l * in_l + out_l).
  std::size_t parameters() const { return weight_offset(layers()); }
  /// e.g. "784-128-10".
  std::string describe() const;
  /// Throws std::invalid_argument unless there are >= 2 widths, all >= 1, classes >= 2.
  void check() const;
};

/// Why a candidate has or has no score.
enum class CandidateStatus {
  kScored,               ///< loss and accuracy are valid
  kNonFiniteParameters,  ///< some parameter is NaN or +-Inf: not evaluated
  kNonFiniteLoss,        ///< finite parameters whose logits overflowed (loss is NaN or Inf)
};

/// "scored", "non-finite parameters", "non-finite loss".
const char* to_string(CandidateStatus status);

/// One candidate's result on the labelled set.
struct CandidateScore {
  CandidateStatus status = CandidateStatus::kScored;
  double mean_loss = 0;  ///< mean over rows of the softmax cross-entropy; NaN unless scored
  double accuracy = 0;   ///< correct / rows (argmax, first maximal class on ties)
  std::size_t correct = 0;
  std::size_t rows = 0;
  bool valid() const noexcept { return status == CandidateStatus::kScored; }
};

/// K candidates in host memory: candidate k's flat vector starts at data + k * ld.
struct CandidateRows {
  const float* data = nullptr;
  std::size_t count = 0;  ///< K
  std::size_t ld = 0;     ///< floats between candidates, >= MlpShape::parameters()
};

/// A labelled set in host memory: `rows` examples of `cols` features (row-major, packed) and
/// one class index per example.
struct LabelledRows {
  const float* features = nullptr;
  const std::int32_t* labels = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
};

/// Scores every candidate on `data` in one pass.
///
/// Math, per candidate k and example i with features x_i:
///   h_0 = x_i,  h_{l+1} = relu(W_l h_l + b_l) for l < L-1,  z = W_{L-1} h_{L-1} + b_{L-1},
///   loss_i = log sum_c exp(z_c) - z_{y_i}   (computed as m + log sum_c exp(z_c - m), m = max z),
///   mean_loss = (1/n) sum_i loss_i (rows summed in double, in a fixed order),
///   accuracy  = (1/n) #{i : argmax_c z_c = y_i}.
/// Every layer of all K candidates is one batched GEMM over a block of rows: the first layer
/// is one GEMM [rows, in] x [in, K*out_0] against the stacked W_0 of every candidate (the data
/// is read once for all K), later layers a strided batch of K GEMMs (cuBLAS strided-batched on
/// CUDA, OpenBLAS per candidate on the CPU); bias and ReLU are fused into one pass over the
/// activations, and bias, log-sum-exp, loss and argmax of the last layer into one pass per
/// candidate that writes a double and a count per 256 rows. The CPU backend also folds the
/// last layer itself (C outputs, too narrow for BLAS to run well) into that pass.
///
/// Cost: 2 * n * K * sum_l(in_l * out_l) flops. Memory: the features are read once per call;
/// activations live in blocks of rows ([block, K, out_l]; at most 32 MiB on the CPU, 256 MiB
/// on CUDA); the CUDA backend uploads the features, labels and candidates once per call.
///
/// Candidates with a non-finite parameter are not evaluated (status kNonFiniteParameters) and
/// do not affect the others. Results are independent of the CPU thread count.
///
/// Preconditions (std::invalid_argument otherwise): shape.check(); data.cols == shape.inputs();
/// data.rows >= 1; every label in [0, classes); candidates.ld >= shape.parameters().
std::vector<CandidateScore> evaluate_mlp(Backend& backend, const MlpShape& shape,
                                         CandidateRows candidates, LabelledRows data);

}  // namespace murmur::kernels
