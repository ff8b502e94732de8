// Acceptance: chain/'s signer equals ethers v6 byte for byte. The test builds random inputs
// (fixed seed, printed), has tests/chain/js/ethers_reference.js compute ethers' answers in one
// Node process, and compares: signed EIP-1559 raw transactions and hashes, EIP-712 domain
// separators, digests and signatures (Vote and Update), ABI encodings of the contract's
// argument shapes, RLP of nested lists, and the role hash.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/consensus.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/chain/rlp.hpp"
#include "murmur/chain/transaction.hpp"
#include "murmur/testing/requirements.hpp"

// Inside the namespace: gtest pulls in <cxxabi.h>, whose global `namespace abi` would make
// a bare abi:: ambiguous under a using-directive.
namespace murmur::chain {
using nlohmann::json;

namespace {

constexpr std::uint64_t kSeed = 0x6d75726d7572ULL;  // "murmur"
const std::filesystem::path kRepo = MURMUR_SOURCE_DIR;

class Gen {
 public:
  explicit Gen(std::uint64_t seed) : rng_(seed) {}
  std::uint64_t below(std::uint64_t n) { return rng_() % n; }
  bool chance(int one_in) { return below(static_cast<std::uint64_t>(one_in)) == 0; }
  Bytes bytes(std::size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
    return b;
  }
  Hash32 hash() {
    Hash32 h;
    for (auto& x : h) x = static_cast<std::uint8_t>(rng_());
    return h;
  }
  Address address() {
    Address a;
    for (auto& x : a.bytes) x = static_cast<std::uint8_t>(rng_());
    return a;
  }
  PrivateKey key() {
    while (true) {
      try {
        return PrivateKey(hash());
      } catch (const std::invalid_argument&) {
      }
    }
  }
  /// Integers of every size class, with the edges RLP and ABI care about.
  U256 uint(unsigned max_bits) {
    switch (below(6)) {
      case 0: return U256(0);
      case 1: return U256(below(0x80));  // single-byte RLP
      case 2: return U256(0x80 + below(0x80));
      case 3: return max_bits >= 64 ? U256(rng_()) : U256(below(1ULL << max_bits));
      default: {
        unsigned bits = 1 + static_cast<unsigned>(below(max_bits));
        U256 v = U256::from_be_bytes(bytes(32));
        return v >> (256 - bits);
      }
    }
  }

 private:
  std::mt19937_64 rng_;
};

json value_json(const abi::Type& t, const abi::Value& v) {
  using K = abi::Type::Kind;
  switch (t.kind) {
    case K::Uint: return v.word().to_dec();
    case K::Int: return to_signed_dec(v.word());
    case K::Address: return v.address().to_checksum();
    case K::Bool: return v.boolean();
    case K::FixedBytes:
    case K::Bytes: return to_hex(v.bytes());
    case K::String: return v.str();
    default: {
      json arr = json::array();
      for (std::size_t i = 0; i < v.list().size(); ++i)
        arr.push_back(
            value_json(t.kind == K::Tuple ? t.components[i] : t.components[0], v.list()[i]));
      return arr;
    }
  }
}

json rlp_json(const rlp::Item& it) {
  if (!it.is_list()) return to_hex(it.bytes());
  json arr = json::array();
  for (const auto& sub : it.list()) arr.push_back(rlp_json(sub));
  return arr;
}

rlp::Item random_rlp(Gen& g, int depth) {
  if (depth > 3 || g.chance(2)) {
    std::size_t n = g.chance(3) ? 1 : g.below(g.chance(4) ? 300 : 60);
    return rlp::Item{g.bytes(n)};
  }
  std::vector<rlp::Item> items;
  std::size_t n = g.below(g.chance(5) ? 30 : 5);
  for (std::size_t i = 0; i < n; ++i) items.push_back(random_rlp(g, depth + 1));
  return rlp::Item{std::move(items)};
}

// Runs the ethers script once over all cases; returns its results, or skips.
json run_ethers(const json& cases, std::string& error) {
  auto modules = kRepo / "contracts/node_modules";
  auto dir =
      std::filesystem::temp_directory_path() / ("murmur-ethers-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto in = dir / "cases.json";
  std::ofstream(in) << json{{"cases", cases}}.dump();
  std::string cmd = "NODE_PATH='" + modules.string() + "' node '" +
                    (kRepo / "tests/chain/js/ethers_reference.js").string() + "' < '" +
                    in.string() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    error = "popen failed";
    return {};
  }
  std::string out;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  if (status != 0) {
    error = "node exited with status " + std::to_string(status) + ": " + out.substr(0, 2000);
    return {};
  }
  json r = json::parse(out, nullptr, false);
  if (r.is_discarded()) {
    error = "node printed no JSON: " + out.substr(0, 2000);
    return {};
  }
  std::cout << "[ethers " << r.value("ethers", "?") << "] inputs kept in " << in << " (seed "
            << kSeed << ")\n";
  return r.at("results");
}

}  // namespace

TEST(EthersCrossCheck, SignerAbiRlpAndRolesMatchEthersByteForByte) {
  MURMUR_REQUIRE_OR_SKIP(std::filesystem::exists(kRepo / "contracts/node_modules/ethers"),
                         "contracts/node_modules/ethers is missing: run `npm ci` in contracts/ "
                         "(scripts/setup.sh does)");
  std::cout << "seed " << kSeed << "\n";
  Gen g(kSeed);
  json cases = json::array();
  // What the C++ side computes for each case, compared after ethers answers.
  std::vector<std::function<void(const json&)>> checks;

  // --- EIP-1559 transactions
  for (int i = 0; i < 60; ++i) {
    PrivateKey key = g.key();
    Eip1559Transaction tx;
    const std::uint64_t chains[] = {1, 31337, 84532, 8453, 1 + g.below(1ULL << 40)};
    tx.chain_id = chains[g.below(5)];
    tx.nonce = g.uint(32).to_u64();
    tx.max_priority_fee_per_gas = g.uint(120);
    tx.max_fee_per_gas = tx.max_priority_fee_per_gas + g.uint(120);
    tx.gas_limit = g.uint(40).to_u64();
    if (!g.chance(8)) tx.to = g.address();
    tx.value = g.uint(256);
    std::size_t len = g.chance(4) ? g.below(2) : g.below(g.chance(3) ? 2000 : 200);
    tx.data = g.bytes(len);
    if (g.chance(4))
      for (std::size_t e = 0, ne = 1 + g.below(3); e < ne; ++e) {
        AccessListEntry entry{g.address(), {}};
        for (std::size_t k = 0, nk = g.below(3); k < nk; ++k)
          entry.storage_keys.push_back(g.hash());
        tx.access_list.push_back(entry);
      }
    json al = json::array();
    for (const auto& e : tx.access_list) {
      json keys = json::array();
      for (const auto& k : e.storage_keys) keys.push_back(to_hex(k));
      al.push_back({{"address", e.address.to_checksum()}, {"storageKeys", keys}});
    }
    cases.push_back({{"kind", "tx"},
                     {"key", to_hex(key.secret())},
                     {"chainId", std::to_string(tx.chain_id)},
                     {"nonce", std::to_string(tx.nonce)},
                     {"maxPriorityFeePerGas", tx.max_priority_fee_per_gas.to_dec()},
                     {"maxFeePerGas", tx.max_fee_per_gas.to_dec()},
                     {"gasLimit", std::to_string(tx.gas_limit)},
                     {"to", tx.to ? json(tx.to->to_checksum()) : json()},
                     {"value", tx.value.to_dec()},
                     {"data", to_hex(tx.data)},
                     {"accessList", al}});
    SignedTransaction st = sign_transaction(tx, key);
    checks.push_back([st](const json& r) {
      EXPECT_EQ(r.at("unsignedHash"), to_hex(st.tx.signing_hash()));
      EXPECT_EQ(r.at("serialized"), to_hex(st.raw));
      EXPECT_EQ(r.at("hash"), to_hex(st.hash));
      EXPECT_EQ(r.at("from"), st.from.to_checksum());
    });
  }

  // --- EIP-712 Vote and Update
  for (int i = 0; i < 60; ++i) {
    PrivateKey key = g.key();
    Eip712Domain domain;
    domain.chain_id = g.chance(2) ? 31337 : 1 + g.below(1ULL << 40);
    domain.verifying_contract = g.address();
    json jdomain = {{"name", domain.name},
                    {"version", domain.version},
                    {"chainId", std::to_string(domain.chain_id)},
                    {"verifyingContract", domain.verifying_contract.to_checksum()}};
    Hash32 digest;
    Bytes sig;
    if (i % 2 == 0) {
      VoteMessage v{g.uint(256), g.uint(32), g.hash(),
                    static_cast<std::int8_t>(g.chance(2) ? 1 : -1)};
      digest = vote_digest(domain, v);
      sig = sign_vote(key, domain, v);
      cases.push_back({{"kind", "typed"},
                       {"key", to_hex(key.secret())},
                       {"domain", jdomain},
                       {"primaryType", "Vote"},
                       {"message",
                        {{"taskId", v.task_id.to_dec()},
                         {"round", v.round.to_dec()},
                         {"modelHash", to_hex(v.model_hash)},
                         {"score", static_cast<int>(v.score)}}}});
    } else {
      UpdateMessage u{g.uint(64), g.uint(32), g.hash(), g.uint(64)};
      digest = update_digest(domain, u);
      sig = sign_update(key, domain, u);
      cases.push_back({{"kind", "typed"},
                       {"key", to_hex(key.secret())},
                       {"domain", jdomain},
                       {"primaryType", "Update"},
                       {"message",
                        {{"taskId", u.task_id.to_dec()},
                         {"round", u.round.to_dec()},
                         {"updateHash", to_hex(u.update_hash)},
                         {"numSamples", u.num_samples.to_dec()}}}});
    }
    Hash32 sep = domain.separator();
    Address signer = key.address();
    checks.push_back([sep, digest, sig, signer](const json& r) {
      EXPECT_EQ(r.at("domainSeparator"), to_hex(sep));
      EXPECT_EQ(r.at("digest"), to_hex(digest));
      EXPECT_EQ(r.at("signature"), to_hex(sig));
      EXPECT_EQ(r.at("recovered"), signer.to_checksum());
    });
  }

  // --- ABI: finalizeRound's and createTask's argument shapes, plus mixed static/dynamic types
  const std::vector<std::string> finalize_types = {"uint256", "uint256", "bytes32",
                                                   "(address,int8,bytes)[]", "address[]"};
  const std::vector<std::string> mixed_types = {
      "int8", "uint104", "string", "bool", "bytes", "int256[]", "bytes32[2]", "(uint32,string)"};
  for (int i = 0; i < 40; ++i) {
    std::vector<abi::Type> types;
    std::vector<abi::Value> values;
    if (i % 2 == 0) {
      for (const auto& t : finalize_types) types.push_back(abi::Type::parse(t));
      std::vector<abi::Value> votes, flagged;
      for (std::size_t k = 0, n = g.below(6); k < n; ++k)
        votes.push_back(std::vector<abi::Value>{g.address(), abi::Value::int_(g.chance(2) ? 1 : -1),
                                                g.bytes(g.chance(5) ? g.below(100) : 65)});
      for (std::size_t k = 0, n = g.below(4); k < n; ++k) flagged.push_back(g.address());
      values = {g.uint(256), g.uint(24), g.hash(), votes, flagged};
    } else {
      for (const auto& t : mixed_types) types.push_back(abi::Type::parse(t));
      std::vector<abi::Value> ints;
      for (std::size_t k = 0, n = g.below(4); k < n; ++k) {
        U256 w = U256::from_be_bytes(g.bytes(32));
        ints.push_back(w);  // any word is a valid int256
      }
      std::string text;
      for (std::size_t k = 0, n = g.below(70); k < n; ++k)
        text.push_back(static_cast<char>('a' + g.below(26)));
      values = {abi::Value::int_(static_cast<std::int64_t>(g.below(256)) - 128),
                g.uint(104),
                text,
                g.chance(2),
                g.bytes(g.below(100)),
                ints,
                std::vector<abi::Value>{g.hash(), g.hash()},
                std::vector<abi::Value>{g.uint(32), std::string("murmur")}};
    }
    json jt = json::array(), jv = json::array();
    for (std::size_t k = 0; k < types.size(); ++k) {
      jt.push_back(types[k].canonical());
      jv.push_back(value_json(types[k], values[k]));
    }
    cases.push_back({{"kind", "abi"}, {"types", jt}, {"values", jv}});
    Bytes enc = abi::encode(types, values);
    checks.push_back([enc, types](const json& r) {
      EXPECT_EQ(r.at("encoded"), to_hex(enc));
      // And our decoder reads ethers' bytes back to the same encoding.
      Bytes theirs = from_hex(r.at("encoded").get<std::string>());
      EXPECT_EQ(abi::encode(types, abi::decode(types, theirs)), theirs);
    });
  }

  // --- RLP of random nested lists
  for (int i = 0; i < 40; ++i) {
    rlp::Item it = random_rlp(g, 0);
    cases.push_back({{"kind", "rlp"}, {"value", rlp_json(it)}});
    Bytes enc = rlp::encode(it);
    checks.push_back([enc](const json& r) { EXPECT_EQ(r.at("encoded"), to_hex(enc)); });
  }

  // --- Role hash: keccak256(seed ‖ node) % 10000
  for (int i = 0; i < 60; ++i) {
    Hash32 seed = g.hash();
    Address node = g.address();
    cases.push_back({{"kind", "role"}, {"seed", to_hex(seed)}, {"address", node.to_checksum()}});
    checks.push_back([seed, node](const json& r) {
      std::uint64_t m = r.at("hashMod").get<std::uint64_t>();
      EXPECT_FALSE(is_proposer(seed, node, m)) << "hash % 10000 = " << m;
      EXPECT_TRUE(is_proposer(seed, node, m + 1)) << "hash % 10000 = " << m;
    });
  }

  std::string error;
  json results = run_ethers(cases, error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(results.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i) + " (" + cases[i]["kind"].get<std::string>() +
                 "), seed " + std::to_string(kSeed) + ": " + cases[i].dump().substr(0, 400));
    ASSERT_FALSE(results[i].contains("error")) << results[i]["error"];
    checks[i](results[i]);
  }
  std::cout << "compared " << cases.size()
            << " cases with ethers: 60 transactions, 60 EIP-712 signatures, 40 ABI encodings, 40 "
               "RLP trees, 60 role hashes\n";
}

}  // namespace murmur::chain
