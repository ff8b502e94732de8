#include "murmur/client/curve_keys.hpp"

#include <sys/stat.h>
#include <zmq.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace murmur::client {

CurveKeyPair CurveKeyPair::generate() {
  char pub[41] = {}, sec[41] = {};
  if (zmq_curve_keypair(pub, sec) != 0)
    throw std::runtime_error(
        std::string("zmq_curve_keypair failed (") + zmq_strerror(zmq_errno()) +
        "): libzmq was built without CURVE support; install a libzmq with libsodium");
  return {pub, sec};
}

std::array<std::uint8_t, 32> z85_key_bytes(std::string_view z85) {
  std::array<std::uint8_t, 32> out{};
  const std::string text(z85);
  if (text.size() != 40 || zmq_z85_decode(out.data(), text.c_str()) == nullptr)
    throw std::invalid_argument("a CurveZMQ key in Z85 is 40 characters of the Z85 alphabet; got " +
                                std::to_string(text.size()) + " characters that do not decode");
  return out;
}

namespace {

/// The quoted value of `name = "..."` in `line`, or empty.
std::string value_of(const std::string& line, std::string_view name) {
  const auto at = line.find(name);
  if (at == std::string::npos) return {};
  const auto open = line.find('"', at + name.size());
  const auto close = open == std::string::npos ? open : line.find('"', open + 1);
  if (close == std::string::npos) return {};
  return line.substr(open + 1, close - open - 1);
}

void check_pair(const CurveKeyPair& pair, const std::filesystem::path& file) {
  try {
    z85_key_bytes(pair.public_z85);
    const auto secret = z85_key_bytes(pair.secret_z85);
    char derived[41] = {};
    std::string secret_text = pair.secret_z85;
    if (zmq_curve_public(derived, secret_text.c_str()) != 0 || pair.public_z85 != derived)
      throw std::invalid_argument("the public key is not the secret key's");
    (void)secret;
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(
        "Curve key file " + file.string() + " does not hold a valid pair (" + e.what() +
        "): delete it to generate a new one (the node must then register again)");
  }
}

}  // namespace

CurveKeyPair load_or_create_curve_keys(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) {
    if (st.st_mode & (S_IRWXG | S_IRWXO))
      throw std::runtime_error("Curve key file " + file.string() +
                               " is readable by group or others: chmod 600 " + file.string());
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read Curve key file " + file.string());
    CurveKeyPair pair;
    for (std::string line; std::getline(in, line);) {
      if (auto v = value_of(line, "public-key"); !v.empty()) pair.public_z85 = v;
      if (auto v = value_of(line, "secret-key"); !v.empty()) pair.secret_z85 = v;
    }
    check_pair(pair, file);
    return pair;
  }
  CurveKeyPair pair = CurveKeyPair::generate();
  const auto tmp = file.string() + ".tmp";
  {
    const mode_t old = ::umask(077);
    std::ofstream out(tmp, std::ios::trunc);
    ::umask(old);
    if (!out)
      throw std::runtime_error("cannot write Curve key file " + tmp +
                               ": check the directory exists and is writable");
    out << "# murmur node CurveZMQ key pair (registration binds the public key to the chain "
           "address)\n"
        << "public-key = \"" << pair.public_z85 << "\"\n"
        << "secret-key = \"" << pair.secret_z85 << "\"\n";
    if (!out.flush()) throw std::runtime_error("cannot write Curve key file " + tmp);
  }
  ::chmod(tmp.c_str(), 0600);
  std::filesystem::rename(tmp, file);
  return pair;
}

}  // namespace murmur::client
