#pragma once
// A node's local training with libtorch, behind a header without torch types (libtorch's
// headers cost ~30 s per translation unit: only simulate_train.cpp pays for them).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "murmur/kernels/batched_mlp.hpp"
#include "murmur/model/labelled_set.hpp"

namespace murmur::sim {

/// Plain mini-batch SGD on the mean softmax cross-entropy of each batch.
struct LocalTraining {
  std::size_t epochs = 2;  ///< E: passes over the node's rows per round
  std::size_t batch = 32;  ///< B; the last batch of an epoch may be smaller
  double lr = 0.1;
  double lr_decay = 1.0;  ///< round r trains with lr x lr_decay^(r - 1) (a server-side schedule)
};

/// Runs libtorch on the calling thread only (at::set_num_threads(1)): the simulator trains one
/// node per worker thread, which is faster for small batches than intra-op parallelism and
/// makes every node's result independent of the machine's thread count. Process-wide.
void use_single_threaded_torch();

/// Trains model::make_mlp(shape) from `global` on rows `rows` of `data`: E epochs, each a
/// fresh permutation of the rows from mt19937_64(seed), batches of B, p <- p - lr grad.
/// With `flip_labels` every label y is replaced by C - 1 - y (the label-flipping attack).
/// Returns the update: trained parameters minus `global`. Deterministic for a given seed.
/// Cost: 6 E |rows| sum_l(in_l out_l) flops. Throws model::ModelError when global.size() !=
/// shape.parameters(), std::invalid_argument when rows is empty or batch is 0.
std::vector<float> train_local(const kernels::MlpShape& shape, std::span<const float> global,
                               const model::LabelledSet& data, std::span<const std::uint32_t> rows,
                               const LocalTraining& training, std::uint64_t seed,
                               bool flip_labels = false);

}  // namespace murmur::sim
