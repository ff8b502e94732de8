// The LLaMA decoder's forward pass in libtorch, fp32, with a hook after every projection.
//
// Per layer, for N = S*L rows (S sequences of L tokens):
//   h   = rmsnorm(x) * w_in                    x / sqrt(mean(x^2) + eps), then the weight
//   qkv = h W_qkv^T  (+ hook q, k, v)           one GEMM [N, d] x [d, (H + 2 KV) hd]
//   q, k = rope(q), rope(k)                     q' = q cos + rotate_half(q) sin (HF's layout)
//   attention per kv head j over its G = H/KV query heads, queries folded into rows:
//     scores [S, KV, G*L, L] = q k^T / sqrt(hd), causal mask, softmax, times v
//   x   = x + attn W_o^T  (+ hook o)            addmm: the residual is the GEMM's C
//   h   = rmsnorm(x) * w_post
//   gu  = h W_gu^T  (+ hook gate, up)           one GEMM [N, d] x [d, 2I]
//   x   = x + (silu(gate) * up) W_down^T  (+ hook down)
// Every step but attention is row-local and attention is sequence-local, so the S sequences
// (M adapters x B sequences in the batched path) never mix.
#include <algorithm>
#include <cmath>
#include <limits>

#include "torch_llama.hpp"

namespace murmur::arena {
namespace {

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  const torch::Tensor inv = torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true).add_(eps));
  return (x * inv).mul_(weight);
}

/// cos and sin of the rotary angles for positions [0, L): [L, hd/2] each, HF's
/// inv_freq_i = theta^(-2i/hd) in float32.
std::pair<torch::Tensor, torch::Tensor> rope_tables(const LlamaConfig& c, std::int64_t length,
                                                    torch::Device device) {
  const auto hd = static_cast<std::int64_t>(c.head_dim());
  const torch::Tensor i =
      torch::arange(0, hd, 2, torch::kInt64).to(torch::kFloat) / static_cast<double>(hd);
  const torch::Tensor inv_freq = 1.0 / torch::pow(torch::tensor(c.rope_theta, torch::kFloat), i);
  const torch::Tensor pos = torch::arange(length, torch::kInt64).to(torch::kFloat);
  const torch::Tensor angles = torch::outer(pos, inv_freq);
  return {angles.cos().to(device), angles.sin().to(device)};
}

/// x [S, L, heads, hd] -> rotated, HF's rotate_half layout: pairs are (i, i + hd/2).
torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const std::int64_t half = x.size(-1) / 2;
  const torch::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  const torch::Tensor c = cos.view({1, cos.size(0), 1, half}),
                      s = sin.view({1, sin.size(0), 1, half});
  return torch::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

/// Causal attention of q [S, KV, G*L, hd] (scaled, rotated; kv head j's G query heads folded
/// into rows) over k [S, KV, hd, L] and v [S, KV, L, hd]: softmax(q k^T + mask) v, [S, KV, G*L,
/// hd]. Sequences go in chunks whose scores (chunk x heads x L x L floats) stay within
/// kScoresBytes, so memory does not grow with the number of sequences and a chunk's scores are
/// still in cache when softmax and the second product read them.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& causal, std::int64_t G) {
  constexpr std::int64_t kScoresBytes = 4 << 20;
  const std::int64_t S = q.size(0), KV = q.size(1), L = k.size(3), hd = q.size(3);
  const std::int64_t per_sequence = KV * G * L * L * static_cast<std::int64_t>(sizeof(float));
  const std::int64_t chunk = std::max<std::int64_t>(1, kScoresBytes / per_sequence);
  torch::Tensor out = torch::empty({S, KV, G * L, hd}, q.options());
  for (std::int64_t s0 = 0; s0 < S; s0 += chunk) {
    const std::int64_t n = std::min(chunk, S - s0);
    torch::Tensor scores = torch::matmul(q.narrow(0, s0, n), k.narrow(0, s0, n));
    scores.view({n, KV, G, L, L}).masked_fill_(causal, -std::numeric_limits<float>::infinity());
    out.narrow(0, s0, n).copy_(torch::matmul(torch::softmax(scores, -1), v.narrow(0, s0, n)));
  }
  return out;
}

}  // namespace

torch::Tensor decoder_hidden(const BaseModel::Impl& model, const std::vector<LayerWeights>& layers,
                             const torch::Tensor& tokens, const LoraHook* hook) {
  torch::NoGradGuard no_grad;
  const LlamaConfig& c = model.config;
  const std::int64_t S = tokens.size(0), L = tokens.size(1), N = S * L;
  const auto H = static_cast<std::int64_t>(c.heads), KV = static_cast<std::int64_t>(c.kv_heads);
  const auto hd = static_cast<std::int64_t>(c.head_dim()), G = H / KV;
  const auto inter = static_cast<std::int64_t>(c.intermediate);
  const auto [cos, sin] = rope_tables(c, L, model.torch_device);
  const torch::Tensor causal =
      torch::ones({L, L}, torch::TensorOptions().dtype(torch::kBool).device(model.torch_device))
          .triu(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const auto apply = [&](std::size_t layer, Projection p, const torch::Tensor& x, torch::Tensor y) {
    if (hook != nullptr) (*hook)(layer, p, x, y);
  };

  torch::Tensor x = model.embed.index_select(0, tokens.reshape({N}));  // [N, d]
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const LayerWeights& w = layers[l];
    const torch::Tensor h = rms_norm(x, w.input_norm, c.rms_eps);
    const torch::Tensor qkv = torch::mm(h, w.qkv.t());
    const std::int64_t q_out = H * hd, kv_out = KV * hd;
    apply(l, Projection::kQ, h, qkv.narrow(1, 0, q_out));
    apply(l, Projection::kK, h, qkv.narrow(1, q_out, kv_out));
    apply(l, Projection::kV, h, qkv.narrow(1, q_out + kv_out, kv_out));
    // Queries of kv head j's G heads folded into rows: [S, KV, G*L, hd].
    const torch::Tensor q = rope(qkv.narrow(1, 0, q_out).view({S, L, H, hd}), cos, sin)
                                .mul_(scale)
                                .permute({0, 2, 1, 3})
                                .reshape({S, KV, G * L, hd});
    const torch::Tensor k = rope(qkv.narrow(1, q_out, kv_out).view({S, L, KV, hd}), cos, sin)
                                .permute({0, 2, 3, 1});  // [S, KV, hd, L]
    const torch::Tensor v =
        qkv.narrow(1, q_out + kv_out, kv_out).view({S, L, KV, hd}).permute({0, 2, 1, 3});
    const torch::Tensor attn = attention(q, k, v, causal, G)  // [S, KV, G*L, hd]
                                   .view({S, H, L, hd})
                                   .permute({0, 2, 1, 3})
                                   .reshape({N, H * hd});
    x = torch::addmm(x, attn, w.o.t());
    apply(l, Projection::kO, attn, x);
    const torch::Tensor h2 = rms_norm(x, w.post_norm, c.rms_eps);
    const torch::Tensor gu = torch::mm(h2, w.gate_up.t());
    apply(l, Projection::kGate, h2, gu.narrow(1, 0, inter));
    apply(l, Projection::kUp, h2, gu.narrow(1, inter, inter));
    const torch::Tensor act = torch::silu(gu.narrow(1, 0, inter)).mul_(gu.narrow(1, inter, inter));
    x = torch::addmm(x, act, w.down.t());
    apply(l, Projection::kDown, act, x);
  }
  return x;
}

torch::Tensor target_losses(const BaseModel::Impl& model, const torch::Tensor& hidden,
                            const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  constexpr std::int64_t kChunk = 1024;  // rows of logits at once: kChunk x vocab floats
  const std::int64_t T = hidden.size(0);
  torch::Tensor out = torch::empty({T}, hidden.options());
  for (std::int64_t r0 = 0; r0 < T; r0 += kChunk) {
    const std::int64_t n = std::min(kChunk, T - r0);
    const torch::Tensor h =
        rms_norm(hidden.narrow(0, r0, n), model.final_norm, model.config.rms_eps);
    const torch::Tensor logits = torch::mm(h, model.lm_head.t());  // [n, vocab]
    const torch::Tensor picked = logits.gather(1, labels.narrow(0, r0, n).unsqueeze(1)).squeeze(1);
    out.narrow(0, r0, n).copy_(torch::logsumexp(logits, 1) - picked);
  }
  return out;
}

}  // namespace murmur::arena
