// `murmur validate`: the AI Arena validator (arena/README.md) on the command line.
#include "validate_cli.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "murmur/arena/adapter.hpp"
#include "murmur/arena/base_model.hpp"
#include "murmur/arena/evaluate.hpp"
#include "murmur/arena/report.hpp"

extern char** environ;

namespace murmur::cli {
namespace {

struct ValidateOptions {
  std::string base;
  std::vector<std::string> adapters;
  std::string data;
  std::string tokenizer;  ///< a sentencepiece model: --data is plain text, tokenised first
  bool eos = false, no_bos = false;
  std::size_t batch = 8;
  std::size_t per_pass = 16;
  double pass_gib = 8;
  std::string device = "auto";
  std::string strategy = "batched";  ///< batched | merged | auto (merged on CPU, batched on CUDA)
  std::string out = "scores.json";
  bool check_merged = false;
};

/// murmur-tokenize, next to this executable (or $MURMUR_TOKENIZE).
std::filesystem::path tokenizer_program() {
  if (const char* env = std::getenv("MURMUR_TOKENIZE"); env && *env) return env;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const auto candidate = (ec ? std::filesystem::path(".") : self.parent_path()) / "murmur-tokenize";
  if (!std::filesystem::exists(candidate))
    throw std::runtime_error("--tokenizer needs murmur-tokenize, not found at " +
                             candidate.string() + " (build it, or set MURMUR_TOKENIZE)");
  return candidate;
}

/// Tokenises the plain-text set in a child process (sentencepiece cannot share a process with
/// libtorch, see arena/tokenize/main.cpp) into `ids`; its diagnostics go to our stderr.
void tokenize_text(const ValidateOptions& o, std::size_t max_positions,
                   const std::filesystem::path& ids) {
  const std::string program = tokenizer_program().string();
  std::vector<std::string> args{program,
                                "--model",
                                o.tokenizer,
                                "--in",
                                o.data,
                                "--out",
                                ids.string(),
                                "--max-positions",
                                std::to_string(max_positions)};
  if (o.eos) args.push_back("--eos");
  if (o.no_bos) args.push_back("--no-bos");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (const int err = posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ);
      err != 0)
    throw std::runtime_error("cannot run " + program + ": " + std::strerror(err));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("tokenising " + o.data + " with " + o.tokenizer +
                             " failed (murmur-tokenize's message above)");
}

/// Removes a file when it goes out of scope.
struct TempFile {
  std::filesystem::path path;
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

void run_validate(const ValidateOptions& o) {
  using namespace murmur::arena;
  const auto start = std::chrono::steady_clock::now();
  Device device = Device::kCpu;
  if (o.device == "cuda" || (o.device == "auto" && cuda_available())) device = Device::kCuda;
  const BaseModel base = BaseModel::load(o.base, device);
  const LlamaConfig& c = base.config();
  std::cout << "base model " << base.name() << ": " << c.layers << " layers, hidden " << c.hidden
            << ", heads " << c.heads << "/" << c.kv_heads << ", vocab " << c.vocab << ", "
            << base.parameters() << " parameters on " << (device == Device::kCuda ? "cuda" : "cpu")
            << "\n";
  TempFile ids{std::filesystem::temp_directory_path() /
               ("murmur-validate-" + std::to_string(::getpid()) + ".ids.jsonl")};
  if (!o.tokenizer.empty()) tokenize_text(o, c.max_positions, ids.path);
  const EvalSet data = read_eval_jsonl(
      o.tokenizer.empty() ? std::filesystem::path(o.data) : ids.path, c.vocab, c.max_positions);
  std::cout << "data " << o.data << ": " << data.sequences.size() << " sequences, "
            << data.target_tokens() << " target tokens"
            << (data.target_bytes() ? ", " + std::to_string(*data.target_bytes()) + " target bytes"
                                    : "")
            << "\n";

  std::vector<std::filesystem::path> roots(o.adapters.begin(), o.adapters.end());
  std::vector<AdapterLoad> loads;
  for (const auto& dir : find_adapters(roots)) loads.push_back(load_adapter(dir, c, base.name()));
  std::vector<const LoraAdapter*> valid;
  std::vector<AdapterScore> scores;
  for (const AdapterLoad& l : loads) {
    if (l.adapter) {
      valid.push_back(&*l.adapter);
    } else {
      AdapterScore rejected;
      rejected.name = l.name;
      rejected.reason = "rejected: " + l.reason;
      scores.push_back(rejected);
    }
  }
  std::cout << loads.size() << " adapters, " << valid.size() << " loaded, "
            << loads.size() - valid.size() << " rejected; scoring in passes of up to " << o.per_pass
            << " adapters x " << o.batch << " sequences\n\n";

  const auto budget = static_cast<std::size_t>(o.pass_gib * double(std::size_t{1} << 30));
  // auto: the faster path on this backend as bench/arena measured it (arena/README.md).
  const std::string strategy = o.strategy != "auto"      ? o.strategy
                               : device == Device::kCuda ? "batched"
                                                         : "merged";
  auto merged_all = [&] {
    std::vector<AdapterScore> m;
    for (const auto* a : valid) m.push_back(evaluate_merged(base, *a, data, o.batch));
    return m;
  };
  const std::vector<AdapterScore> chosen =
      strategy == "merged" ? merged_all()
                           : evaluate_batched(base, valid, data, {o.batch, o.per_pass, budget});
  scores.insert(scores.end(), chosen.begin(), chosen.end());
  const AdapterScore base_score = evaluate_base(base, data, o.batch);
  if (o.check_merged) {
    const std::vector<AdapterScore> other =
        strategy == "merged" ? evaluate_batched(base, valid, data, {o.batch, o.per_pass, budget})
                             : merged_all();
    double worst = 0;
    for (std::size_t i = 0; i < valid.size(); ++i) {
      if (!chosen[i].valid || !other[i].valid) continue;
      worst = std::max(worst, std::abs(other[i].mean_loss - chosen[i].mean_loss));
    }
    std::cout << "check: largest |batched - merged| mean loss over " << valid.size()
              << " adapters = " << worst << " nats\n\n";
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::vector<AdapterScore> ranked_scores = ranked(scores);
  print_table(std::cout, ranked_scores, base_score);
  RunInfo run;
  run.base_model = base.name();
  run.data = o.data;
  run.device = device == Device::kCuda ? "cuda" : "cpu";
  run.sequences = data.sequences.size();
  run.target_tokens = data.target_tokens();
  run.target_bytes = data.target_bytes();
  run.batch_sequences = o.batch;
  run.adapters_per_pass = o.per_pass;
  run.seconds = seconds;
  std::ofstream out(o.out);
  if (!out) throw std::runtime_error("cannot write " + o.out + ": check the directory exists");
  out << to_json(run, ranked_scores, base_score);
  std::cout << "\nwrote " << o.out << " (" << seconds << " s)\n";
}

}  // namespace

void add_validate_command(CLI::App& app) {
  auto opts = std::make_shared<ValidateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "AI Arena: score PEFT LoRA adapters on a LLaMA-style base model by their loss on a held-out "
      "set, many adapters per batched forward pass");
  cmd->add_option("--base", opts->base, "Base model directory (config.json + model.safetensors)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--adapters", opts->adapters,
                  "Adapter directories: each an adapter (adapter_config.json + "
                  "adapter_model.safetensors) or a directory of them")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--data", opts->data,
                  "Evaluation set, JSONL: {\"input_ids\": [...], \"labels\": [...] (-100 outside "
                  "targets) or \"loss_mask\": [...], \"bytes\": n}")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "A sentencepiece model (.model): --data is then plain text, one JSON object a "
                  "line, {\"prompt\", \"completion\"} or {\"messages\": [{\"role\", "
                  "\"content\"}]}; completions and assistant messages are the targets")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--eos", opts->eos, "With --tokenizer: end every target with the model's EOS id");
  cmd->add_flag("--no-bos", opts->no_bos, "With --tokenizer: no BOS id at the start");
  cmd->add_option("--batch", opts->batch, "Sequences per forward pass (per adapter)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--adapters-per-pass", opts->per_pass, "Adapters sharing one forward pass")
      ->check(CLI::Range(1, 1 << 12));
  cmd->add_option("--max-pass-memory", opts->pass_gib,
                  "GiB of activations one forward pass may use; fewer adapters share a pass "
                  "when --adapters-per-pass would exceed it")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--device", opts->device, "cpu, cuda or auto (cuda when libtorch has a device)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd->add_option("--strategy", opts->strategy,
                  "batched (SGMV: many adapters per forward), merged (each adapter merged into "
                  "the base and evaluated alone) or auto (merged on CPU, batched on CUDA: the "
                  "faster path bench/arena measured on each backend)")
      ->check(CLI::IsMember({"auto", "batched", "merged"}))
      ->capture_default_str();
  cmd->add_option("--out", opts->out, "Where to write the scores as JSON");
  cmd->add_flag("--check-merged", opts->check_merged,
                "Also evaluate every adapter merged into the base weights, alone, and print the "
                "largest difference from the batched scores");
  cmd->callback([opts] { run_validate(*opts); });
}

}  // namespace murmur::cli
