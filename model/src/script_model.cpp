#include "murmur/model/script_model.hpp"

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <system_error>

#include "murmur/model/errors.hpp"

namespace murmur::model {

struct ScriptModel::Impl {
  std::filesystem::path path;
  torch::jit::Module module;
  std::vector<torch::Tensor> params;
  std::vector<std::string> names;
  std::size_t total = 0;
};

namespace {

std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

ScriptModel::ScriptModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ScriptModel::ScriptModel(ScriptModel&&) noexcept = default;
ScriptModel& ScriptModel::operator=(ScriptModel&&) noexcept = default;
ScriptModel::~ScriptModel() = default;

ScriptModel ScriptModel::load(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ModelError("TorchScript model " + name + ": no such file");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  try {
    impl->module = torch::jit::load(name, torch::kCPU);
  } catch (const c10::Error& e) {
    throw ModelError("TorchScript model " + name + " does not load: " + e.what_without_backtrace() +
                     "; it must be written by torch.jit.save(torch.jit.script(model)) (or "
                     "trace) with a PyTorch no newer than this libtorch (" TORCH_VERSION ")");
  }
  impl->module.eval();
  for (const auto& item : impl->module.named_parameters(/*recurse=*/true)) {
    if (item.value.scalar_type() != torch::kFloat)
      throw ModelError("TorchScript model " + name + ": parameter " + item.name + " is " +
                       std::string(c10::toString(item.value.scalar_type())) +
                       ", only float32 parameters map onto a flat float vector; save the "
                       "model after model.float()");
    impl->params.push_back(item.value);
    impl->names.push_back(item.name);
    impl->total += static_cast<std::size_t>(item.value.numel());
  }
  return ScriptModel(std::move(impl));
}

std::size_t ScriptModel::parameters() const {
  return impl_->total;
}
const std::filesystem::path& ScriptModel::path() const {
  return impl_->path;
}

std::string ScriptModel::describe_parameters() const {
  std::string s;
  for (std::size_t i = 0; i < impl_->params.size(); ++i)
    s += (i ? ", " : "") + impl_->names[i] + " " + shape_of(impl_->params[i]);
  return s;
}

void ScriptModel::assign(std::span<const float> flat) {
  if (flat.size() != impl_->total)
    throw ModelError("parameter vector has " + std::to_string(flat.size()) + " floats, " +
                     impl_->path.string() + " has " + std::to_string(impl_->total) + " (" +
                     describe_parameters() +
                     "): it was made for a different model; check the task's model file");
  torch::NoGradGuard no_grad;
  std::size_t offset = 0;
  for (auto& p : impl_->params) {
    p.copy_(torch::from_blob(const_cast<float*>(flat.data() + offset), p.sizes(), torch::kFloat));
    offset += static_cast<std::size_t>(p.numel());
  }
}

std::vector<float> ScriptModel::flatten() const {
  std::vector<float> flat;
  flat.reserve(impl_->total);
  for (const auto& p : impl_->params) {
    const torch::Tensor c = p.detach().contiguous();
    flat.insert(flat.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return flat;
}

CandidateScore ScriptModel::evaluate(const LabelledSet& data, std::size_t batch_rows) {
  data.check("validation set");
  if (data.rows() == 0) throw DataError("validation set: no examples");
  batch_rows = std::max<std::size_t>(batch_rows, 1);
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> shape{0};
  for (std::size_t d : data.example_dims) shape.push_back(static_cast<std::int64_t>(d));
  const torch::Tensor labels =
      torch::from_blob(const_cast<std::int32_t*>(data.labels.data()),
                       {static_cast<std::int64_t>(data.rows())}, torch::kInt)
          .to(torch::kLong);
  double loss_sum = 0;
  std::int64_t correct = 0;
  for (std::size_t r0 = 0; r0 < data.rows(); r0 += batch_rows) {
    const std::size_t r = std::min(batch_rows, data.rows() - r0);
    shape[0] = static_cast<std::int64_t>(r);
    const torch::Tensor x = torch::from_blob(
        const_cast<float*>(data.features.data() + r0 * data.cols()), shape, torch::kFloat);
    const torch::IValue out = impl_->module.forward({x});
    if (!out.isTensor())
      throw ModelError("TorchScript model " + impl_->path.string() + ": forward() returned " +
                       out.tagKind() + ", not a logits tensor");
    const torch::Tensor logits = out.toTensor();
    if (logits.dim() != 2 || logits.size(0) != static_cast<std::int64_t>(r) ||
        logits.size(1) < static_cast<std::int64_t>(data.classes) ||
        logits.scalar_type() != torch::kFloat)
      throw ModelError("TorchScript model " + impl_->path.string() + ": forward() on " +
                       shape_of(x) + " returned " +
                       std::string(c10::toString(logits.scalar_type())) + " " + shape_of(logits) +
                       ", expected float logits [" + std::to_string(r) +
                       ", >= " + std::to_string(data.classes) + "]");
    const torch::Tensor y =
        labels.narrow(0, static_cast<std::int64_t>(r0), static_cast<std::int64_t>(r));
    loss_sum +=
        torch::nn::functional::cross_entropy(
            logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
            .item<double>();
    correct += logits.argmax(1).eq(y).sum().item<std::int64_t>();
  }
  CandidateScore score;
  score.rows = data.rows();
  score.mean_loss = loss_sum / static_cast<double>(data.rows());
  score.correct = static_cast<std::size_t>(correct);
  score.accuracy = static_cast<double>(correct) / static_cast<double>(data.rows());
  if (!std::isfinite(score.mean_loss)) score.status = CandidateStatus::kNonFiniteLoss;
  return score;
}

ScriptModelEvaluator::ScriptModelEvaluator(ScriptModel& model, const LabelledSet& data,
                                           std::size_t batch_rows)
    : model_(model), data_(data), batch_rows_(batch_rows) {
  data.check("validation set");
}

std::size_t ScriptModelEvaluator::parameters() const {
  return model_.parameters();
}

std::string ScriptModelEvaluator::describe() const {
  return "TorchScript model " + model_.path().string() + " on the CPU (libtorch, one at a time)";
}

std::vector<CandidateScore> ScriptModelEvaluator::evaluate(std::span<const float> packed) {
  const std::size_t p = model_.parameters();
  const std::size_t k = candidate_count(packed.size(), p, model_.path().string());
  std::vector<CandidateScore> scores(k);
  for (std::size_t i = 0; i < k; ++i) {
    const std::span<const float> flat = packed.subspan(i * p, p);
    if (!std::all_of(flat.begin(), flat.end(), [](float v) { return std::isfinite(v); })) {
      scores[i].status = CandidateStatus::kNonFiniteParameters;
      scores[i].mean_loss = std::numeric_limits<double>::quiet_NaN();
      scores[i].rows = data_.rows();
      continue;
    }
    model_.assign(flat);
    scores[i] = model_.evaluate(data_, batch_rows_);
  }
  return scores;
}

}  // namespace murmur::model
