#pragma once
// An independent reference for the decoder: Hugging Face's LlamaForCausalLM written out as plain
// loops in double precision, one sequence at a time, no libtorch, no fusion, no batching.
#include "murmur/arena/adapter.hpp"
#include "murmur/arena/eval_data.hpp"
#include "murmur/testing/tiny_llama.hpp"

namespace murmur::arena::testing {

/// Sum over the target positions of `sequence` of -log p(label), in nats, for `model` with
/// `adapter` (may be null) merged in double: W' = W + scale B A.
double naive_total_loss(const HostModel& model, const LoraAdapter* adapter,
                        const EvalSequence& sequence);

}  // namespace murmur::arena::testing
