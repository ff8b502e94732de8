#include "murmur/chain/arena_store.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "murmur/chain/keccak.hpp"

namespace murmur::chain {

namespace fs = std::filesystem;

namespace {

Hash32 file_hash(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  Bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error("error reading " + file.string());
  return keccak256(data);
}

}  // namespace

Hash32 adapter_directory_hash(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw std::runtime_error(dir.string() +
                             " is not a directory: pass the adapter's directory "
                             "(adapter_config.json + adapter_model.safetensors)");
  std::vector<std::pair<std::string, fs::path>> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    const fs::file_status st = it->symlink_status();
    if (fs::is_directory(st)) continue;
    if (!fs::is_regular_file(st))
      throw std::runtime_error(it->path().string() +
                               " is not a regular file: an adapter directory holds plain files "
                               "only (copy the target of a link instead)");
    files.emplace_back(fs::relative(it->path(), dir).generic_string(), it->path());
  }
  if (files.empty()) throw std::runtime_error(dir.string() + " holds no file");
  std::sort(files.begin(), files.end());
  const std::string domain = "murmur.adapter.v1";
  Bytes buf(domain.begin(), domain.end());
  for (const auto& [rel, path] : files) {
    append(buf, keccak256(rel));
    append(buf, file_hash(path));
  }
  return keccak256(buf);
}

PublishedAdapter publish_adapter(const fs::path& dir, const fs::path& store) {
  PublishedAdapter out;
  out.hash = adapter_directory_hash(dir);
  fs::create_directories(store);
  const std::string name = to_hex(out.hash, false);
  out.path = fs::absolute(store / name);
  out.uri = "file://" + out.path.string();
  if (fs::exists(out.path)) {
    if (adapter_directory_hash(out.path) != out.hash)
      throw std::runtime_error(out.path.string() +
                               " exists in the store with other contents: "
                               "remove it (the store names adapters by their hash)");
    out.already_there = true;
    return out;
  }
  const fs::path tmp = store / (".tmp-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::copy(dir, tmp, fs::copy_options::recursive);
  if (adapter_directory_hash(tmp) != out.hash) {
    fs::remove_all(tmp);
    throw std::runtime_error(dir.string() + " changed while it was being published: try again");
  }
  std::error_code ec;
  fs::rename(tmp, out.path, ec);
  if (ec) {
    fs::remove_all(tmp);
    if (!fs::exists(out.path))
      throw std::runtime_error("cannot move the adapter into " + out.path.string() + ": " +
                               ec.message());
    out.already_there = true;  // another publisher won the race with the same name
  }
  return out;
}

fs::path adapter_path_from_uri(const std::string& uri) {
  const std::string scheme = "file://";
  if (uri.rfind(scheme, 0) != 0)
    throw std::runtime_error("adapter URI " + uri +
                             " is not a file:// URI (only directory stores are read here)");
  return fs::path(uri.substr(scheme.size()));
}

}  // namespace murmur::chain
