// murmurd: the aggregation server of a Murmuration task.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

#include "murmur/server/server.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"murmurd " MURMUR_VERSION ": Byzantine-robust, durable aggregation server for FL rounds"};
  std::string config_path;
  app.add_option("-c,--config", config_path, "TOML configuration (see server/murmurd.example.toml)");
  auto* keygen = app.add_subcommand("keygen", "Write a new CurveZMQ key pair: FILE (secret) and FILE.pub");
  std::string key_out;
  keygen->add_option("file", key_out, "secret key file to write")->required();
  CLI11_PARSE(app, argc, argv);
  try {
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
    murmur::server::Server server(murmur::server::load_config(config_path));
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    server.start();
    if (!server.curve_public_key().empty()) spdlog::info("server curve public key {}", server.curve_public_key());
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
  } catch (const std::exception& e) {
    std::cerr << "murmurd: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
