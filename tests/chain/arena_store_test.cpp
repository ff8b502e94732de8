// The adapter store of `murmur arena submit` (chain/src/arena_store.cpp): the directory hash names
// contents only, the documented formula on a known answer, refusals, publishing by hash
// (idempotent, never over other contents).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "murmur/chain/arena_store.hpp"
#include "murmur/chain/keccak.hpp"

using namespace murmur::chain;
namespace fs = std::filesystem;

namespace {

class ArenaStore : public ::testing::Test {
 protected:
  void SetUp() override {
    // Appends only: GCC 12's -Wrestrict misfires on "literal" + std::string at -O3.
    std::string name("murmur-arena-store-");
    name.append(std::to_string(::getpid())).append("-");
    name.append(::testing::UnitTest::GetInstance()->current_test_info()->name());
    dir_ = fs::temp_directory_path() / name;
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  fs::path adapter(const std::string& name, const std::string& weights) {
    const fs::path d = dir_ / name;
    fs::create_directories(d / "sub");
    std::ofstream(d / "adapter_config.json") << "{\"r\": 8}";
    std::ofstream(d / "sub" / "adapter_model.safetensors") << weights;
    return d;
  }
  fs::path dir_;
};

TEST_F(ArenaStore, HashIsTheDocumentedFormula) {
  const fs::path d = dir_ / "one";
  fs::create_directories(d / "b");
  std::ofstream(d / "a") << "x";
  std::ofstream(d / "b" / "c") << "yz";
  // keccak256("murmur.adapter.v1" ‖ keccak256("a") ‖ keccak256("x") ‖ keccak256("b/c") ‖
  // keccak256("yz")): files in byte order of their relative '/'-separated paths.
  const std::string domain = "murmur.adapter.v1";
  Bytes buf(domain.begin(), domain.end());
  for (const char* s : {"a", "x", "b/c", "yz"}) append(buf, keccak256(std::string_view(s)));
  EXPECT_EQ(adapter_directory_hash(d), keccak256(buf));
}

TEST_F(ArenaStore, HashNamesContentsNotLocation) {
  const fs::path a = adapter("a", "weights 1");
  const Hash32 h = adapter_directory_hash(a);
  fs::copy(a, dir_ / "copy", fs::copy_options::recursive);
  EXPECT_EQ(adapter_directory_hash(dir_ / "copy"), h);
  EXPECT_NE(adapter_directory_hash(adapter("b", "weights 2")), h);  // one byte differs
  fs::rename(dir_ / "copy" / "adapter_config.json", dir_ / "copy" / "config.json");
  EXPECT_NE(adapter_directory_hash(dir_ / "copy"), h);  // a file renamed
}

TEST_F(ArenaStore, RefusesWhatIsNotAnAdapterDirectory) {
  EXPECT_THROW(adapter_directory_hash(dir_ / "missing"), std::runtime_error);
  fs::create_directories(dir_ / "empty");
  EXPECT_THROW(adapter_directory_hash(dir_ / "empty"), std::runtime_error);
  const fs::path a = adapter("a", "w");
  EXPECT_THROW(adapter_directory_hash(a / "adapter_config.json"), std::runtime_error);
  fs::create_symlink(a / "adapter_config.json", a / "link.json");
  EXPECT_THROW(adapter_directory_hash(a), std::runtime_error);
  EXPECT_THROW(adapter_path_from_uri("http://127.0.0.1/x"), std::runtime_error);
  EXPECT_EQ(adapter_path_from_uri("file:///srv/store/ab"), fs::path("/srv/store/ab"));
}

TEST_F(ArenaStore, PublishesUnderTheHashOnceAndNeverOverOtherContents) {
  const fs::path a = adapter("a", "weights");
  const fs::path store = dir_ / "store";
  const PublishedAdapter p = publish_adapter(a, store);
  EXPECT_EQ(p.hash, adapter_directory_hash(a));
  EXPECT_EQ(p.path, fs::absolute(store / to_hex(p.hash, false)));
  EXPECT_EQ(p.uri, std::string("file://").append(p.path.string()));
  EXPECT_EQ(adapter_directory_hash(adapter_path_from_uri(p.uri)), p.hash);
  EXPECT_FALSE(p.already_there);
  const PublishedAdapter again = publish_adapter(a, store);
  EXPECT_TRUE(again.already_there);
  EXPECT_EQ(again.path, p.path);
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(store)) ++entries;
  EXPECT_EQ(entries, 1u);  // no temporary directory left behind
  // Someone altered the stored copy: publishing the original again is refused, not overwritten.
  std::ofstream(p.path / "adapter_config.json") << "{\"r\": 9}";
  EXPECT_THROW(publish_adapter(a, store), std::runtime_error);
}

}  // namespace
