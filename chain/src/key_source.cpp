#include "murmur/chain/key_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace murmur::chain {

PrivateKey load_key(const std::optional<std::filesystem::path>& key_file) {
  if (key_file) {
    struct stat st {};
    if (::stat(key_file->c_str(), &st) != 0)
      throw std::runtime_error("key file " + key_file->string() +
                               " does not exist or cannot be read");
    if (st.st_mode & (S_IRWXG | S_IRWXO))
      throw std::runtime_error("key file " + key_file->string() +
                               " is accessible by group or others: run `chmod 600 " +
                               key_file->string() + "`");
    std::ifstream in(*key_file);
    std::stringstream text;
    text << in.rdbuf();
    try {
      return PrivateKey::from_hex(text.str());
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("key file " + key_file->string() + ": " + e.what());
    }
  }
  const char* env = std::getenv(kKeyEnvVar);
  if (!env || !*env)
    throw std::runtime_error(
        std::string("no signing key: pass --key-file FILE (hex private key, chmod 600) or set ") +
        kKeyEnvVar);
  try {
    return PrivateKey::from_hex(env);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string(kKeyEnvVar) + ": " + e.what());
  }
}

void write_key_file(const std::filesystem::path& file, const PrivateKey& key) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create key file " + file.string());
  std::string hex = to_hex(key.secret()) + "\n";
  bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
  ::fchmod(fd, 0600);
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write key file " + file.string());
}

}  // namespace murmur::chain
