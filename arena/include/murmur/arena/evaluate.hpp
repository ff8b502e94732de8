#pragma once
// Scoring adapters on a held-out set: the batched path (one forward for many adapters) and the
// reference path (each adapter merged into the base weights and evaluated alone).
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "murmur/arena/adapter.hpp"
#include "murmur/arena/base_model.hpp"
#include "murmur/arena/eval_data.hpp"

namespace murmur::arena {

/// One adapter's result.
struct AdapterScore {
  std::string name;
  bool valid = false;
  std::string reason;      ///< why not valid: rejected at load, or a non-finite loss
  double mean_loss = 0;    ///< nats per target token: total_loss / tokens
  double total_loss = 0;   ///< sum over target tokens of -log p(label), in nats (double sum)
  std::size_t tokens = 0;  ///< target tokens scored
  std::optional<double> bits_per_byte;  ///< total_loss / ln 2 / target bytes, when known
};

struct EvalOptions {
  std::size_t batch_sequences = 8;     ///< sequences per forward (per adapter)
  std::size_t adapters_per_pass = 16;  ///< M: at most this many adapters share one forward
  /// Activation memory one forward may use; fewer adapters share a pass when M would exceed it
  /// (see pass_bytes), down to one.
  std::size_t max_pass_bytes = std::size_t{8} << 30;
};

/// Estimated activation memory of one batched forward over `rows` = M * B * L rows: per row the
/// residual stream, its norm and the attention output (3 x hidden), q/k/v, gate/up and the SwiGLU
/// product (3 x intermediate), in float, doubled for libtorch's temporaries.
std::size_t pass_bytes(const LlamaConfig& config, std::size_t rows);

/// Scores every adapter in one forward per batch of sequences per group of up to
/// adapters_per_pass adapters.
///
/// Math, for a batch of B sequences padded (on the right) to L tokens and M adapters: the
/// tokens are stacked M times into S = M*B sequences, N = S*L rows. Every projection of every
/// layer runs as one GEMM over all N rows against the base weight (q, k, v fused into one, gate
/// and up into one), then kernels::sgmv adds scale_m * B_m A_m x to adapter m's segment of N/M
/// rows (segments of adapters that leave the projection alone are skipped). Attention, norms
/// and SwiGLU are row- or sequence-local, so adapters never mix; padding sits after every real
/// token, so causal attention keeps it out. The LM head and log-softmax run only on the
/// hidden states of target positions: loss_t = logsumexp(z_t) - z_t[label], summed in double
/// per adapter.
///
/// Cost per batch: M times the base forward's flops over B*L tokens (the base weights are read
/// once per GEMM instead of once per adapter), plus 2*N*r*(in+out) per targeted projection,
/// plus the LM head on target positions only. Memory: activations of N rows (largest: N x
/// 2*intermediate floats, and S x heads x L x L attention scores).
///
/// A non-finite total marks that adapter invalid ("non-finite loss"); the others are unaffected.
std::vector<AdapterScore> evaluate_batched(const BaseModel& base,
                                           std::span<const LoraAdapter* const> adapters,
                                           const EvalSet& data, const EvalOptions& options = {});

/// The reference: W' = W + scale B A for every module of `adapter`, in a copy of the targeted
/// base weights, then the plain decoder over the set in batches of batch_sequences, one
/// adapter at a time. Same loss definition as evaluate_batched.
AdapterScore evaluate_merged(const BaseModel& base, const LoraAdapter& adapter, const EvalSet& data,
                             std::size_t batch_sequences);

/// The base model alone (no adapter), for comparison: the score an adapter should beat.
AdapterScore evaluate_base(const BaseModel& base, const EvalSet& data, std::size_t batch_sequences);

}  // namespace murmur::arena
