// murmurd: the aggregation server of a Murmuration task.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

#include "murmur/server/config_schema.hpp"
#include "murmur/server/server.hpp"
#include "murmur/server/shard_coordinator.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"murmurd " MURMUR_VERSION
               ": Byzantine-robust, durable aggregation server for FL rounds"};
  std::string config_path;
  app.add_option("-c,--config", config_path,
                 "TOML configuration (see server/murmurd.example.toml)");
  auto* keygen =
      app.add_subcommand("keygen", "Write a new CurveZMQ key pair: FILE (secret) and FILE.pub");
  std::string key_out;
  keygen->add_option("file", key_out, "secret key file to write")->required();
  auto* rounds = app.add_subcommand(
      "rounds",
      "Print the round records (outcome, votes, flags, validation, contributions) as JSON");
  std::string rounds_config;
  std::uint64_t only_round = 0;
  rounds
      ->add_option("-c,--config", rounds_config, "the murmurd configuration (its data_dir is read)")
      ->required();
  rounds->add_option("--round", only_round, "only this round");
  auto* config = app.add_subcommand(
      "config", "Print the configuration's example file or its reference, from the declared table");
  std::string config_what;
  config->add_option("what", config_what, "example (murmurd.example.toml) or reference (Markdown)")
      ->required()
      ->check(CLI::IsMember({"example", "reference"}));
  CLI11_PARSE(app, argc, argv);
  try {
    if (*config) {
      std::cout << (config_what == "example" ? murmur::server::example_config()
                                             : murmur::server::config_reference());
      return 0;
    }
    if (*rounds) {
      const auto cfg = murmur::server::load_config(rounds_config);
      if (cfg.shard && cfg.shard->coordinator) {  // a shard set's coordinator: the rounds' parts
        std::cout << murmur::server::shard_rounds_json(
                         cfg.data_dir,
                         only_round ? std::optional<std::uint64_t>(only_round) : std::nullopt)
                  << "\n";
        return 0;
      }
      std::cout << murmur::server::round_records_json(
                       cfg.data_dir,
                       only_round ? std::optional<std::uint64_t>(only_round) : std::nullopt)
                << "\n";
      return 0;
    }
    if (*keygen) {
      const auto [pub, sec] = murmur::server::curve_keypair();
      std::ofstream(key_out) << sec << "\n";
      std::ofstream(key_out + ".pub") << pub << "\n";
      std::cout << pub << "\n";
      return 0;
    }
    if (config_path.empty()) {
      std::cerr << "murmurd: --config FILE is required (or: murmurd keygen FILE)\n";
      return 2;
    }
    auto cfg = murmur::server::load_config(config_path);
    murmur::server::Server server(std::move(cfg));
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    server.start();
    if (!server.curve_public_key().empty())
      spdlog::info("server curve public key {}", server.curve_public_key());
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
  } catch (const std::exception& e) {
    std::cerr << "murmurd: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
