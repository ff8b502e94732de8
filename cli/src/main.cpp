// `murmur`: the node operator's and researcher's command line.
#include <CLI/CLI.hpp>

#include <iostream>

#include "arena_cli.hpp"
#include "chain_cli.hpp"
#include "chain_v2_cli.hpp"
#include "info.hpp"
#include "node_cli.hpp"
#include "simulate_cli.hpp"
#include "validate_cli.hpp"
#include "verify_cli.hpp"

int main(int argc, char** argv) {
  CLI::App app{"murmur: Murmuration's command line for node operators, validators and researchers"};
  app.require_subcommand(1);

  app.add_subcommand("info",
                     "Print the version, the backends compiled in and the hardware found "
                     "(CPU, BLAS, libtorch, CUDA devices, NCCL)")
      ->callback([] { murmur::cli::print_info(std::cout); });
  murmur::cli::add_chain_commands(app);
  murmur::cli::add_chain_v2_commands(app);
  murmur::cli::add_node_command(app);
  murmur::cli::add_load_command(app);
  murmur::cli::add_validate_command(app);
  murmur::cli::add_simulate_commands(app);
  murmur::cli::add_arena_commands(app);
  murmur::cli::add_verify_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "murmur: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
