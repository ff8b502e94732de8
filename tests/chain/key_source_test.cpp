// Signing keys come from a private key file or $MURMUR_CHAIN_KEY, with clear refusals.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "murmur/chain/key_source.hpp"

using namespace murmur::chain;

TEST(KeySource, FileEnvironmentAndRefusals) {
  auto dir = std::filesystem::temp_directory_path() / ("murmur-keys-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto key =
      PrivateKey::from_hex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
  auto file = dir / "k";
  write_key_file(file, key);
  EXPECT_EQ(load_key(file).address(), key.address());

  ::chmod(file.c_str(), 0644);
  try {
    load_key(file);
    ADD_FAILURE() << "a world-readable key file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_key(dir / "missing"), std::runtime_error);

  ::unsetenv(kKeyEnvVar);
  EXPECT_THROW(load_key(std::nullopt), std::runtime_error);
  ::setenv(kKeyEnvVar, "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n", 1);
  EXPECT_EQ(load_key(std::nullopt).address().to_checksum(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
  ::setenv(kKeyEnvVar, "not a key", 1);
  try {
    load_key(std::nullopt);
    ADD_FAILURE() << "a malformed key was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).find("not a key"), std::string::npos)
        << "never echo key material";
  }
  ::unsetenv(kKeyEnvVar);
  std::filesystem::remove_all(dir);
}
