// Scoring adapters: batches of sequences, the batched path (base GEMMs once for M adapters,
// deltas by kernels::sgmv) and the merged reference path.
#include "murmur/arena/evaluate.hpp"

#include <torch/cuda.h>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/sgmv.hpp"
#include "torch_llama.hpp"

namespace murmur::arena {
namespace {

/// B sequences padded on the right to L tokens, and the rows that predict a target.
struct Batch {
  torch::Tensor tokens;            ///< [B, L] int64, on the model's device
  torch::Tensor rows;              ///< [T] int64: b*L + t - 1 for every target label at (b, t)
  torch::Tensor labels;            ///< [T] int64
  std::int64_t rows_per_copy = 0;  ///< B*L
};

/// The set in batches of up to `size` sequences, longest first (less padding); every path
/// uses the same batches, so their sums run in the same order.
std::vector<Batch> make_batches(const EvalSet& data, std::size_t size, torch::Device device) {
  if (size == 0) throw std::invalid_argument("batch size must be >= 1");
  std::vector<std::size_t> order(data.sequences.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return data.sequences[a].tokens.size() > data.sequences[b].tokens.size();
  });
  std::vector<Batch> batches;
  for (std::size_t first = 0; first < order.size(); first += size) {
    const std::size_t count = std::min(size, order.size() - first);
    const std::size_t length = data.sequences[order[first]].tokens.size();
    std::vector<std::int64_t> tokens(count * length, 0), rows, labels;
    for (std::size_t b = 0; b < count; ++b) {
      const EvalSequence& s = data.sequences[order[first + b]];
      std::copy(s.tokens.begin(), s.tokens.end(),
                tokens.begin() + static_cast<std::ptrdiff_t>(b * length));
      for (std::size_t t = 1; t < s.labels.size(); ++t)
        if (s.labels[t] != kIgnoreLabel) {
          rows.push_back(static_cast<std::int64_t>(b * length + t - 1));
          labels.push_back(s.labels[t]);
        }
    }
    const auto as_tensor = [&](std::vector<std::int64_t>& v, std::vector<std::int64_t> sizes) {
      return torch::from_blob(v.data(), sizes, torch::kInt64).clone().to(device);
    };
    Batch batch;
    batch.tokens =
        as_tensor(tokens, {static_cast<std::int64_t>(count), static_cast<std::int64_t>(length)});
    batch.rows = as_tensor(rows, {static_cast<std::int64_t>(rows.size())});
    batch.labels = as_tensor(labels, {static_cast<std::int64_t>(labels.size())});
    batch.rows_per_copy = static_cast<std::int64_t>(count * length);
    batches.push_back(std::move(batch));
  }
  return batches;
}

AdapterScore finish(std::string name, double total, std::size_t tokens, const EvalSet& data) {
  AdapterScore s;
  s.name = std::move(name);
  s.total_loss = total;
  s.tokens = tokens;
  s.mean_loss = total / static_cast<double>(tokens);
  if (!std::isfinite(total)) {
    s.valid = false;
    s.reason = "non-finite loss";
    return s;
  }
  s.valid = true;
  if (const auto bytes = data.target_bytes(); bytes && *bytes > 0)
    s.bits_per_byte = total / std::log(2.0) / static_cast<double>(*bytes);
  return s;
}

/// One plain forward per batch with `layers`: total loss in nats.
double plain_total(const BaseModel::Impl& m, const std::vector<LayerWeights>& layers,
                   const std::vector<Batch>& batches) {
  double total = 0;
  for (const Batch& batch : batches) {
    const torch::Tensor hidden = decoder_hidden(m, layers, batch.tokens, nullptr);
    total += target_losses(m, hidden.index_select(0, batch.rows), batch.labels)
                 .to(torch::kDouble)
                 .sum()
                 .item<double>();
  }
  return total;
}

/// The factors of a group of adapters for every (layer, projection), as sgmv reads them.
struct GroupFactors {
  std::vector<std::array<std::vector<kernels::LoraFactors>, kProjections>> table;  // [layer][p][m]
  std::vector<torch::Tensor> device_copies;  // keeps device factors alive (CUDA)
};

GroupFactors group_factors(const BaseModel::Impl& m, std::span<const LoraAdapter* const> group) {
  GroupFactors g;
  g.table.resize(m.config.layers);
  for (auto& per_layer : g.table)
    for (auto& per_p : per_layer) per_p.resize(group.size());
  for (std::size_t a = 0; a < group.size(); ++a)
    for (const LoraModule& mod : group[a]->modules) {
      kernels::LoraFactors f{mod.a.data(), mod.b.data(), mod.rank, mod.scale};
      if (m.device == Device::kCuda) {
        const auto upload = [&](const std::vector<float>& v) {
          torch::Tensor t = torch::from_blob(const_cast<float*>(v.data()),
                                             {static_cast<std::int64_t>(v.size())}, torch::kFloat)
                                .to(m.torch_device);
          g.device_copies.push_back(t);
          return static_cast<const float*>(t.data_ptr<float>());
        };
        f.a = upload(mod.a);
        f.b = upload(mod.b);
      }
      g.table[mod.layer][static_cast<std::size_t>(mod.projection)][a] = f;
    }
  return g;
}

/// The adapters of one group over every batch: their total losses in nats.
std::vector<double> batched_totals(const BaseModel::Impl& m,
                                   std::span<const LoraAdapter* const> group,
                                   const std::vector<Batch>& batches, kernels::Backend& backend) {
  const auto M = static_cast<std::int64_t>(group.size());
  const GroupFactors factors = group_factors(m, group);
  std::vector<double> totals(group.size(), 0.0);
  for (const Batch& batch : batches) {
    const std::int64_t per_copy = batch.rows_per_copy;
    const LoraHook hook = [&](std::size_t layer, Projection p, const torch::Tensor& x,
                              torch::Tensor& y) {
      const auto& f = factors.table[layer][static_cast<std::size_t>(p)];
      std::vector<kernels::SgmvSegment> segments;
      for (std::int64_t a = 0; a < M; ++a)
        if (f[static_cast<std::size_t>(a)].rank > 0)
          segments.push_back({static_cast<std::size_t>(a * per_copy),
                              static_cast<std::size_t>((a + 1) * per_copy),
                              static_cast<std::int32_t>(a)});
      if (segments.empty()) return;
      if (x.stride(1) != 1 || y.stride(1) != 1 || x.scalar_type() != torch::kFloat)
        throw std::logic_error(
            "evaluate_batched: a projection's input or output is not float rows");
      kernels::SgmvProblem problem;
      problem.rows = static_cast<std::size_t>(x.size(0));
      problem.d_in = static_cast<std::size_t>(x.size(1));
      problem.d_out = static_cast<std::size_t>(y.size(1));
      problem.x = x.data_ptr<float>();
      problem.ldx = static_cast<std::size_t>(x.stride(0));
      problem.y = y.data_ptr<float>();
      problem.ldy = static_cast<std::size_t>(y.stride(0));
      problem.segments = segments;
      problem.factors = f;
      if (m.device == Device::kCuda) {
        problem.residence = kernels::Residence::kDevice;
        torch::cuda::synchronize();  // torch's stream has written x and y; sgmv syncs its own
      }
      kernels::sgmv(backend, problem);
    };
    // The batch stacked M times: copy a of every sequence is adapter a's segment.
    const torch::Tensor tokens = batch.tokens.repeat({M, 1});
    const torch::Tensor hidden = decoder_hidden(m, m.layers, tokens, &hook);
    const std::int64_t T = batch.rows.size(0);
    const torch::Tensor offsets =
        torch::arange(M, batch.rows.options()).mul_(per_copy).unsqueeze(1);
    const torch::Tensor rows = (offsets + batch.rows.unsqueeze(0)).reshape({M * T});
    const torch::Tensor losses =
        target_losses(m, hidden.index_select(0, rows), batch.labels.repeat({M})).view({M, T});
    const torch::Tensor sums = losses.to(torch::kDouble).sum(1).cpu();
    for (std::int64_t a = 0; a < M; ++a)
      totals[static_cast<std::size_t>(a)] += sums[a].item<double>();
  }
  return totals;
}

}  // namespace

std::size_t pass_bytes(const LlamaConfig& c, std::size_t rows) {
  const std::size_t per_row = 3 * c.hidden + c.out_features(Projection::kQ) +
                              2 * c.out_features(Projection::kK) + 3 * c.intermediate;
  return 2 * rows * per_row * sizeof(float);
}

std::vector<AdapterScore> evaluate_batched(const BaseModel& base,
                                           std::span<const LoraAdapter* const> adapters,
                                           const EvalSet& data, const EvalOptions& options) {
  if (options.adapters_per_pass == 0) throw std::invalid_argument("adapters_per_pass must be >= 1");
  const BaseModel::Impl& m = base.impl();
  const std::vector<Batch> batches = make_batches(data, options.batch_sequences, m.torch_device);
  std::unique_ptr<kernels::Backend> backend =
      m.device == Device::kCuda ? kernels::make_cuda_backend(0) : kernels::make_cpu_backend(1);
  // Adapters per pass: as many as asked for, as long as the longest batch fits the budget.
  std::size_t longest_rows = 0;
  for (const Batch& b : batches)
    longest_rows = std::max(longest_rows, static_cast<std::size_t>(b.rows_per_copy));
  std::size_t per_pass = options.adapters_per_pass;
  while (per_pass > 1 && pass_bytes(m.config, per_pass * longest_rows) > options.max_pass_bytes)
    --per_pass;
  std::vector<AdapterScore> scores;
  for (std::size_t first = 0; first < adapters.size(); first += per_pass) {
    const auto group = adapters.subspan(first, std::min(per_pass, adapters.size() - first));
    const std::vector<double> totals = batched_totals(m, group, batches, *backend);
    for (std::size_t a = 0; a < group.size(); ++a)
      scores.push_back(finish(group[a]->name, totals[a], data.target_tokens(), data));
  }
  return scores;
}

AdapterScore evaluate_merged(const BaseModel& base, const LoraAdapter& adapter, const EvalSet& data,
                             std::size_t batch_sequences) {
  torch::NoGradGuard no_grad;
  const BaseModel::Impl& m = base.impl();
  std::vector<LayerWeights> layers = m.layers;  // shares the tensors until a module is merged
  std::vector<std::array<bool, 4>> cloned(layers.size(), {false, false, false, false});
  for (const LoraModule& mod : adapter.modules) {
    const ProjectionSlot slot = projection_slot(m.config, mod.projection);
    LayerWeights& w = layers[mod.layer];
    const std::size_t which = slot.tensor == &LayerWeights::qkv       ? 0
                              : slot.tensor == &LayerWeights::o       ? 1
                              : slot.tensor == &LayerWeights::gate_up ? 2
                                                                      : 3;
    if (!cloned[mod.layer][which]) {
      w.*slot.tensor = (w.*slot.tensor).clone();
      cloned[mod.layer][which] = true;
    }
    const auto r = static_cast<std::int64_t>(mod.rank);
    const torch::Tensor a =
        torch::from_blob(const_cast<float*>(mod.a.data()),
                         {r, static_cast<std::int64_t>(mod.a.size()) / r}, torch::kFloat)
            .to(m.torch_device);
    const torch::Tensor b =
        torch::from_blob(const_cast<float*>(mod.b.data()),
                         {static_cast<std::int64_t>(mod.b.size()) / r, r}, torch::kFloat)
            .to(m.torch_device);
    (w.*slot.tensor)
        .narrow(0, slot.row_begin, slot.rows)
        .addmm_(b, a, 1.0, mod.scale);  // W += s B A
  }
  const std::vector<Batch> batches = make_batches(data, batch_sequences, m.torch_device);
  return finish(adapter.name, plain_total(m, layers, batches), data.target_tokens(), data);
}

AdapterScore evaluate_base(const BaseModel& base, const EvalSet& data,
                           std::size_t batch_sequences) {
  const BaseModel::Impl& m = base.impl();
  const std::vector<Batch> batches = make_batches(data, batch_sequences, m.torch_device);
  return finish(base.name() + " (base)", plain_total(m, m.layers, batches), data.target_tokens(),
                data);
}

}  // namespace murmur::arena
