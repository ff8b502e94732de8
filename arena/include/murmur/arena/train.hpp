#pragma once
// LoRA fine-tuning of a LLaMA-style base model on a JSONL set (what an AI Arena training node
// does before it submits): a few steps of Adam on the adapter's factors, the base frozen.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "murmur/arena/adapter.hpp"
#include "murmur/arena/base_model.hpp"
#include "murmur/arena/eval_data.hpp"

namespace murmur::arena {

struct TrainOptions {
  std::string name = "adapter";  ///< the adapter's name (its directory's, once written)
  std::size_t rank = 8;
  double alpha = 16;  ///< scale = alpha / rank (PEFT's default, no rsLoRA)
  std::vector<Projection> targets{Projection::kQ, Projection::kV};
  std::size_t steps = 20;
  std::size_t batch_sequences = 8;  ///< sequences drawn (with a seeded shuffle) per step
  double learning_rate = 1e-2;      ///< Adam's
  std::uint64_t seed = 1;           ///< factor initialisation and batch order
};

struct TrainResult {
  LoraAdapter adapter;
  std::vector<double> step_losses;  ///< mean loss per target token of each step's batch, nats
};

/// Trains a LoRA adapter on `data` (targets as in evaluation: labels[t] predicted from tokens
/// 0..t-1). PEFT's initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform with a =
/// sqrt(5)), B = 0, so step 0 is the base model; every layer's targeted projections get
/// W + scale B A. The forward is the same decoder as evaluation's (RMSNorm, rotate-half rotary
/// embeddings, grouped-query causal attention, SwiGLU) written with autograd; lora_mean_loss
/// over it agrees with evaluate_merged within float rounding (tests/arena/lora_train_test.cpp).
/// Throws std::invalid_argument for rank 0, no targets, no steps' data or batch 0.
TrainResult train_lora(const BaseModel& base, const EvalSet& data, const TrainOptions& options);

/// The training forward's mean loss per target token of `adapter` on `data` (no gradients).
double lora_mean_loss(const BaseModel& base, const LoraAdapter& adapter, const EvalSet& data,
                      std::size_t batch_sequences = 8);

}  // namespace murmur::arena
