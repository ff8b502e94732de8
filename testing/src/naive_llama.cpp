#include "murmur/testing/naive_llama.hpp"

#include <cmath>
#include <vector>

namespace murmur::arena::testing {
namespace {

using Matrix = std::vector<double>;  // row-major [out, in]

Matrix weight(const HostModel& m, const LoraAdapter* adapter, std::size_t layer, Projection p) {
  const LlamaConfig& c = m.config;
  const std::vector<float>& w = m.weights.at(LlamaConfig::weight_name(layer, p));
  Matrix out(w.begin(), w.end());
  const LoraModule* mod = adapter ? adapter->find(layer, p) : nullptr;
  if (mod == nullptr) return out;
  const std::size_t in = c.in_features(p), o = c.out_features(p), r = mod->rank;
  for (std::size_t i = 0; i < o; ++i)
    for (std::size_t j = 0; j < in; ++j) {
      double d = 0;
      for (std::size_t k = 0; k < r; ++k)
        d += double(mod->b[i * r + k]) * double(mod->a[k * in + j]);
      out[i * in + j] += double(mod->scale) * d;
    }
  return out;
}

std::vector<double> matvec(const Matrix& w, const std::vector<double>& x, std::size_t out) {
  std::vector<double> y(out, 0.0);
  const std::size_t in = x.size();
  for (std::size_t i = 0; i < out; ++i)
    for (std::size_t j = 0; j < in; ++j) y[i] += w[i * in + j] * x[j];
  return y;
}

std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<float>& w,
                             double eps) {
  double ms = 0;
  for (double v : x) ms += v * v;
  ms /= static_cast<double>(x.size());
  const double inv = 1.0 / std::sqrt(ms + eps);
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
  return y;
}

/// HF's rotate_half layout: dimension i pairs with i + hd/2, angle pos * theta^(-2i/hd).
void rope(double* v, std::size_t hd, std::size_t pos, double theta) {
  const std::size_t half = hd / 2;
  for (std::size_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * std::pow(theta, -2.0 * double(i) / double(hd));
    const double x1 = v[i], x2 = v[i + half];
    v[i] = x1 * std::cos(angle) - x2 * std::sin(angle);
    v[i + half] = x2 * std::cos(angle) + x1 * std::sin(angle);
  }
}

}  // namespace

double naive_total_loss(const HostModel& m, const LoraAdapter* adapter, const EvalSequence& s) {
  const LlamaConfig& c = m.config;
  const std::size_t L = s.tokens.size(), d = c.hidden, hd = c.head_dim();
  const std::size_t group = c.heads / c.kv_heads;
  const std::vector<float>& embed = m.weights.at("model.embed_tokens.weight");
  std::vector<std::vector<double>> x(L);
  for (std::size_t t = 0; t < L; ++t)
    x[t].assign(embed.begin() + static_cast<std::ptrdiff_t>(s.tokens[t] * d),
                embed.begin() + static_cast<std::ptrdiff_t>((s.tokens[t] + 1) * d));
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    const Matrix wq = weight(m, adapter, l, Projection::kQ),
                 wk = weight(m, adapter, l, Projection::kK);
    const Matrix wv = weight(m, adapter, l, Projection::kV),
                 wo = weight(m, adapter, l, Projection::kO);
    const Matrix wg = weight(m, adapter, l, Projection::kGate),
                 wu = weight(m, adapter, l, Projection::kUp);
    const Matrix wd = weight(m, adapter, l, Projection::kDown);
    std::vector<std::vector<double>> q(L), k(L), v(L);
    for (std::size_t t = 0; t < L; ++t) {
      const auto h = rms_norm(x[t], m.weights.at(prefix + "input_layernorm.weight"), c.rms_eps);
      q[t] = matvec(wq, h, c.heads * hd);
      k[t] = matvec(wk, h, c.kv_heads * hd);
      v[t] = matvec(wv, h, c.kv_heads * hd);
      for (std::size_t head = 0; head < c.heads; ++head)
        rope(&q[t][head * hd], hd, t, c.rope_theta);
      for (std::size_t head = 0; head < c.kv_heads; ++head)
        rope(&k[t][head * hd], hd, t, c.rope_theta);
    }
    for (std::size_t t = 0; t < L; ++t) {
      std::vector<double> attn(c.heads * hd, 0.0);
      for (std::size_t head = 0; head < c.heads; ++head) {
        const std::size_t kvh = head / group;  // HF's repeat_kv
        std::vector<double> score(t + 1);
        double top = -INFINITY;
        for (std::size_t u = 0; u <= t; ++u) {  // causal: keys 0..t
          double dot = 0;
          for (std::size_t i = 0; i < hd; ++i) dot += q[t][head * hd + i] * k[u][kvh * hd + i];
          score[u] = dot / std::sqrt(double(hd));
          top = std::max(top, score[u]);
        }
        double z = 0;
        for (double& sc : score) z += (sc = std::exp(sc - top));
        for (std::size_t u = 0; u <= t; ++u)
          for (std::size_t i = 0; i < hd; ++i)
            attn[head * hd + i] += score[u] / z * v[u][kvh * hd + i];
      }
      const auto o = matvec(wo, attn, d);
      for (std::size_t i = 0; i < d; ++i) x[t][i] += o[i];
      const auto h =
          rms_norm(x[t], m.weights.at(prefix + "post_attention_layernorm.weight"), c.rms_eps);
      const auto g = matvec(wg, h, c.intermediate), up = matvec(wu, h, c.intermediate);
      std::vector<double> act(c.intermediate);
      for (std::size_t i = 0; i < act.size(); ++i) act[i] = g[i] / (1 + std::exp(-g[i])) * up[i];
      const auto down = matvec(wd, act, d);
      for (std::size_t i = 0; i < d; ++i) x[t][i] += down[i];
    }
  }
  const std::vector<float>& head_w =
      m.weights.count("lm_head.weight") ? m.weights.at("lm_head.weight") : embed;
  const Matrix lm(head_w.begin(), head_w.end());
  double total = 0;
  for (std::size_t t = 1; t < L; ++t) {
    if (s.labels[t] == kIgnoreLabel) continue;
    const auto h = rms_norm(x[t - 1], m.weights.at("model.norm.weight"), c.rms_eps);
    const auto logits = matvec(lm, h, c.vocab);
    double top = -INFINITY;
    for (double z : logits) top = std::max(top, z);
    double sum = 0;
    for (double z : logits) sum += std::exp(z - top);
    total += top + std::log(sum) - logits[static_cast<std::size_t>(s.labels[t])];
  }
  return total;
}

}  // namespace murmur::arena::testing
